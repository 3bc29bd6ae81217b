"""Semantic routes: validation, nearest-utterance search, matching, classification and fitting.

Pure Python and numpy (faiss-cpu for the HNSW index of large route sets); no gRPC, no SQL.

- ``spec``: ``validate_route`` and the other input checks, with the limits.
- ``linear``: the math (similarities, top-k, softmax, calibration error, L-BFGS).
- ``index``: the ``Index`` protocol, ``ExactIndex`` and ``HnswIndex``.
- ``matcher``: ``RouteSet`` (match, classify), ``RateLimiter`` and the result types.
- ``calibration``: ``Calibration`` (JSON-able), the confidence model and the metrics.
- ``fitting``: ``fit_routes``.
"""

from routerd.semantic.calibration import CANDIDATES, Calibration, FitMetrics, RoutePrototype
from routerd.semantic.fitting import OBJECTIVES, FitResult, RouteFit, fit_routes
from routerd.semantic.index import EXACT_MAX_UTTERANCES, ExactIndex, HnswIndex, Index
from routerd.semantic.matcher import (
    BlockedRoute,
    CapabilityNeed,
    Category,
    Classification,
    MatchResult,
    RateLimiter,
    RouteMatch,
    RouteSet,
    route_fingerprint,
)
from routerd.semantic.spec import (
    CLASSIFY_TOP_K_MAX,
    TOP_K_MAX,
    UTTERANCES_MAX,
    check_embeddings,
    check_top_k,
    check_vectors,
    validate_route,
)

__all__ = [
    "CANDIDATES", "CLASSIFY_TOP_K_MAX", "EXACT_MAX_UTTERANCES", "OBJECTIVES", "TOP_K_MAX", "UTTERANCES_MAX",
    "BlockedRoute", "Calibration", "CapabilityNeed", "Category", "Classification", "ExactIndex", "FitMetrics",
    "FitResult", "HnswIndex", "Index", "MatchResult", "RateLimiter", "RouteFit", "RouteMatch", "RoutePrototype",
    "RouteSet", "check_embeddings", "check_top_k", "check_vectors", "fit_routes", "route_fingerprint",
    "validate_route",
]
