"""Multicorn foreign data wrappers over routerd. The server's wrapper class is ``fdw.TinyDancer``."""

from fdw.tables import TinyDancer

__all__ = ["TinyDancer"]
