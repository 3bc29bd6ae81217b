# Tiny Dancer: `make test` runs every check CI runs.
VENV ?= .venv
PY := $(VENV)/bin/python
PROTO_OUT := routerd/gen

.PHONY: proto check-proto lint test bench

# Generated stubs are never edited by hand; `make proto` rewrites them from protos/.
# The -I mapping makes the generated imports absolute inside routerd.gen.
proto:
	$(PY) -m grpc_tools.protoc -I$(PROTO_OUT)=protos --python_out=. --pyi_out=. --grpc_python_out=. \
		protos/tinydancer/v1/*.proto
	touch $(PROTO_OUT)/tinydancer/__init__.py $(PROTO_OUT)/tinydancer/v1/__init__.py

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q

bench:
	$(PY) bench/bench_routing.py
