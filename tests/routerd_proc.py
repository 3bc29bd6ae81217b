"""Moved to tests/harness/routerd.py; this re-export remains only until bench/ imports the harness."""

from tests.harness.routerd import RouterdProcess

__all__ = ["RouterdProcess"]
