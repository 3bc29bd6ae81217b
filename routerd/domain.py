"""Plain data of routerd: agents, their observed metrics, outcomes and decisions.

These dataclasses are what the engine, the store and the servicers pass between them; none of them
knows about gRPC or SQL. Times are Unix seconds (float, UTC).
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

AGENT_TYPES: tuple[str, ...] = (
    "llm", "tool", "api", "human", "ensemble", "embedding", "vision", "audio", "multimodal", "custom",
)
OBJECTIVES: tuple[str, ...] = ("cost", "latency", "quality", "balanced", "quality_per_dollar")

# Circuit-breaker states (see routerd.engine.health).
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
BREAKER_STATES: tuple[str, ...] = (CLOSED, OPEN, HALF_OPEN)


@dataclass(frozen=True, slots=True)
class CostModel:
    """Prices in USD. A request's cost is the sum of every part that applies."""

    per_1k_input_tokens: float = 0.0
    per_1k_output_tokens: float = 0.0
    per_call: float = 0.0
    per_second: float = 0.0


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """What an operator declares about an agent (validated by ``routerd.engine.registry``)."""

    name: str
    agent_type: str
    capabilities: tuple[str, ...] = ()
    cost: CostModel = field(default_factory=CostModel)
    latency_prior_ms: float = 1000.0
    quality_prior: float = 0.5
    metadata: str = "{}"  # canonical JSON text of an object
    active: bool = True
    typical_output_tokens: int = 256  # used to price a request whose caller gives no estimate


@dataclass(slots=True)
class AgentStats:
    """What routerd has observed about an agent, from recorded outcomes.

    Counters are exact and updated by the store in the same transaction as the outcome they count.
    ``p95_latency_ms``/``p99_latency_ms`` summarise a recent window (None until there is data).
    """

    total_requests: int = 0
    successes: int = 0
    latency_sum_ms: float = 0.0
    quality_sum: float = 0.0
    quality_count: int = 0
    total_spend: float = 0.0
    p95_latency_ms: float | None = None
    p99_latency_ms: float | None = None
    breaker_state: str = CLOSED
    consecutive_failures: int = 0
    breaker_opened_at: float | None = None

    @property
    def failures(self) -> int:
        return self.total_requests - self.successes

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.total_requests if self.total_requests else None

    @property
    def avg_latency_ms(self) -> float | None:
        return self.latency_sum_ms / self.total_requests if self.total_requests else None

    @property
    def mean_quality(self) -> float | None:
        return self.quality_sum / self.quality_count if self.quality_count else None


@dataclass(slots=True)
class AgentRecord:
    spec: AgentSpec
    stats: AgentStats
    created_at: float
    updated_at: float

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class HealthUpdate:
    """The per-agent fields an outcome sets (not increments) besides the counters."""

    p95_latency_ms: float | None
    p99_latency_ms: float | None
    breaker_state: str
    consecutive_failures: int
    breaker_opened_at: float | None


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    outcome_id: str
    agent_name: str
    recorded_at: float
    latency_ms: float
    success: bool
    decision_id: str | None = None
    quality: float | None = None
    cost: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One line of the decision log. ``agent_name`` is None when nothing was feasible."""

    decision_id: str
    decided_at: float
    agent_name: str | None
    objective: str
    request_text: str
    estimated_cost: float | None
    estimated_latency_ms: float | None
    expected_quality: float | None
    confidence: float | None
    model_version: str
    route_name: str | None = None  # the semantic route the request matched
    request_embedding: bytes | None = None  # the caller's embedding, float32 little-endian, when it sent one
    request_id: str | None = None  # the call's x-request-id (routerd.observability), when it had one
    # The estimated cost on the agent of highest expected quality (analytics' counterfactual).
    reference_cost: float | None = None
    tags: str | None = None  # the request's tags, a JSON array (also one row each in decision_tags)
    cancelled_at: float | None = None  # set by CancelDecision


# -- budgets (routerd.engine.budgets) ----------------------------------------------------------------

BUDGET_WINDOWS: tuple[str, ...] = ("day", "week", "month", "total", "rolling")
BUDGET_MODES: tuple[str, ...] = ("hard", "soft")


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """A budget as declared. ``scope`` is "global", "agent:<name>" or "tag:<tag>"."""

    name: str
    amount: float
    window_kind: str
    window_seconds: float | None
    scope: str
    mode: str
    willingness_to_pay: float | None = None


@dataclass(frozen=True, slots=True)
class BudgetRecord:
    spec: BudgetSpec
    created_at: float
    updated_at: float

    @property
    def name(self) -> str:
        return self.spec.name


DAY = 86400.0


def window_bounds(kind: str, seconds: float | None, now: float) -> tuple[float, float | None]:
    """[start, end) of the window containing ``now``; end None for total and rolling (which ends now)."""
    if kind == "day":
        start = math.floor(now / DAY) * DAY
        return start, start + DAY
    if kind == "week":
        days = math.floor(now / DAY)
        monday = days - (days + 3) % 7  # 1970-01-01 was a Thursday
        return monday * DAY, (monday + 7) * DAY
    if kind == "month":
        t = datetime.fromtimestamp(now, UTC)
        start = calendar.timegm((t.year, t.month, 1, 0, 0, 0))
        year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
        return float(start), float(calendar.timegm((year, month, 1, 0, 0, 0)))
    if kind == "total":
        return 0.0, None
    assert kind == "rolling" and seconds is not None
    return now - seconds, None


NANO = 10**9  # budgets count whole nano-dollars, so sums are exact and decimal prices add up as written


def nano(usd: float) -> int:
    """``usd`` (as written: its shortest decimal form) in nano-dollars, rounded up: a charge never
    counts for less than it is."""
    return int((Decimal(repr(float(usd))) * NANO).to_integral_value(ROUND_CEILING))


def nano_down(usd: float) -> int:
    """``usd`` in nano-dollars, rounded down: an amount never counts for more than it is."""
    return int((Decimal(repr(float(usd))) * NANO).to_integral_value(ROUND_FLOOR))


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    """What one decision reserved against one budget (the row of budget_charges). ``window_start``
    is the calendar window it counts in (None: a rolling window); ``nano`` what it counts for now."""

    decision_id: str
    budget_name: str
    charged_at: float
    estimate: float
    actual: float | None = None
    state: str = "reserved"  # reserved | settled | cancelled
    settled_at: float | None = None
    window_start: float | None = None
    nano: int = 0


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """What a commit must verify for one hard budget: its charges in the window (``window_start``,
    or for a rolling window every charge since ``since``) stay within ``amount_nano``."""

    budget_name: str
    window_start: float | None
    since: float
    amount_nano: int


# -- the learned quality model (routerd.engine.learning) -------------------------------------------

MODEL_STATUSES: tuple[str, ...] = ("training", "live", "candidate", "rejected", "failed")


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One version of the quality model: what it was trained on, how it scored, whether it is live.
    ``weights`` (the model file's bytes) is None while training, after a failure, and in listings."""

    version: int
    created_at: float
    status: str
    source: str  # "dataset:<name>" or "outcomes"
    fingerprint: str  # of the training data
    embedder: str
    dim: int
    features: str  # routerd.model.features.FEATURES of the recipe it was trained on
    agents: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""  # why it was promoted, rejected or failed
    parent: int | None = None  # the version live when its training started
    finished_at: float | None = None
    promoted_at: float | None = None
    weights: bytes | None = None


@dataclass(frozen=True, slots=True)
class TrainingOutcome:
    """An outcome joined to the decision it reports on: what the model learns from."""

    decision_id: str
    request_text: str
    request_embedding: bytes | None
    agent_name: str
    quality: float  # the outcome's quality, else 1.0 for a success and 0.0 for a failure
    recorded_at: float


# -- semantic routes (routerd.semantic) ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RouteConditions:
    """When a route may match; an unset condition always holds. Minutes are UTC minutes after midnight;
    ``active_from_minute > active_until_minute`` wraps past midnight."""

    active_from_minute: int | None = None
    active_until_minute: int | None = None
    user_tiers: tuple[str, ...] = ()
    rate_limit_per_minute: int | None = None


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """What an operator declares about a semantic route (validated by ``routerd.semantic``).

    ``threshold`` None means the configured default; ``fitted`` says FitRoutes set it."""

    name: str
    utterances: tuple[str, ...]
    description: str = ""
    target_agent: str | None = None
    priority: int = 0
    threshold: float | None = None
    group: str | None = None
    conditions: RouteConditions = field(default_factory=RouteConditions)
    fitted: bool = False


@dataclass(frozen=True, slots=True)
class RouteRecord:
    """A stored route: its spec and one unit-length float32 vector per utterance ((m, dim), in the
    order of ``spec.utterances``), computed by the embedder named ``embedder``."""

    spec: RouteSpec
    vectors: Any  # np.ndarray (m, dim) float32; Any keeps this module free of numpy
    embedder: str
    created_at: float
    updated_at: float

    @property
    def name(self) -> str:
        return self.spec.name
