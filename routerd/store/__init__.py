"""Durable state of routerd behind one contract, ``Store``: SQLite (default) or PostgreSQL."""

from routerd.store.base import Store, open_store

__all__ = ["Store", "open_store"]
