"""routerd's configuration: defaults < TOML file < environment < command-line flags.

TOML keys are the field names below (``listen = "127.0.0.1:50051"``); environment variables are
``TINYDANCER_`` + the upper-cased name (``TINYDANCER_LISTEN``). The file is named by ``--config`` or
``TINYDANCER_CONFIG``.
"""

from __future__ import annotations

import math
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
    # The sentence embedder: "minilm" (all-MiniLM-L6-v2, int8 ONNX) or "hashing" (dependency-free).
    embedder: str = "minilm"
    embedder_max_seq_length: int = 256  # tokens; longer texts are truncated (the model's limit is 512)
    embedder_threads: int = 1  # onnxruntime intra-op threads per call
    embedder_cache_size: int = 65_536  # texts whose vectors are kept (LRU); 0 turns the cache off
    embed_max_texts: int = 1024  # the most texts one Router.Embed call may carry
    # Semantic routes: the similarity a request needs to match a route that has no threshold of its
    # own (FitRoutes fits one per route); at startup, re-embed stored routes written by another embedder.
    route_threshold: float = 0.5
    reembed_routes: bool = False
    # The learned quality model: retrain from the outcome log every retrain_interval_s seconds (0: never)
    # once retrain_min_outcomes new outcomes have arrived; a candidate is promoted only when it beats
    # the live model on the most recent outcomes.
    retrain_interval_s: float = 0.0
    retrain_min_outcomes: int = 200
    # Budgets: a reservation with no outcome after this many seconds stays charged at its estimate
    # and is reported as unreconciled.
    reservation_ttl_s: float = 3600.0
    # Replicas on one PostgreSQL store: besides LISTEN/NOTIFY (milliseconds), re-read agents, routes,
    # budgets and the live model every sync_interval_s seconds (the safety net; 0 turns it off).
    sync_interval_s: float = 2.0
    token: str = ""  # bearer token every call must carry (health checks excepted)
    token_file: str = ""  # a file whose first line is the token (not visible in ps, unlike --token)
    tls_cert: str = ""
    tls_key: str = ""
    workers: int = 16
    shutdown_grace_s: float = 10.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    # Limits (issue 7): the largest gRPC message routerd receives or sends, in bytes; the most
    # requests one BatchRoute may carry; the most requests x agents one batch may route (memory is
    # about 35 bytes a cell at its peak). A call over a limit is refused before any work.
    max_message_bytes: int = 64 * 1024 * 1024
    batch_max_requests: int = 100_000
    batch_max_cells: int = 5_000_000
    # Observability (issue 12): Prometheus metrics on their own HTTP port ("host:port"; "" = off), at
    # most max_agent_labels distinct agent label values (later agents are counted as "_other"), and
    # the log format: "text" (one human line per event) or "json" (one JSON object per line, with
    # the request id; then one line per RPC at INFO on the logger routerd.rpc).
    metrics_listen: str = ""
    # The dashboard (routerd.dashboard): a page and its JSON API on their own HTTP port ("host:port";
    # "" = off).
    http_listen: str = ""
    max_agent_labels: int = 200
    log_format: str = "text"
    # OpenTelemetry spans (routerd.tracing; the tracing extra): the OTLP/HTTP collector's base URL
    # ("http://127.0.0.1:4318"; spans go to <url>/v1/traces; "" = off, no export, no import) and the
    # service.name of the spans.
    otlp_endpoint: str = ""
    otlp_service_name: str = "routerd"

    def store_url(self) -> str:
        return self.store or f"sqlite://{Path(self.data_dir).resolve() / 'routerd.db'}"


_TYPES = {f.name: f.type for f in fields(Config)}
LOG_FORMATS = ("text", "json")


def parse_host_port(value: str, field: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as (host, port); port 0 picks a free one."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535 or any(c.isspace() for c in host):
        raise InvalidArgument(field, f"must be host:port (port 0..65535), got {value!r}")
    return host, int(port)


def _coerce(name: str, value: Any, source: str) -> Any:
    """The value as the field's type; strings (environment, flags) are parsed, TOML values must
    already have the right type. Numbers must be finite and not negative."""
    t = _TYPES[name]
    bad = InvalidArgument(name, f"invalid value {value!r} from {source}")
    if t in ("str", str):
        if not isinstance(value, str):
            raise bad
        return value
    if t in ("bool", bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.strip().lower() in ("1", "true", "yes", "on")
        raise bad
    if isinstance(value, bool):
        raise bad
    try:
        if t in ("int", int):
            if isinstance(value, float) or (isinstance(value, str) and not value.strip().lstrip("+").isdigit()):
                raise bad
            number: float = int(value)
        else:
            number = float(value)
    except (TypeError, ValueError):
        raise bad from None
    if not math.isfinite(number) or number < 0:
        raise InvalidArgument(name, f"must be a finite number >= 0, got {value!r} from {source}")
    return number


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
        unknown = sorted(set(flags) - set(_TYPES))
        if unknown:
            raise InvalidArgument("flags", f"unknown settings {unknown}; valid: {sorted(_TYPES)}")
        cfg = replace(cfg, **{k: _coerce(k, v, "flags") for k, v in flags.items() if v is not None})
    if cfg.workers < 1:
        raise InvalidArgument("workers", f"must be at least 1, got {cfg.workers}")
    if not 0.0 <= cfg.route_threshold <= 1.0:
        raise InvalidArgument("route_threshold", f"must be in [0, 1], got {cfg.route_threshold}")
    if not 2 <= cfg.embedder_max_seq_length <= 512:
        raise InvalidArgument("embedder_max_seq_length", f"must be in 2..512, got {cfg.embedder_max_seq_length}")
    for name in ("max_message_bytes", "batch_max_requests", "batch_max_cells", "embedder_threads",
                 "embed_max_texts", "retrain_min_outcomes"):
        if getattr(cfg, name) < 1:
            raise InvalidArgument(name, f"must be at least 1, got {getattr(cfg, name)}")
    if cfg.max_message_bytes > 2**31 - 1:  # grpc takes an int32
        raise InvalidArgument("max_message_bytes", f"must be at most {2**31 - 1}, got {cfg.max_message_bytes}")
    if cfg.metrics_listen:
        parse_host_port(cfg.metrics_listen, "metrics_listen")
    if cfg.http_listen:
        parse_host_port(cfg.http_listen, "http_listen")
    if cfg.log_format not in LOG_FORMATS:
        raise InvalidArgument("log_format", f"unknown format {cfg.log_format!r}; valid: {', '.join(LOG_FORMATS)}")
    if not (math.isfinite(cfg.sync_interval_s) and cfg.sync_interval_s >= 0):
        raise InvalidArgument("sync_interval_s", f"must be a finite number >= 0, got {cfg.sync_interval_s}")
    if not (math.isfinite(cfg.reservation_ttl_s) and cfg.reservation_ttl_s > 0):
        raise InvalidArgument("reservation_ttl_s", f"must be a finite number > 0, got {cfg.reservation_ttl_s}")
    if cfg.max_agent_labels < 1:
        raise InvalidArgument("max_agent_labels", f"must be at least 1, got {cfg.max_agent_labels}")
    if cfg.otlp_endpoint:
        from routerd.tracing import check_endpoint  # here: the config module does not import grpc

        check_endpoint(cfg.otlp_endpoint)
        if not cfg.otlp_service_name.strip():
            raise InvalidArgument("otlp_service_name", "must not be empty")
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        raise InvalidArgument("tls_cert", "tls_cert and tls_key must be given together")
    return cfg
