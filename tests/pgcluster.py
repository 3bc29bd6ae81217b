"""Moved to tests/harness/cluster.py; this re-export remains only until bench/ imports the harness."""

from tests.harness.cluster import PG_BIN, PgCluster, free_port

__all__ = ["PG_BIN", "PgCluster", "free_port"]
