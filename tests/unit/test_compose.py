"""compose.yaml, checked without Docker: it parses, its services and health checks exist, routerd
uses a PostgreSQL store, ports and names agree across services and with `make up`'s defaults, and the
image is built with the same commands as `make up` (devstack/stack.py DEPS_COMMAND and MAKE_TARGETS)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from devstack import stack

ROOT = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _defaults(value: Any) -> Any:
    """Compose's ``${NAME:-default}`` interpolation, with every variable unset."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: m.group(2), value)
    if isinstance(value, list):
        return [_defaults(v) for v in value]
    if isinstance(value, dict):
        return {k: _defaults(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return dict(_defaults(data))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _flag(argv: list[str], name: str) -> str:
    assert name in argv, (name, argv)
    return argv[argv.index(name) + 1]


def _ports(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, first host port, container port) of each published port (a host range: its first)."""
    out = []
    for spec in service["ports"]:
        ip, host, container = str(spec).split(":")
        out.append((ip, int(host.split("-")[0]), int(container)))
    return out


def _dockerfile(services: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    builds = {repr(s["build"]) for s in services.values()}
    assert len(builds) == 1, "every service runs the one image"
    text = next(iter(services.values()))["build"]["dockerfile_inline"]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def _make_rules() -> dict[str, tuple[list[str], list[str]]]:
    """target -> (prerequisites, recipe lines) of the Makefile."""
    rules: dict[str, tuple[list[str], list[str]]] = {}
    current = None
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("\t"):
            if current:
                rules[current][1].append(line.strip())
            continue
        m = re.match(r"^([\w.$()/-]+):(?!=)\s*(.*)$", line)
        current = m.group(1) if m else None
        if m:
            rules[m.group(1)] = (m.group(2).split(), [])
    return rules


def _make_targets_run(commands: list[str]) -> list[str]:
    """The targets named by `make ...`/`$(MAKE) ...` in shell command lines (options dropped)."""
    targets = []
    for command in commands:
        for part in command.split("&&"):
            words = shlex.split(part)
            if words and words[0] in ("make", "$(MAKE)"):
                targets += [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    return targets


def test_services_and_health_checks(services: dict[str, dict[str, Any]]) -> None:
    assert {"postgres", "routerd", "install"} <= set(services)
    pg_check = services["postgres"]["healthcheck"]["test"]
    assert pg_check[0] == "CMD" and pg_check[1] == "pg_isready"
    rd_check = services["routerd"]["healthcheck"]["test"]
    assert rd_check[:5] == ["CMD", "/src/.venv/bin/python", "-m", "devstack", "health"]
    # the health subcommand exists and takes a target
    args = stack.build_parser().parse_args(rd_check[4:])
    assert args.cmd == "health" and args.target == rd_check[5]


def test_install_runs_once_both_are_healthy(services: dict[str, dict[str, Any]]) -> None:
    install = services["install"]
    assert install["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                     "routerd": {"condition": "service_healthy"}}
    assert install["restart"] == "no"
    assert services["routerd"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    argv = install["command"]
    assert argv[1:4] == ["-m", "devstack", "install"]
    args = stack.build_parser().parse_args(argv[3:])
    assert args.cmd == "install"


def test_routerd_uses_a_postgresql_store_on_the_postgres_service(services: dict[str, dict[str, Any]]) -> None:
    argv = services["routerd"]["command"]
    assert argv[:2] == ["/src/.venv/bin/routerd", "serve"]
    store = urlsplit(_flag(argv, "--store"))
    assert store.scheme == "postgresql"
    assert store.hostname == "postgres"
    pg_container_port = _ports(services["postgres"])[0][2]
    assert store.port == pg_container_port == 5432
    assert store.password == services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    # its own database, created when the cluster is initialised
    dockerfile = _dockerfile(services)
    assert ("RUN", f"echo 'CREATE DATABASE {store.path.lstrip('/')};' > "
                   "/docker-entrypoint-initdb.d/10-routerd.sql") in dockerfile


def test_ports_and_names_agree(services: dict[str, dict[str, Any]]) -> None:
    pg, rd, install = services["postgres"], services["routerd"], services["install"]
    [(pg_ip, pg_host_port, pg_port)] = _ports(pg)
    [(rd_ip, rd_host_port, rd_port)] = _ports(rd)
    # published on loopback, on the same default ports as `make up`
    assert pg_ip == rd_ip == "127.0.0.1"
    assert pg_host_port == stack.DEFAULT_PG_PORT and rd_host_port == stack.DEFAULT_ROUTERD_PORT
    # routerd listens where it is published, health-checked and targeted
    listen = _flag(rd["command"], "--listen")
    assert listen == f"0.0.0.0:{rd_port}"
    assert rd["healthcheck"]["test"][-1] == f"127.0.0.1:{rd_port}"
    assert _flag(install["command"], "--target") == f"dns:///routerd:{rd_port}"  # every replica
    # the install goes into the database the image creates, with the same credentials
    dsn = urlsplit(_flag(install["command"], "--dsn"))
    assert (dsn.hostname, dsn.port) == ("postgres", pg_port)
    assert dsn.path == f"/{pg['environment']['POSTGRES_DB']}" == f"/{stack.DATABASE}"
    assert dsn.password == pg["environment"]["POSTGRES_PASSWORD"]
    check = pg["healthcheck"]["test"]
    assert _flag(check, "-p") == str(pg_port) and _flag(check, "-d") == stack.DATABASE


def test_postgres_imports_from_the_image_virtualenv(services: dict[str, dict[str, Any]]) -> None:
    argv = services["postgres"]["command"]
    settings = dict(a.split("=", 1) for a in argv[2::2])
    assert argv[0] == "postgres" and argv[1::2] == ["-c"] * len(settings)
    workdir = next(arg for op, arg in _dockerfile(services) if op == "WORKDIR")
    venv = re.search(r"^VENV \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    python = re.search(r"^PYTHON \?= /usr/bin/(python3\.\d+)$", (ROOT / "Makefile").read_text(), re.M)
    assert venv and python
    assert settings["multicorn.python_path"] == f"{workdir}/{venv.group(1)}/lib/{python.group(1)}/site-packages"
    for name in ("routerd", "install"):
        assert services[name]["command"][0].startswith(f"{workdir}/{venv.group(1)}/bin/")


def test_image_is_built_with_the_commands_of_make_up(services: dict[str, dict[str, Any]]) -> None:
    steps = _dockerfile(services)
    runs = [arg for op, arg in steps if op == "RUN"]
    # the system packages: the one script .ci/run and `make deps` use
    assert runs[0] == stack.DEPS_COMMAND
    # then the make targets `make up` depends on (after `make clean` of output copied from the host)
    targets = _make_targets_run(runs)
    assert [t for t in targets if t != "clean"] == list(stack.MAKE_TARGETS)
    assert targets.index("clean") < targets.index(stack.MAKE_TARGETS[0])
    # every file those commands need is in the image
    copied = {src for op, arg in steps if op == "COPY" for src in arg.split()[:-1]}
    assert {".ci", "Makefile", "pyproject.toml", "README.md", "routerd", "fdw", "devstack", "sql"} <= copied
    # `python -m devstack` (the routerd health check, the install service) runs from the WORKDIR: it is there
    workdir = next(arg for op, arg in steps if op == "WORKDIR")
    assert ("COPY", f"devstack {workdir}/devstack") in steps


def test_makefile_runs_the_same_commands() -> None:
    rules = _make_rules()
    # The stack's bridge is skipped only with TINYDANCER_MULTICORN=multicorn2; by default it is built.
    makefile = (ROOT / "Makefile").read_text()
    assert "STACK_MULTICORN := $(if $(filter multicorn2,$(TINYDANCER_MULTICORN)),,bridge)" in makefile
    rules = {k: ([("bridge" if p == "$(STACK_MULTICORN)" else p) for p in pre],
                 [line.replace("$(STACK_MULTICORN)", "bridge") for line in recipe])
             for k, (pre, recipe) in rules.items()}
    up_prereqs, up_recipe = rules["up"]
    assert up_prereqs == list(stack.MAKE_TARGETS)
    assert any("-m devstack up" in line for line in up_recipe)
    assert rules["deps"][1] == [stack.DEPS_COMMAND]
    demo_prereqs, demo_recipe = rules["demo"]
    assert demo_prereqs == ["deps"]
    assert _make_targets_run(demo_recipe) == list(stack.MAKE_TARGETS)
    assert any("-m devstack demo" in line for line in demo_recipe)
    assert any("-m devstack down" in line for line in rules["down"][1])
    ci = (ROOT / ".ci" / "run").read_text()
    assert stack.DEPS_COMMAND in ci and "apt-get" not in ci


def test_routerd_scales(services: dict[str, dict[str, Any]]) -> None:
    """`docker compose up --scale routerd=3`: no fixed container name or single host port, no shared
    data directory (each replica's lock would refuse the next), a host port range for the replicas,
    and PostgreSQL targets the service name, balanced over what it resolves to."""
    rd = services["routerd"]
    assert "container_name" not in rd and "volumes" not in rd
    [spec] = rd["ports"]
    first, last = str(spec).split(":")[1].split("-")
    assert int(last) - int(first) >= 2
    from routerd.client import channel_target

    uri, options = channel_target(_flag(services["install"]["command"], "--target"))
    assert uri.startswith("dns:///") and "round_robin" in dict(options)["grpc.service_config"]
