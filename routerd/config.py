"""routerd's configuration: defaults < TOML file < environment < command-line flags.

TOML keys are the field names below (``listen = "127.0.0.1:50051"``); environment variables are
``TINYDANCER_`` + the upper-cased name (``TINYDANCER_LISTEN``). The file is named by ``--config`` or
``TINYDANCER_CONFIG``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from routerd.errors import InvalidArgument


@dataclass(frozen=True)
class Config:
    listen: str = "127.0.0.1:50051"
    data_dir: str = ".tinydancer/routerd"
    store: str = ""  # default: sqlite file under data_dir
    embedder: str = "hashing"
    token: str = ""  # bearer token every call must carry (health checks excepted)
    tls_cert: str = ""
    tls_key: str = ""
    workers: int = 16
    shutdown_grace_s: float = 10.0
    decision_flush_s: float = 0.2
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0

    def store_url(self) -> str:
        return self.store or f"sqlite://{Path(self.data_dir).resolve() / 'routerd.db'}"


_TYPES = {f.name: f.type for f in fields(Config)}


def _coerce(name: str, value: Any, source: str) -> Any:
    t = _TYPES[name]
    try:
        if t in ("int", int):
            return int(value)
        if t in ("float", float):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise InvalidArgument(name, f"invalid value {value!r} from {source}") from None


def load_config(flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                config_file: str | None = None) -> Config:
    env = os.environ if env is None else env
    cfg = Config()
    path = config_file or env.get("TINYDANCER_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as e:
            raise InvalidArgument("config", f"cannot read {path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise InvalidArgument("config", f"{path} is not valid TOML: {e}") from None
        unknown = sorted(set(data) - set(_TYPES))
        if unknown:
            raise InvalidArgument("config", f"unknown keys {unknown} in {path}; valid: {sorted(_TYPES)}")
        cfg = replace(cfg, **{k: _coerce(k, v, path) for k, v in data.items()})
    from_env = {k: _coerce(k, env[f"TINYDANCER_{k.upper()}"], f"TINYDANCER_{k.upper()}")
                for k in _TYPES if f"TINYDANCER_{k.upper()}" in env}
    cfg = replace(cfg, **from_env)
    if flags:
        cfg = replace(cfg, **{k: _coerce(k, v, "flags") for k, v in flags.items() if v is not None})
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        raise InvalidArgument("tls_cert", "tls_cert and tls_key must be given together")
    return cfg
