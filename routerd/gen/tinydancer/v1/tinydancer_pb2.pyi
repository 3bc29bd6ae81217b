import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CostModel(_message.Message):
    __slots__ = ("per_1k_input_tokens", "per_1k_output_tokens", "per_call", "per_second")
    PER_1K_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PER_1K_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PER_CALL_FIELD_NUMBER: _ClassVar[int]
    PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    per_1k_input_tokens: float
    per_1k_output_tokens: float
    per_call: float
    per_second: float
    def __init__(self, per_1k_input_tokens: _Optional[float] = ..., per_1k_output_tokens: _Optional[float] = ..., per_call: _Optional[float] = ..., per_second: _Optional[float] = ...) -> None: ...

class AgentSpec(_message.Message):
    __slots__ = ("name", "agent_type", "capabilities", "cost", "latency_prior_ms", "quality_prior", "metadata_json", "active", "typical_output_tokens")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    LATENCY_PRIOR_MS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_PRIOR_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    TYPICAL_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    name: str
    agent_type: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    cost: CostModel
    latency_prior_ms: float
    quality_prior: float
    metadata_json: str
    active: bool
    typical_output_tokens: int
    def __init__(self, name: _Optional[str] = ..., agent_type: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., cost: _Optional[_Union[CostModel, _Mapping]] = ..., latency_prior_ms: _Optional[float] = ..., quality_prior: _Optional[float] = ..., metadata_json: _Optional[str] = ..., active: _Optional[bool] = ..., typical_output_tokens: _Optional[int] = ...) -> None: ...

class AgentMetrics(_message.Message):
    __slots__ = ("total_requests", "successes", "failures", "success_rate", "avg_latency_ms", "p95_latency_ms", "p99_latency_ms", "observed_quality", "quality_samples", "total_spend", "health", "consecutive_failures", "expected_quality")
    TOTAL_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SUCCESSES_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    AVG_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P95_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P99_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_QUALITY_FIELD_NUMBER: _ClassVar[int]
    QUALITY_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SPEND_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_QUALITY_FIELD_NUMBER: _ClassVar[int]
    total_requests: int
    successes: int
    failures: int
    success_rate: float
    avg_latency_ms: float
    p95_latency_ms: float
    p99_latency_ms: float
    observed_quality: float
    quality_samples: int
    total_spend: float
    health: str
    consecutive_failures: int
    expected_quality: float
    def __init__(self, total_requests: _Optional[int] = ..., successes: _Optional[int] = ..., failures: _Optional[int] = ..., success_rate: _Optional[float] = ..., avg_latency_ms: _Optional[float] = ..., p95_latency_ms: _Optional[float] = ..., p99_latency_ms: _Optional[float] = ..., observed_quality: _Optional[float] = ..., quality_samples: _Optional[int] = ..., total_spend: _Optional[float] = ..., health: _Optional[str] = ..., consecutive_failures: _Optional[int] = ..., expected_quality: _Optional[float] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("spec", "metrics", "created_at", "updated_at")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    spec: AgentSpec
    metrics: AgentMetrics
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, spec: _Optional[_Union[AgentSpec, _Mapping]] = ..., metrics: _Optional[_Union[AgentMetrics, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterAgentRequest(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: AgentSpec
    def __init__(self, agent: _Optional[_Union[AgentSpec, _Mapping]] = ...) -> None: ...

class UpdateAgentRequest(_message.Message):
    __slots__ = ("name", "agent", "update_mask")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    name: str
    agent: AgentSpec
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, name: _Optional[str] = ..., agent: _Optional[_Union[AgentSpec, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class RemoveAgentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("capability", "agent_type", "active", "page_size", "page_token")
    CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    AGENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    capability: str
    agent_type: str
    active: bool
    page_size: int
    page_token: str
    def __init__(self, capability: _Optional[str] = ..., agent_type: _Optional[str] = ..., active: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "next_page_token")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    next_page_token: str
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SetAgentActiveRequest(_message.Message):
    __slots__ = ("name", "active")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    name: str
    active: bool
    def __init__(self, name: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class FindAgentsByCapabilityRequest(_message.Message):
    __slots__ = ("capability", "limit", "active_only")
    CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    capability: str
    limit: int
    active_only: bool
    def __init__(self, capability: _Optional[str] = ..., limit: _Optional[int] = ..., active_only: _Optional[bool] = ...) -> None: ...

class AgentMatch(_message.Message):
    __slots__ = ("agent", "similarity")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    similarity: float
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., similarity: _Optional[float] = ...) -> None: ...

class FindAgentsByCapabilityResponse(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[AgentMatch]
    def __init__(self, matches: _Optional[_Iterable[_Union[AgentMatch, _Mapping]]] = ...) -> None: ...

class Constraints(_message.Message):
    __slots__ = ("required_capabilities", "excluded_agents", "max_cost", "max_latency_ms", "min_quality")
    REQUIRED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_AGENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_QUALITY_FIELD_NUMBER: _ClassVar[int]
    required_capabilities: _containers.RepeatedScalarFieldContainer[str]
    excluded_agents: _containers.RepeatedScalarFieldContainer[str]
    max_cost: float
    max_latency_ms: float
    min_quality: float
    def __init__(self, required_capabilities: _Optional[_Iterable[str]] = ..., excluded_agents: _Optional[_Iterable[str]] = ..., max_cost: _Optional[float] = ..., max_latency_ms: _Optional[float] = ..., min_quality: _Optional[float] = ...) -> None: ...

class RouteRequest(_message.Message):
    __slots__ = ("request", "embedding", "objective", "constraints", "budget_remaining", "willingness_to_pay", "input_tokens", "output_tokens", "context", "max_alternatives", "omit_reasoning")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_REMAINING_FIELD_NUMBER: _ClassVar[int]
    WILLINGNESS_TO_PAY_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    MAX_ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    OMIT_REASONING_FIELD_NUMBER: _ClassVar[int]
    request: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    objective: str
    constraints: Constraints
    budget_remaining: float
    willingness_to_pay: float
    input_tokens: int
    output_tokens: int
    context: _containers.ScalarMap[str, str]
    max_alternatives: int
    omit_reasoning: bool
    def __init__(self, request: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., objective: _Optional[str] = ..., constraints: _Optional[_Union[Constraints, _Mapping]] = ..., budget_remaining: _Optional[float] = ..., willingness_to_pay: _Optional[float] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., context: _Optional[_Mapping[str, str]] = ..., max_alternatives: _Optional[int] = ..., omit_reasoning: _Optional[bool] = ...) -> None: ...

class Alternative(_message.Message):
    __slots__ = ("agent_name", "score", "feasible", "reason", "estimated_cost", "estimated_latency_ms", "expected_quality")
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FEASIBLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COST_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_QUALITY_FIELD_NUMBER: _ClassVar[int]
    agent_name: str
    score: float
    feasible: bool
    reason: str
    estimated_cost: float
    estimated_latency_ms: float
    expected_quality: float
    def __init__(self, agent_name: _Optional[str] = ..., score: _Optional[float] = ..., feasible: _Optional[bool] = ..., reason: _Optional[str] = ..., estimated_cost: _Optional[float] = ..., estimated_latency_ms: _Optional[float] = ..., expected_quality: _Optional[float] = ...) -> None: ...

class RouteDecision(_message.Message):
    __slots__ = ("decision_id", "routed", "agent_name", "confidence", "estimated_cost", "estimated_latency_ms", "expected_quality", "similarity", "reasoning", "alternatives", "model_version", "decided_at", "objective")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTED_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COST_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_QUALITY_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    routed: bool
    agent_name: str
    confidence: float
    estimated_cost: float
    estimated_latency_ms: float
    expected_quality: float
    similarity: float
    reasoning: str
    alternatives: _containers.RepeatedCompositeFieldContainer[Alternative]
    model_version: str
    decided_at: _timestamp_pb2.Timestamp
    objective: str
    def __init__(self, decision_id: _Optional[str] = ..., routed: _Optional[bool] = ..., agent_name: _Optional[str] = ..., confidence: _Optional[float] = ..., estimated_cost: _Optional[float] = ..., estimated_latency_ms: _Optional[float] = ..., expected_quality: _Optional[float] = ..., similarity: _Optional[float] = ..., reasoning: _Optional[str] = ..., alternatives: _Optional[_Iterable[_Union[Alternative, _Mapping]]] = ..., model_version: _Optional[str] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., objective: _Optional[str] = ...) -> None: ...

class BatchRouteRequest(_message.Message):
    __slots__ = ("requests", "batch_budget")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BATCH_BUDGET_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[RouteRequest]
    batch_budget: float
    def __init__(self, requests: _Optional[_Iterable[_Union[RouteRequest, _Mapping]]] = ..., batch_budget: _Optional[float] = ...) -> None: ...

class BatchRouteResponse(_message.Message):
    __slots__ = ("decisions",)
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[RouteDecision]
    def __init__(self, decisions: _Optional[_Iterable[_Union[RouteDecision, _Mapping]]] = ...) -> None: ...

class RecordOutcomeRequest(_message.Message):
    __slots__ = ("decision_id", "agent_name", "latency_ms", "success", "quality", "cost", "input_tokens", "output_tokens", "recorded_at")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    agent_name: str
    latency_ms: float
    success: bool
    quality: float
    cost: float
    input_tokens: int
    output_tokens: int
    recorded_at: _timestamp_pb2.Timestamp
    def __init__(self, decision_id: _Optional[str] = ..., agent_name: _Optional[str] = ..., latency_ms: _Optional[float] = ..., success: _Optional[bool] = ..., quality: _Optional[float] = ..., cost: _Optional[float] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("outcome_id", "decision_id", "agent_name", "recorded_at", "latency_ms", "success", "quality", "cost", "input_tokens", "output_tokens")
    OUTCOME_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    outcome_id: str
    decision_id: str
    agent_name: str
    recorded_at: _timestamp_pb2.Timestamp
    latency_ms: float
    success: bool
    quality: float
    cost: float
    input_tokens: int
    output_tokens: int
    def __init__(self, outcome_id: _Optional[str] = ..., decision_id: _Optional[str] = ..., agent_name: _Optional[str] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latency_ms: _Optional[float] = ..., success: _Optional[bool] = ..., quality: _Optional[float] = ..., cost: _Optional[float] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ...) -> None: ...

class RecordOutcomeResponse(_message.Message):
    __slots__ = ("outcome", "metrics")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    outcome: Outcome
    metrics: AgentMetrics
    def __init__(self, outcome: _Optional[_Union[Outcome, _Mapping]] = ..., metrics: _Optional[_Union[AgentMetrics, _Mapping]] = ...) -> None: ...

class ListOutcomesRequest(_message.Message):
    __slots__ = ("start", "end", "agent_name", "decision_id", "page_size", "page_token")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    agent_name: str
    decision_id: str
    page_size: int
    page_token: str
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent_name: _Optional[str] = ..., decision_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOutcomesResponse(_message.Message):
    __slots__ = ("outcomes", "next_page_token")
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[Outcome]
    next_page_token: str
    def __init__(self, outcomes: _Optional[_Iterable[_Union[Outcome, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RoutingStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RoutingStatsResponse(_message.Message):
    __slots__ = ("agents", "active_agents", "decisions", "outcomes", "total_spend", "mean_quality", "success_rate", "model_version", "open_circuits")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SPEND_FIELD_NUMBER: _ClassVar[int]
    MEAN_QUALITY_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPEN_CIRCUITS_FIELD_NUMBER: _ClassVar[int]
    agents: int
    active_agents: int
    decisions: int
    outcomes: int
    total_spend: float
    mean_quality: float
    success_rate: float
    model_version: str
    open_circuits: int
    def __init__(self, agents: _Optional[int] = ..., active_agents: _Optional[int] = ..., decisions: _Optional[int] = ..., outcomes: _Optional[int] = ..., total_spend: _Optional[float] = ..., mean_quality: _Optional[float] = ..., success_rate: _Optional[float] = ..., model_version: _Optional[str] = ..., open_circuits: _Optional[int] = ...) -> None: ...
