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
    __slots__ = ("request", "embedding", "objective", "constraints", "budget_remaining", "willingness_to_pay", "input_tokens", "output_tokens", "context", "max_alternatives", "omit_reasoning", "infer_capabilities", "capability_threshold", "tags")
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
    INFER_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
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
    infer_capabilities: bool
    capability_threshold: float
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., objective: _Optional[str] = ..., constraints: _Optional[_Union[Constraints, _Mapping]] = ..., budget_remaining: _Optional[float] = ..., willingness_to_pay: _Optional[float] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., context: _Optional[_Mapping[str, str]] = ..., max_alternatives: _Optional[int] = ..., omit_reasoning: _Optional[bool] = ..., infer_capabilities: _Optional[bool] = ..., capability_threshold: _Optional[float] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

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
    __slots__ = ("decision_id", "routed", "agent_name", "confidence", "estimated_cost", "estimated_latency_ms", "expected_quality", "similarity", "reasoning", "alternatives", "model_version", "decided_at", "objective", "route_name", "route_similarity", "inferred_capabilities", "charges", "tags")
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
    ROUTE_NAME_FIELD_NUMBER: _ClassVar[int]
    ROUTE_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    INFERRED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    CHARGES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
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
    route_name: str
    route_similarity: float
    inferred_capabilities: _containers.RepeatedScalarFieldContainer[str]
    charges: _containers.RepeatedCompositeFieldContainer[BudgetCharge]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, decision_id: _Optional[str] = ..., routed: _Optional[bool] = ..., agent_name: _Optional[str] = ..., confidence: _Optional[float] = ..., estimated_cost: _Optional[float] = ..., estimated_latency_ms: _Optional[float] = ..., expected_quality: _Optional[float] = ..., similarity: _Optional[float] = ..., reasoning: _Optional[str] = ..., alternatives: _Optional[_Iterable[_Union[Alternative, _Mapping]]] = ..., model_version: _Optional[str] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., objective: _Optional[str] = ..., route_name: _Optional[str] = ..., route_similarity: _Optional[float] = ..., inferred_capabilities: _Optional[_Iterable[str]] = ..., charges: _Optional[_Iterable[_Union[BudgetCharge, _Mapping]]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class BudgetCharge(_message.Message):
    __slots__ = ("budget", "amount")
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    budget: str
    amount: float
    def __init__(self, budget: _Optional[str] = ..., amount: _Optional[float] = ...) -> None: ...

class BatchRouteRequest(_message.Message):
    __slots__ = ("requests", "batch_budget", "batch_objective")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BATCH_BUDGET_FIELD_NUMBER: _ClassVar[int]
    BATCH_OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[RouteRequest]
    batch_budget: float
    batch_objective: str
    def __init__(self, requests: _Optional[_Iterable[_Union[RouteRequest, _Mapping]]] = ..., batch_budget: _Optional[float] = ..., batch_objective: _Optional[str] = ...) -> None: ...

class BatchRouteResponse(_message.Message):
    __slots__ = ("decisions", "total_cost", "total_quality")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    TOTAL_QUALITY_FIELD_NUMBER: _ClassVar[int]
    LAMBDA_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[RouteDecision]
    total_cost: float
    total_quality: float
    def __init__(self, decisions: _Optional[_Iterable[_Union[RouteDecision, _Mapping]]] = ..., total_cost: _Optional[float] = ..., total_quality: _Optional[float] = ..., **kwargs) -> None: ...

class RouteMultiRequest(_message.Message):
    __slots__ = ("request", "num_agents", "strategy")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    NUM_AGENTS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    request: RouteRequest
    num_agents: int
    strategy: str
    def __init__(self, request: _Optional[_Union[RouteRequest, _Mapping]] = ..., num_agents: _Optional[int] = ..., strategy: _Optional[str] = ...) -> None: ...

class RouteMultiStage(_message.Message):
    __slots__ = ("stage", "agent_name", "capabilities", "estimated_cost", "estimated_latency_ms", "expected_quality", "score", "reason")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COST_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_QUALITY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    stage: int
    agent_name: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    estimated_cost: float
    estimated_latency_ms: float
    expected_quality: float
    score: float
    reason: str
    def __init__(self, stage: _Optional[int] = ..., agent_name: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., estimated_cost: _Optional[float] = ..., estimated_latency_ms: _Optional[float] = ..., expected_quality: _Optional[float] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class RouteMultiResponse(_message.Message):
    __slots__ = ("decision_id", "strategy", "routed", "stages", "total_cost", "total_latency_ms", "expected_quality", "reasoning", "uncovered_capabilities", "model_version")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    ROUTED_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    TOTAL_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_QUALITY_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    UNCOVERED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    strategy: str
    routed: bool
    stages: _containers.RepeatedCompositeFieldContainer[RouteMultiStage]
    total_cost: float
    total_latency_ms: float
    expected_quality: float
    reasoning: str
    uncovered_capabilities: _containers.RepeatedScalarFieldContainer[str]
    model_version: str
    def __init__(self, decision_id: _Optional[str] = ..., strategy: _Optional[str] = ..., routed: _Optional[bool] = ..., stages: _Optional[_Iterable[_Union[RouteMultiStage, _Mapping]]] = ..., total_cost: _Optional[float] = ..., total_latency_ms: _Optional[float] = ..., expected_quality: _Optional[float] = ..., reasoning: _Optional[str] = ..., uncovered_capabilities: _Optional[_Iterable[str]] = ..., model_version: _Optional[str] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("vectors", "embedder", "dim")
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    vectors: _containers.RepeatedCompositeFieldContainer[Vector]
    embedder: str
    dim: int
    def __init__(self, vectors: _Optional[_Iterable[_Union[Vector, _Mapping]]] = ..., embedder: _Optional[str] = ..., dim: _Optional[int] = ...) -> None: ...

class RouteConditions(_message.Message):
    __slots__ = ("active_from_minute", "active_until_minute", "user_tiers", "rate_limit_per_minute")
    ACTIVE_FROM_MINUTE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_UNTIL_MINUTE_FIELD_NUMBER: _ClassVar[int]
    USER_TIERS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    active_from_minute: int
    active_until_minute: int
    user_tiers: _containers.RepeatedScalarFieldContainer[str]
    rate_limit_per_minute: int
    def __init__(self, active_from_minute: _Optional[int] = ..., active_until_minute: _Optional[int] = ..., user_tiers: _Optional[_Iterable[str]] = ..., rate_limit_per_minute: _Optional[int] = ...) -> None: ...

class SemanticRoute(_message.Message):
    __slots__ = ("name", "description", "target_agent", "priority", "utterances", "threshold", "group", "conditions", "utterance_embeddings", "effective_threshold", "fitted", "utterance_count", "created_at", "updated_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_AGENT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    UTTERANCES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FITTED_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    target_agent: str
    priority: int
    utterances: _containers.RepeatedScalarFieldContainer[str]
    threshold: float
    group: str
    conditions: RouteConditions
    utterance_embeddings: _containers.RepeatedCompositeFieldContainer[Vector]
    effective_threshold: float
    fitted: bool
    utterance_count: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., target_agent: _Optional[str] = ..., priority: _Optional[int] = ..., utterances: _Optional[_Iterable[str]] = ..., threshold: _Optional[float] = ..., group: _Optional[str] = ..., conditions: _Optional[_Union[RouteConditions, _Mapping]] = ..., utterance_embeddings: _Optional[_Iterable[_Union[Vector, _Mapping]]] = ..., effective_threshold: _Optional[float] = ..., fitted: _Optional[bool] = ..., utterance_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateRouteRequest(_message.Message):
    __slots__ = ("route", "replace")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    route: SemanticRoute
    replace: bool
    def __init__(self, route: _Optional[_Union[SemanticRoute, _Mapping]] = ..., replace: _Optional[bool] = ...) -> None: ...

class UpdateRouteRequest(_message.Message):
    __slots__ = ("name", "route", "update_mask", "add_utterances", "remove_utterances")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ADD_UTTERANCES_FIELD_NUMBER: _ClassVar[int]
    REMOVE_UTTERANCES_FIELD_NUMBER: _ClassVar[int]
    name: str
    route: SemanticRoute
    update_mask: _field_mask_pb2.FieldMask
    add_utterances: _containers.RepeatedScalarFieldContainer[str]
    remove_utterances: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., route: _Optional[_Union[SemanticRoute, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., add_utterances: _Optional[_Iterable[str]] = ..., remove_utterances: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteRouteRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteRouteResponse(_message.Message):
    __slots__ = ("route",)
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    route: SemanticRoute
    def __init__(self, route: _Optional[_Union[SemanticRoute, _Mapping]] = ...) -> None: ...

class GetRouteRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListRoutesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "include_utterances")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_UTTERANCES_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    include_utterances: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_utterances: _Optional[bool] = ...) -> None: ...

class ListRoutesResponse(_message.Message):
    __slots__ = ("routes", "next_page_token")
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[SemanticRoute]
    next_page_token: str
    def __init__(self, routes: _Optional[_Iterable[_Union[SemanticRoute, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class LabelledExample(_message.Message):
    __slots__ = ("text", "route", "embedding")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    text: str
    route: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, text: _Optional[str] = ..., route: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ...) -> None: ...

class FitRoutesRequest(_message.Message):
    __slots__ = ("examples", "objective", "min_out_of_scope_recall", "dry_run")
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    MIN_OUT_OF_SCOPE_RECALL_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    examples: _containers.RepeatedCompositeFieldContainer[LabelledExample]
    objective: str
    min_out_of_scope_recall: float
    dry_run: bool
    def __init__(self, examples: _Optional[_Iterable[_Union[LabelledExample, _Mapping]]] = ..., objective: _Optional[str] = ..., min_out_of_scope_recall: _Optional[float] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class RouteFit(_message.Message):
    __slots__ = ("route", "threshold_before", "threshold_after", "support", "precision_before", "recall_before", "precision_after", "recall_after")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_BEFORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_AFTER_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_FIELD_NUMBER: _ClassVar[int]
    PRECISION_BEFORE_FIELD_NUMBER: _ClassVar[int]
    RECALL_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PRECISION_AFTER_FIELD_NUMBER: _ClassVar[int]
    RECALL_AFTER_FIELD_NUMBER: _ClassVar[int]
    route: str
    threshold_before: float
    threshold_after: float
    support: int
    precision_before: float
    recall_before: float
    precision_after: float
    recall_after: float
    def __init__(self, route: _Optional[str] = ..., threshold_before: _Optional[float] = ..., threshold_after: _Optional[float] = ..., support: _Optional[int] = ..., precision_before: _Optional[float] = ..., recall_before: _Optional[float] = ..., precision_after: _Optional[float] = ..., recall_after: _Optional[float] = ...) -> None: ...

class FitMetrics(_message.Message):
    __slots__ = ("in_scope_accuracy", "out_of_scope_recall", "accuracy", "macro_f1", "calibration_error")
    IN_SCOPE_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SCOPE_RECALL_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    MACRO_F1_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_ERROR_FIELD_NUMBER: _ClassVar[int]
    in_scope_accuracy: float
    out_of_scope_recall: float
    accuracy: float
    macro_f1: float
    calibration_error: float
    def __init__(self, in_scope_accuracy: _Optional[float] = ..., out_of_scope_recall: _Optional[float] = ..., accuracy: _Optional[float] = ..., macro_f1: _Optional[float] = ..., calibration_error: _Optional[float] = ...) -> None: ...

class FitRoutesResponse(_message.Message):
    __slots__ = ("routes", "before", "after", "applied", "objective")
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[RouteFit]
    before: FitMetrics
    after: FitMetrics
    applied: bool
    objective: str
    def __init__(self, routes: _Optional[_Iterable[_Union[RouteFit, _Mapping]]] = ..., before: _Optional[_Union[FitMetrics, _Mapping]] = ..., after: _Optional[_Union[FitMetrics, _Mapping]] = ..., applied: _Optional[bool] = ..., objective: _Optional[str] = ...) -> None: ...

class SemanticRouteRequest(_message.Message):
    __slots__ = ("query", "embedding", "top_k", "context")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    QUERY_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    query: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    top_k: int
    context: _containers.ScalarMap[str, str]
    def __init__(self, query: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., top_k: _Optional[int] = ..., context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RouteMatch(_message.Message):
    __slots__ = ("route", "similarity", "confidence", "target_agent", "group", "priority", "threshold")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_AGENT_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    route: str
    similarity: float
    confidence: float
    target_agent: str
    group: str
    priority: int
    threshold: float
    def __init__(self, route: _Optional[str] = ..., similarity: _Optional[float] = ..., confidence: _Optional[float] = ..., target_agent: _Optional[str] = ..., group: _Optional[str] = ..., priority: _Optional[int] = ..., threshold: _Optional[float] = ...) -> None: ...

class SemanticRouteResponse(_message.Message):
    __slots__ = ("matches", "out_of_scope_probability", "blocked")
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SCOPE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[RouteMatch]
    out_of_scope_probability: float
    blocked: _containers.RepeatedCompositeFieldContainer[BlockedRoute]
    def __init__(self, matches: _Optional[_Iterable[_Union[RouteMatch, _Mapping]]] = ..., out_of_scope_probability: _Optional[float] = ..., blocked: _Optional[_Iterable[_Union[BlockedRoute, _Mapping]]] = ...) -> None: ...

class BlockedRoute(_message.Message):
    __slots__ = ("route", "similarity", "reason")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    route: str
    similarity: float
    reason: str
    def __init__(self, route: _Optional[str] = ..., similarity: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class ClassifyRequest(_message.Message):
    __slots__ = ("text", "embedding", "top_k")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    text: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    top_k: int
    def __init__(self, text: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., top_k: _Optional[int] = ...) -> None: ...

class Category(_message.Message):
    __slots__ = ("name", "kind", "probability")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    probability: float
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class CapabilityNeed(_message.Message):
    __slots__ = ("capability", "probability")
    CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    capability: str
    probability: float
    def __init__(self, capability: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("categories", "capabilities", "top_category", "confidence", "out_of_scope_probability")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    TOP_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SCOPE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedCompositeFieldContainer[Category]
    capabilities: _containers.RepeatedCompositeFieldContainer[CapabilityNeed]
    top_category: str
    confidence: float
    out_of_scope_probability: float
    def __init__(self, categories: _Optional[_Iterable[_Union[Category, _Mapping]]] = ..., capabilities: _Optional[_Iterable[_Union[CapabilityNeed, _Mapping]]] = ..., top_category: _Optional[str] = ..., confidence: _Optional[float] = ..., out_of_scope_probability: _Optional[float] = ...) -> None: ...

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

class CancelDecisionRequest(_message.Message):
    __slots__ = ("decision_id",)
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    def __init__(self, decision_id: _Optional[str] = ...) -> None: ...

class CancelDecisionResponse(_message.Message):
    __slots__ = ("decision_id", "released", "already_cancelled")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    released: _containers.RepeatedCompositeFieldContainer[BudgetCharge]
    already_cancelled: bool
    def __init__(self, decision_id: _Optional[str] = ..., released: _Optional[_Iterable[_Union[BudgetCharge, _Mapping]]] = ..., already_cancelled: _Optional[bool] = ...) -> None: ...

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

class RoutingAnalyticsRequest(_message.Message):
    __slots__ = ("start", "end", "group_by")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    group_by: str
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group_by: _Optional[str] = ...) -> None: ...

class AnalyticsRow(_message.Message):
    __slots__ = ("key", "bucket_start", "requests", "without_outcome", "outcomes", "spend", "mean_latency_ms", "p95_latency_ms", "success_rate", "mean_quality", "reference_cost", "savings")
    KEY_FIELD_NUMBER: _ClassVar[int]
    BUCKET_START_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    SPEND_FIELD_NUMBER: _ClassVar[int]
    MEAN_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P95_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    MEAN_QUALITY_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_COST_FIELD_NUMBER: _ClassVar[int]
    SAVINGS_FIELD_NUMBER: _ClassVar[int]
    key: str
    bucket_start: _timestamp_pb2.Timestamp
    requests: int
    without_outcome: int
    outcomes: int
    spend: float
    mean_latency_ms: float
    p95_latency_ms: float
    success_rate: float
    mean_quality: float
    reference_cost: float
    savings: float
    def __init__(self, key: _Optional[str] = ..., bucket_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requests: _Optional[int] = ..., without_outcome: _Optional[int] = ..., outcomes: _Optional[int] = ..., spend: _Optional[float] = ..., mean_latency_ms: _Optional[float] = ..., p95_latency_ms: _Optional[float] = ..., success_rate: _Optional[float] = ..., mean_quality: _Optional[float] = ..., reference_cost: _Optional[float] = ..., savings: _Optional[float] = ...) -> None: ...

class RoutingAnalyticsResponse(_message.Message):
    __slots__ = ("group_by", "rows")
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    group_by: str
    rows: _containers.RepeatedCompositeFieldContainer[AnalyticsRow]
    def __init__(self, group_by: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[AnalyticsRow, _Mapping]]] = ...) -> None: ...

class OptimizeBudgetRequest(_message.Message):
    __slots__ = ("budget", "period_days", "start", "end", "requests", "mix_days", "quality_threshold", "latency_threshold_ms", "apply_to_budget")
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    PERIOD_DAYS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MIX_DAYS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_THRESHOLD_MS_FIELD_NUMBER: _ClassVar[int]
    APPLY_TO_BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: float
    period_days: float
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    requests: _containers.RepeatedCompositeFieldContainer[RouteRequest]
    mix_days: float
    quality_threshold: float
    latency_threshold_ms: float
    apply_to_budget: str
    def __init__(self, budget: _Optional[float] = ..., period_days: _Optional[float] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requests: _Optional[_Iterable[_Union[RouteRequest, _Mapping]]] = ..., mix_days: _Optional[float] = ..., quality_threshold: _Optional[float] = ..., latency_threshold_ms: _Optional[float] = ..., apply_to_budget: _Optional[str] = ...) -> None: ...

class AgentAllocation(_message.Message):
    __slots__ = ("agent_name", "requests", "spend", "share", "mean_quality")
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SPEND_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    MEAN_QUALITY_FIELD_NUMBER: _ClassVar[int]
    agent_name: str
    requests: float
    spend: float
    share: float
    mean_quality: float
    def __init__(self, agent_name: _Optional[str] = ..., requests: _Optional[float] = ..., spend: _Optional[float] = ..., share: _Optional[float] = ..., mean_quality: _Optional[float] = ...) -> None: ...

class OptimizeBudgetResponse(_message.Message):
    __slots__ = ("willingness_to_pay", "binding", "allocations", "projected_spend", "projected_quality", "proportional_quality", "proportional_spend", "mix_requests", "unmet_requests", "scale", "period_days", "minimum_spend", "feasible", "applied_to_budget")
    WILLINGNESS_TO_PAY_FIELD_NUMBER: _ClassVar[int]
    LAMBDA_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    ALLOCATIONS_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_SPEND_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_QUALITY_FIELD_NUMBER: _ClassVar[int]
    PROPORTIONAL_QUALITY_FIELD_NUMBER: _ClassVar[int]
    PROPORTIONAL_SPEND_FIELD_NUMBER: _ClassVar[int]
    MIX_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    UNMET_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_DAYS_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_SPEND_FIELD_NUMBER: _ClassVar[int]
    FEASIBLE_FIELD_NUMBER: _ClassVar[int]
    APPLIED_TO_BUDGET_FIELD_NUMBER: _ClassVar[int]
    willingness_to_pay: float
    binding: bool
    allocations: _containers.RepeatedCompositeFieldContainer[AgentAllocation]
    projected_spend: float
    projected_quality: float
    proportional_quality: float
    proportional_spend: float
    mix_requests: int
    unmet_requests: int
    scale: float
    period_days: float
    minimum_spend: float
    feasible: bool
    applied_to_budget: str
    def __init__(self, willingness_to_pay: _Optional[float] = ..., binding: _Optional[bool] = ..., allocations: _Optional[_Iterable[_Union[AgentAllocation, _Mapping]]] = ..., projected_spend: _Optional[float] = ..., projected_quality: _Optional[float] = ..., proportional_quality: _Optional[float] = ..., proportional_spend: _Optional[float] = ..., mix_requests: _Optional[int] = ..., unmet_requests: _Optional[int] = ..., scale: _Optional[float] = ..., period_days: _Optional[float] = ..., minimum_spend: _Optional[float] = ..., feasible: _Optional[bool] = ..., applied_to_budget: _Optional[str] = ..., **kwargs) -> None: ...

class ListDecisionsRequest(_message.Message):
    __slots__ = ("start", "end", "page_size", "page_token")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class LoggedDecision(_message.Message):
    __slots__ = ("decision_id", "decided_at", "agent_name", "objective", "estimated_cost", "estimated_latency_ms", "expected_quality", "confidence", "model_version", "route_name", "tags", "request_id", "reference_cost", "cancelled_at")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COST_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_QUALITY_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUTE_NAME_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_COST_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_AT_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    decided_at: _timestamp_pb2.Timestamp
    agent_name: str
    objective: str
    estimated_cost: float
    estimated_latency_ms: float
    expected_quality: float
    confidence: float
    model_version: str
    route_name: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    reference_cost: float
    cancelled_at: _timestamp_pb2.Timestamp
    def __init__(self, decision_id: _Optional[str] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent_name: _Optional[str] = ..., objective: _Optional[str] = ..., estimated_cost: _Optional[float] = ..., estimated_latency_ms: _Optional[float] = ..., expected_quality: _Optional[float] = ..., confidence: _Optional[float] = ..., model_version: _Optional[str] = ..., route_name: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ..., reference_cost: _Optional[float] = ..., cancelled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListDecisionsResponse(_message.Message):
    __slots__ = ("decisions", "next_page_token")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[LoggedDecision]
    next_page_token: str
    def __init__(self, decisions: _Optional[_Iterable[_Union[LoggedDecision, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("name", "amount", "window", "window_seconds", "scope", "mode", "willingness_to_pay", "created_at", "updated_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    WILLINGNESS_TO_PAY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    amount: float
    window: str
    window_seconds: float
    scope: str
    mode: str
    willingness_to_pay: float
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., amount: _Optional[float] = ..., window: _Optional[str] = ..., window_seconds: _Optional[float] = ..., scope: _Optional[str] = ..., mode: _Optional[str] = ..., willingness_to_pay: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Spend(_message.Message):
    __slots__ = ("budget", "window_start", "window_end", "amount", "settled", "reserved", "unreconciled", "remaining", "decisions", "unreconciled_decisions", "mode", "scope")
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    SETTLED_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    UNRECONCILED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    UNRECONCILED_DECISIONS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    budget: str
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    amount: float
    settled: float
    reserved: float
    unreconciled: float
    remaining: float
    decisions: int
    unreconciled_decisions: int
    mode: str
    scope: str
    def __init__(self, budget: _Optional[str] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amount: _Optional[float] = ..., settled: _Optional[float] = ..., reserved: _Optional[float] = ..., unreconciled: _Optional[float] = ..., remaining: _Optional[float] = ..., decisions: _Optional[int] = ..., unreconciled_decisions: _Optional[int] = ..., mode: _Optional[str] = ..., scope: _Optional[str] = ...) -> None: ...

class CreateBudgetRequest(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: Budget
    def __init__(self, budget: _Optional[_Union[Budget, _Mapping]] = ...) -> None: ...

class UpdateBudgetRequest(_message.Message):
    __slots__ = ("name", "budget", "update_mask")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    name: str
    budget: Budget
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, name: _Optional[str] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteBudgetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteBudgetResponse(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: Budget
    def __init__(self, budget: _Optional[_Union[Budget, _Mapping]] = ...) -> None: ...

class GetBudgetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListBudgetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBudgetsResponse(_message.Message):
    __slots__ = ("budgets",)
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    budgets: _containers.RepeatedCompositeFieldContainer[Budget]
    def __init__(self, budgets: _Optional[_Iterable[_Union[Budget, _Mapping]]] = ...) -> None: ...

class GetSpendRequest(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: str
    def __init__(self, budget: _Optional[str] = ...) -> None: ...

class GetSpendResponse(_message.Message):
    __slots__ = ("spend",)
    SPEND_FIELD_NUMBER: _ClassVar[int]
    spend: _containers.RepeatedCompositeFieldContainer[Spend]
    def __init__(self, spend: _Optional[_Iterable[_Union[Spend, _Mapping]]] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("version", "name", "status", "source", "fingerprint", "embedder", "dim", "features", "agents", "metrics", "reason", "parent", "created_at", "finished_at", "promoted_at")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PROMOTED_AT_FIELD_NUMBER: _ClassVar[int]
    version: int
    name: str
    status: str
    source: str
    fingerprint: str
    embedder: str
    dim: int
    features: str
    agents: _containers.RepeatedScalarFieldContainer[str]
    metrics: _containers.ScalarMap[str, float]
    reason: str
    parent: int
    created_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    promoted_at: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[int] = ..., name: _Optional[str] = ..., status: _Optional[str] = ..., source: _Optional[str] = ..., fingerprint: _Optional[str] = ..., embedder: _Optional[str] = ..., dim: _Optional[int] = ..., features: _Optional[str] = ..., agents: _Optional[_Iterable[str]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., reason: _Optional[str] = ..., parent: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., promoted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrainOptions(_message.Message):
    __slots__ = ("from_dataset", "dataset_name", "seed", "holdout_fraction", "max_outcomes", "hyperparameters", "no_promote", "detach")
    class HyperparametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    FROM_DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FRACTION_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    NO_PROMOTE_FIELD_NUMBER: _ClassVar[int]
    DETACH_FIELD_NUMBER: _ClassVar[int]
    from_dataset: bool
    dataset_name: str
    seed: int
    holdout_fraction: float
    max_outcomes: int
    hyperparameters: _containers.ScalarMap[str, float]
    no_promote: bool
    detach: bool
    def __init__(self, from_dataset: _Optional[bool] = ..., dataset_name: _Optional[str] = ..., seed: _Optional[int] = ..., holdout_fraction: _Optional[float] = ..., max_outcomes: _Optional[int] = ..., hyperparameters: _Optional[_Mapping[str, float]] = ..., no_promote: _Optional[bool] = ..., detach: _Optional[bool] = ...) -> None: ...

class DatasetLines(_message.Message):
    __slots__ = ("lines",)
    LINES_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, lines: _Optional[_Iterable[str]] = ...) -> None: ...

class TrainRequest(_message.Message):
    __slots__ = ("options", "dataset")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    options: TrainOptions
    dataset: DatasetLines
    def __init__(self, options: _Optional[_Union[TrainOptions, _Mapping]] = ..., dataset: _Optional[_Union[DatasetLines, _Mapping]] = ...) -> None: ...

class TrainEvent(_message.Message):
    __slots__ = ("version", "phase", "done", "total", "train_loss", "validation_loss", "message", "model")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_LOSS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    version: int
    phase: str
    done: int
    total: int
    train_loss: float
    validation_loss: float
    message: str
    model: ModelVersion
    def __init__(self, version: _Optional[int] = ..., phase: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., train_loss: _Optional[float] = ..., validation_loss: _Optional[float] = ..., message: _Optional[str] = ..., model: _Optional[_Union[ModelVersion, _Mapping]] = ...) -> None: ...

class EvaluateOptions(_message.Message):
    __slots__ = ("version", "dataset_name", "seed")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    version: int
    dataset_name: str
    seed: int
    def __init__(self, version: _Optional[int] = ..., dataset_name: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("options", "dataset")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    options: EvaluateOptions
    dataset: DatasetLines
    def __init__(self, options: _Optional[_Union[EvaluateOptions, _Mapping]] = ..., dataset: _Optional[_Union[DatasetLines, _Mapping]] = ...) -> None: ...

class CostQuality(_message.Message):
    __slots__ = ("cost", "quality")
    COST_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    cost: float
    quality: float
    def __init__(self, cost: _Optional[float] = ..., quality: _Optional[float] = ...) -> None: ...

class CurvePoint(_message.Message):
    __slots__ = ("cost", "quality", "willingness_to_pay")
    COST_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    WILLINGNESS_TO_PAY_FIELD_NUMBER: _ClassVar[int]
    cost: float
    quality: float
    willingness_to_pay: float
    def __init__(self, cost: _Optional[float] = ..., quality: _Optional[float] = ..., willingness_to_pay: _Optional[float] = ...) -> None: ...

class FractionQuality(_message.Message):
    __slots__ = ("fraction", "quality")
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    fraction: float
    quality: float
    def __init__(self, fraction: _Optional[float] = ..., quality: _Optional[float] = ...) -> None: ...

class RouterEvaluation(_message.Message):
    __slots__ = ("name", "auc", "at_fraction", "cost_to_match_best", "dominance_margin", "cheaper_agents", "hull", "points")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AUC_FIELD_NUMBER: _ClassVar[int]
    AT_FRACTION_FIELD_NUMBER: _ClassVar[int]
    COST_TO_MATCH_BEST_FIELD_NUMBER: _ClassVar[int]
    DOMINANCE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    CHEAPER_AGENTS_FIELD_NUMBER: _ClassVar[int]
    HULL_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    auc: float
    at_fraction: _containers.RepeatedCompositeFieldContainer[FractionQuality]
    cost_to_match_best: float
    dominance_margin: float
    cheaper_agents: _containers.RepeatedScalarFieldContainer[str]
    hull: _containers.RepeatedCompositeFieldContainer[CostQuality]
    points: _containers.RepeatedCompositeFieldContainer[CurvePoint]
    def __init__(self, name: _Optional[str] = ..., auc: _Optional[float] = ..., at_fraction: _Optional[_Iterable[_Union[FractionQuality, _Mapping]]] = ..., cost_to_match_best: _Optional[float] = ..., dominance_margin: _Optional[float] = ..., cheaper_agents: _Optional[_Iterable[str]] = ..., hull: _Optional[_Iterable[_Union[CostQuality, _Mapping]]] = ..., points: _Optional[_Iterable[_Union[CurvePoint, _Mapping]]] = ...) -> None: ...

class SingleAgent(_message.Message):
    __slots__ = ("name", "cost", "quality")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    cost: float
    quality: float
    def __init__(self, name: _Optional[str] = ..., cost: _Optional[float] = ..., quality: _Optional[float] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("model_version", "requests", "single_agents", "best_agent", "cheapest_agent", "oracle", "routers", "fractions", "auc_cost_low", "auc_cost_high", "calibration_error")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SINGLE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    BEST_AGENT_FIELD_NUMBER: _ClassVar[int]
    CHEAPEST_AGENT_FIELD_NUMBER: _ClassVar[int]
    ORACLE_FIELD_NUMBER: _ClassVar[int]
    ROUTERS_FIELD_NUMBER: _ClassVar[int]
    FRACTIONS_FIELD_NUMBER: _ClassVar[int]
    AUC_COST_LOW_FIELD_NUMBER: _ClassVar[int]
    AUC_COST_HIGH_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_ERROR_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    requests: int
    single_agents: _containers.RepeatedCompositeFieldContainer[SingleAgent]
    best_agent: str
    cheapest_agent: str
    oracle: CostQuality
    routers: _containers.RepeatedCompositeFieldContainer[RouterEvaluation]
    fractions: _containers.RepeatedScalarFieldContainer[float]
    auc_cost_low: float
    auc_cost_high: float
    calibration_error: float
    def __init__(self, model_version: _Optional[str] = ..., requests: _Optional[int] = ..., single_agents: _Optional[_Iterable[_Union[SingleAgent, _Mapping]]] = ..., best_agent: _Optional[str] = ..., cheapest_agent: _Optional[str] = ..., oracle: _Optional[_Union[CostQuality, _Mapping]] = ..., routers: _Optional[_Iterable[_Union[RouterEvaluation, _Mapping]]] = ..., fractions: _Optional[_Iterable[float]] = ..., auc_cost_low: _Optional[float] = ..., auc_cost_high: _Optional[float] = ..., calibration_error: _Optional[float] = ...) -> None: ...

class ModelInfoRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "live_version", "training_version")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    LIVE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRAINING_VERSION_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    live_version: int
    training_version: int
    def __init__(self, models: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., live_version: _Optional[int] = ..., training_version: _Optional[int] = ...) -> None: ...

class PromoteRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RollbackResponse(_message.Message):
    __slots__ = ("live",)
    LIVE_FIELD_NUMBER: _ClassVar[int]
    live: ModelVersion
    def __init__(self, live: _Optional[_Union[ModelVersion, _Mapping]] = ...) -> None: ...
