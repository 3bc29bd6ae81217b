"""Configuration: defaults < TOML file < environment < flags, and every bad input is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from routerd.config import Config, load_config
from routerd.errors import InvalidArgument


def toml(tmp_path: Path, text: str) -> str:
    p = tmp_path / "routerd.toml"
    p.write_text(text)
    return str(p)


def test_defaults() -> None:
    cfg = load_config(env={})
    assert cfg == Config()
    assert cfg.listen == "127.0.0.1:50051" and cfg.workers == 16 and cfg.embedder == "minilm"


def test_precedence(tmp_path: Path) -> None:
    path = toml(tmp_path, 'listen = "0.0.0.0:1"\nworkers = 2\nembedder = "hashing-v2"\nbreaker_failures = 7\n')
    env = {"TINYDANCER_WORKERS": "3", "TINYDANCER_EMBEDDER": "hashing", "TINYDANCER_BREAKER_FAILURES": "6"}
    flags = {"workers": 4, "listen": None}  # None: flag not given
    file_only = load_config(env={}, config_file=path)
    assert (file_only.listen, file_only.workers, file_only.embedder, file_only.breaker_failures) == \
           ("0.0.0.0:1", 2, "hashing-v2", 7)
    assert file_only.data_dir == Config().data_dir  # unset keys keep their defaults
    with_env = load_config(env=env, config_file=path)
    assert (with_env.listen, with_env.workers, with_env.embedder, with_env.breaker_failures) == \
           ("0.0.0.0:1", 3, "hashing", 6)
    with_flags = load_config(flags=flags, env=env, config_file=path)
    assert (with_flags.listen, with_flags.workers, with_flags.embedder, with_flags.breaker_failures) == \
           ("0.0.0.0:1", 4, "hashing", 6)


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    path = toml(tmp_path, "workers = 9\n")
    assert load_config(env={"TINYDANCER_CONFIG": path}).workers == 9
    other = tmp_path / "other.toml"
    other.write_text("workers = 5\n")
    assert load_config(env={"TINYDANCER_CONFIG": path}, config_file=str(other)).workers == 5  # --config wins


def test_env_values_are_typed() -> None:
    cfg = load_config(env={"TINYDANCER_BREAKER_COOLDOWN_S": "2.5", "TINYDANCER_WORKERS": "8",
                           "TINYDANCER_TOKEN": "s3cret", "UNRELATED": "x"})
    assert cfg.breaker_cooldown_s == 2.5 and cfg.workers == 8 and cfg.token == "s3cret"


def test_unknown_toml_key(tmp_path: Path) -> None:
    path = toml(tmp_path, 'listen = "x:1"\nlisten_port = 5\n')
    with pytest.raises(InvalidArgument) as exc:
        load_config(env={}, config_file=path)
    assert exc.value.field == "config" and "listen_port" in exc.value.problem


def test_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as exc:
        load_config(env={}, config_file=toml(tmp_path, "workers = = 3"))
    assert exc.value.field == "config" and "TOML" in exc.value.problem
    with pytest.raises(InvalidArgument) as exc:
        load_config(env={}, config_file=str(tmp_path / "missing.toml"))
    assert exc.value.field == "config" and "missing.toml" in exc.value.problem


def test_bad_value_in_toml(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as exc:
        load_config(env={}, config_file=toml(tmp_path, 'workers = "many"\n'))
    assert exc.value.field == "workers"


@pytest.mark.parametrize(("var", "value", "field"), [
    ("TINYDANCER_WORKERS", "sixteen", "workers"),
    ("TINYDANCER_WORKERS", "1.5", "workers"),
    ("TINYDANCER_BREAKER_FAILURES", "", "breaker_failures"),
    ("TINYDANCER_SHUTDOWN_GRACE_S", "soon", "shutdown_grace_s"),
])
def test_bad_number_in_env(var: str, value: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        load_config(env={var: value})
    assert exc.value.field == field
    assert var in exc.value.problem and repr(value) in exc.value.problem


def test_bad_flag_value() -> None:
    with pytest.raises(InvalidArgument) as exc:
        load_config(flags={"workers": "lots"}, env={})
    assert exc.value.field == "workers" and "flags" in exc.value.problem


@pytest.mark.parametrize("given", [{"tls_cert": "c.pem"}, {"tls_key": "k.pem"}])
def test_tls_needs_cert_and_key(given: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument) as exc:
        load_config(flags=given, env={})
    assert exc.value.field == "tls_cert"
    env = {f"TINYDANCER_{k.upper()}": v for k, v in given.items()}
    with pytest.raises(InvalidArgument):
        load_config(env=env)
    cfg = load_config(flags={"tls_cert": "c.pem", "tls_key": "k.pem"}, env={})
    assert (cfg.tls_cert, cfg.tls_key) == ("c.pem", "k.pem")


def test_store_url(tmp_path: Path) -> None:
    cfg = load_config(flags={"data_dir": str(tmp_path / "d")}, env={})
    assert cfg.store_url() == f"sqlite://{tmp_path / 'd' / 'routerd.db'}"
    cfg = load_config(env={"TINYDANCER_STORE": "postgresql://u@h/db"})
    assert cfg.store_url() == "postgresql://u@h/db"


@pytest.mark.parametrize(("text", "field"), [
    ("workers = 1.5", "workers"),
    ("workers = true", "workers"),
    ("workers = 0", "workers"),
    ('listen = 5', "listen"),
    ("breaker_cooldown_s = -1.0", "breaker_cooldown_s"),
    ("breaker_cooldown_s = nan", "breaker_cooldown_s"),
    ("max_message_bytes = 0", "max_message_bytes"),
])
def test_toml_values_must_have_the_right_type_and_range(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        load_config(env={}, config_file=toml(tmp_path, text + "\n"))
    assert info.value.field == field


def test_unknown_flag_is_named() -> None:
    with pytest.raises(InvalidArgument) as info:
        load_config({"colour": "blue"}, env={})
    assert info.value.field == "flags" and "colour" in str(info.value)
