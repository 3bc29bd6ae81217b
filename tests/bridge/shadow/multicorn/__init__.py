"""Stands for another ``multicorn`` (a real Multicorn2) on the backend's path: the bridge must never
import it (tests/bridge/test_bootstrap.py). Importing it fails loudly."""

raise ImportError("tests/bridge/shadow/multicorn was imported instead of the bridge's multicorn")
