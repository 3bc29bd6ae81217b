"""The local development stack (``make up``/``down``/``status``/``demo``): a PostgreSQL 15 cluster with
the multicorn bridge and routerd, under one state directory. Not part of the runtime packages: run it
from the checkout's root as ``python -m devstack`` (devstack/stack.py says how)."""
