"""Expected quality per request and agent: the ``QualityModel`` protocol and its default.

The router asks a model for an (n_requests, n_agents) matrix; the learned model
(``routerd.engine.learning.LearnedQuality``) plugs in here without the router changing.
``ObservedQuality``, used while no model is live, learns nothing per request: every request gets
each agent's prior blended with its recorded outcomes (``table.observed_quality``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from routerd.engine.query import RouteQuery
from routerd.engine.table import AgentTable


class QualityModel(Protocol):
    version: str  # named in every decision it took part in
    needs_embeddings: bool  # whether ``predict`` needs the router's (n, dim) request embeddings
    calibrated: bool  # whether its quality is a calibrated P(adequate), then a decision's confidence

    def predict(self, table: AgentTable, queries: Sequence[RouteQuery], embeddings: np.ndarray | None) -> np.ndarray:
        """(n, len(table)) expected quality in [0, 1] for the n ``queries`` (``embeddings`` is (n, dim)
        when ``needs_embeddings``, else it may be None). The result may be a read-only view."""
        ...


class ObservedQuality:
    version = "observed-quality/1"
    needs_embeddings = False
    calibrated = False

    def predict(self, table: AgentTable, queries: Sequence[RouteQuery], embeddings: np.ndarray | None) -> np.ndarray:
        n = len(queries)
        if n == 1:
            return table.observed_quality[None, :]  # a view; broadcast_to costs ten times more
        return np.broadcast_to(table.observed_quality, (n, len(table)))
