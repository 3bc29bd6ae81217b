"""Protobuf ⇄ domain conversions. Nothing here decides anything."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from routerd.domain import (
    AgentRecord,
    AgentSpec,
    BudgetRecord,
    BudgetSpec,
    CostModel,
    DecisionRecord,
    ModelRecord,
    OutcomeRecord,
    RouteConditions,
    RouteRecord,
    RouteSpec,
)
from routerd.engine.budgets import SpendReport
from routerd.engine.decision import Decision
from routerd.engine.engine import BudgetOptimisation
from routerd.engine.health import BreakerPolicy
from routerd.engine.multi import MultiPlan
from routerd.engine.query import RouteQuery
from routerd.engine.table import observed_quality
from routerd.engine.validation import UPDATABLE, check_time, shown
from routerd.errors import InvalidArgument
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.model import evaluation as ev
from routerd.store._analytics import AnalyticsRow

_DEFAULTS = AgentSpec(name="", agent_type="")


def ts(seconds: float) -> Timestamp:
    """Seconds as a Timestamp, rounded to the microsecond (what timestamptz holds): truncating
    ``seconds * 1e9`` would turn 0.123456 s into 123455999 ns, one microsecond early in SQL."""
    t = Timestamp()
    t.FromMicroseconds(round(seconds * 1e6))
    return t


def from_ts(t: Timestamp) -> float:
    return float(t.seconds) + t.nanos / 1e9


def time_from_proto(t: Timestamp, field: str) -> float:
    """A Timestamp as Unix seconds, or ``InvalidArgument`` naming ``field``: nanos must be in
    0..999,999,999 and the time in the accepted range (``routerd.engine.validation.check_time``)."""
    if not 0 <= t.nanos <= 999_999_999:
        raise InvalidArgument(field, f"nanos must be in 0..999999999, got {t.nanos}")
    return check_time(from_ts(t), field)


def cost_from_proto(c: pb.CostModel) -> CostModel:
    return CostModel(c.per_1k_input_tokens, c.per_1k_output_tokens, c.per_call, c.per_second)


def spec_from_proto(s: pb.AgentSpec) -> AgentSpec:
    return AgentSpec(
        name=s.name,
        agent_type=s.agent_type,
        capabilities=tuple(s.capabilities),
        cost=cost_from_proto(s.cost),
        latency_prior_ms=s.latency_prior_ms if s.HasField("latency_prior_ms") else _DEFAULTS.latency_prior_ms,
        quality_prior=s.quality_prior if s.HasField("quality_prior") else _DEFAULTS.quality_prior,
        metadata=s.metadata_json or "{}",
        active=s.active if s.HasField("active") else True,
        typical_output_tokens=(s.typical_output_tokens if s.HasField("typical_output_tokens")
                               else _DEFAULTS.typical_output_tokens),
    )


def spec_to_proto(s: AgentSpec) -> pb.AgentSpec:
    return pb.AgentSpec(
        name=s.name, agent_type=s.agent_type, capabilities=list(s.capabilities),
        cost=pb.CostModel(per_1k_input_tokens=s.cost.per_1k_input_tokens,
                          per_1k_output_tokens=s.cost.per_1k_output_tokens,
                          per_call=s.cost.per_call, per_second=s.cost.per_second),
        latency_prior_ms=s.latency_prior_ms, quality_prior=s.quality_prior, metadata_json=s.metadata,
        active=s.active, typical_output_tokens=s.typical_output_tokens)


def agent_to_proto(r: AgentRecord, policy: BreakerPolicy, now: float) -> pb.Agent:
    st = r.stats
    m = pb.AgentMetrics(
        total_requests=st.total_requests, successes=st.successes, failures=st.failures,
        quality_samples=st.quality_count, total_spend=st.total_spend,
        health=policy.effective_state(st, now), consecutive_failures=st.consecutive_failures,
        expected_quality=observed_quality(r))
    for name, value in (("success_rate", st.success_rate), ("avg_latency_ms", st.avg_latency_ms),
                        ("p95_latency_ms", st.p95_latency_ms), ("p99_latency_ms", st.p99_latency_ms),
                        ("observed_quality", st.mean_quality)):
        if value is not None:
            setattr(m, name, value)
    return pb.Agent(spec=spec_to_proto(r.spec), metrics=m, created_at=ts(r.created_at),
                    updated_at=ts(r.updated_at))


# Which proto field sets which domain field, for partial updates: the updatable paths of
# ``routerd.engine.validation.UPDATABLE``, named as in the proto (metadata travels as metadata_json).
_SPEC_PATHS: Mapping[str, str] = {("metadata_json" if p == "metadata" else p): p for p in UPDATABLE}


def _value(s: pb.AgentSpec, path: str) -> Any:
    if path == "capabilities":
        return tuple(s.capabilities)
    if path == "cost":
        return cost_from_proto(s.cost)
    if path.startswith("cost."):
        return getattr(s.cost, path[5:])
    return getattr(s, path)


def patch_from_update(req: pb.UpdateAgentRequest) -> dict[str, Any]:
    """The fields an UpdateAgent sets: those in update_mask, else every field set in `agent`."""
    s = req.agent
    if req.update_mask.paths:
        paths = list(req.update_mask.paths)
    else:
        paths = [f.name for f, _ in s.ListFields() if f.name != "name"]
    patch: dict[str, Any] = {}
    for p in paths:
        if p == "name":
            raise InvalidArgument("update_mask", "an agent's name cannot be changed")
        if p not in _SPEC_PATHS:
            raise InvalidArgument("update_mask", f"unknown field {shown(p)}; valid: {', '.join(_SPEC_PATHS)}")
        patch[_SPEC_PATHS[p]] = _value(s, p)
    if not patch:
        raise InvalidArgument("agent", "no field to update: set fields in agent or name them in update_mask")
    return patch


def query_from_proto(r: pb.RouteRequest) -> RouteQuery:
    c = r.constraints
    has = c.HasField
    return RouteQuery(
        text=r.request,
        embedding=np.asarray(r.embedding, dtype=np.float32) if len(r.embedding) else None,
        objective=r.objective or "balanced",
        required_capabilities=tuple(c.required_capabilities),
        excluded_agents=tuple(c.excluded_agents),
        max_cost=c.max_cost if has("max_cost") else None,
        max_latency_ms=c.max_latency_ms if has("max_latency_ms") else None,
        min_quality=c.min_quality if has("min_quality") else None,
        budget_remaining=r.budget_remaining if r.HasField("budget_remaining") else None,
        willingness_to_pay=r.willingness_to_pay if r.HasField("willingness_to_pay") else None,
        input_tokens=r.input_tokens if r.HasField("input_tokens") else None,
        output_tokens=r.output_tokens if r.HasField("output_tokens") else None,
        context=dict(r.context) if r.context else {},
        infer_capabilities=r.infer_capabilities,
        capability_threshold=r.capability_threshold if r.HasField("capability_threshold") else None,
        tags=tuple(r.tags),
    )


def _finite_or_zero(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def decision_to_proto(d: Decision, max_alternatives: int | None = None, *,
                      reasoning: bool = True) -> pb.RouteDecision:
    """The decision as a message; its explanation parts only when asked for (``max_alternatives``
    0 gives none, ``reasoning`` False leaves the text empty)."""
    ts_ = ts(d.decided_at)
    out = pb.RouteDecision(
        decision_id=d.decision_id, routed=d.agent_name is not None, agent_name=d.agent_name or "",
        confidence=d.confidence, estimated_cost=d.estimated_cost, estimated_latency_ms=d.estimated_latency_ms,
        expected_quality=d.expected_quality, similarity=cosine(d.similarity),
        reasoning=d.reasoning if reasoning else "", model_version=d.model_version, decided_at=ts_,
        objective=d.objective, route_name=d.route_name or "", route_similarity=cosine(d.route_similarity),
        inferred_capabilities=list(d.inferred_capabilities), tags=list(d.query.tags),
        charges=[pb.BudgetCharge(budget=n, amount=a) for n, a in d.charges])
    if max_alternatives != 0:
        add = out.alternatives.add
        for a in d.alternatives(max_alternatives):
            if a.score is None:
                add(agent_name=a.agent_name, feasible=a.feasible, reason=a.reason, estimated_cost=a.estimated_cost,
                    estimated_latency_ms=a.estimated_latency_ms, expected_quality=a.expected_quality)
            else:
                add(agent_name=a.agent_name, feasible=a.feasible, reason=a.reason, estimated_cost=a.estimated_cost,
                    estimated_latency_ms=a.estimated_latency_ms, expected_quality=a.expected_quality,
                    score=_finite_or_zero(a.score))
    return out


# Upper bounds of the parts of a serialized RouteDecision (bytes), for ``decision_size_bound``.
_DECISION_FIXED = 160  # id, routed, 6 doubles, model version, decided_at, objective, tags and lengths
_REASONING_FIXED = 420  # the reasoning text without agent names (every format it has, numbers at their widest)
_ALTERNATIVE_FIXED = 56  # entry tag and length, score, feasible, 3 doubles, tags and lengths of name and reason
_ROUTE_NOTE_FIXED = 200  # the route's part of the reasoning, without names and the target's reason
_REASON_FIXED = 128  # the longest reason without capability names ("estimated cost $... exceeds ...")


def decision_size_bound(r: pb.RouteRequest, n_agents: int, name_bytes: int, capability_bytes: int = 0) -> int:
    """An upper bound of the serialized size of the decision ``decision_to_proto`` renders for ``r``
    against ``n_agents`` agents whose names have at most ``name_bytes`` bytes: what it asks for
    (``max_alternatives``, ``omit_reasoning``) times what each part can take at most.
    ``capability_bytes`` bounds what infer_capabilities can add: the agents' distinct capability tags,
    2 bytes each more."""
    alternatives = n_agents if not r.HasField("max_alternatives") else min(max(r.max_alternatives, 0), n_agents)
    required = r.constraints.required_capabilities
    inferred = capability_bytes if r.infer_capabilities else 0
    reason = max(_REASON_FIXED, 24 + sum(len(c.encode()) + 2 for c in required) + inferred) + name_bytes
    size = _DECISION_FIXED + 2 * name_bytes + 2 * inferred  # the route's name, the inferred field and note
    if not r.omit_reasoning:
        size += _REASONING_FIXED + _ROUTE_NOTE_FIXED + reason + 5 * name_bytes
    return size + alternatives * (_ALTERNATIVE_FIXED + name_bytes + reason)


def outcome_to_proto(o: OutcomeRecord) -> pb.Outcome:
    out = pb.Outcome(outcome_id=o.outcome_id, decision_id=o.decision_id or "", agent_name=o.agent_name,
                     recorded_at=ts(o.recorded_at), latency_ms=o.latency_ms, success=o.success,
                     input_tokens=o.input_tokens, output_tokens=o.output_tokens)
    if o.quality is not None:
        out.quality = o.quality
    if o.cost is not None:
        out.cost = o.cost
    return out


# -- embeddings and semantic routes ---------------------------------------------------------------

def vectors_from_proto(vectors: Sequence[pb.Vector], field: str) -> np.ndarray | None:
    """(m, d) float32 of repeated Vector, None when none were given; ragged rows are an error."""
    if not vectors:
        return None
    widths = {len(v.values) for v in vectors}
    if len(widths) != 1:
        raise InvalidArgument(field, f"every vector must have the same dimension, got {sorted(widths)}")
    return np.array([np.asarray(v.values, dtype=np.float32) for v in vectors], dtype=np.float32)


def embedding_from_proto(values: Sequence[float]) -> np.ndarray | None:
    return np.asarray(values, dtype=np.float32) if len(values) else None


def conditions_from_proto(c: pb.RouteConditions) -> RouteConditions:
    return RouteConditions(
        active_from_minute=c.active_from_minute if c.HasField("active_from_minute") else None,
        active_until_minute=c.active_until_minute if c.HasField("active_until_minute") else None,
        user_tiers=tuple(c.user_tiers),
        rate_limit_per_minute=c.rate_limit_per_minute if c.HasField("rate_limit_per_minute") else None)


def route_spec_from_proto(r: pb.SemanticRoute) -> RouteSpec:
    return RouteSpec(name=r.name, utterances=tuple(r.utterances), description=r.description,
                     target_agent=r.target_agent or None, priority=r.priority,
                     threshold=r.threshold if r.HasField("threshold") else None, group=r.group or None,
                     conditions=conditions_from_proto(r.conditions))


def route_to_proto(rec: RouteRecord, default_threshold: float, *, utterances: bool = True) -> pb.SemanticRoute:
    s, c = rec.spec, rec.spec.conditions
    cond = pb.RouteConditions(user_tiers=list(c.user_tiers))
    if c.active_from_minute is not None:
        cond.active_from_minute = c.active_from_minute
    if c.active_until_minute is not None:
        cond.active_until_minute = c.active_until_minute
    if c.rate_limit_per_minute is not None:
        cond.rate_limit_per_minute = c.rate_limit_per_minute
    out = pb.SemanticRoute(
        name=s.name, description=s.description, target_agent=s.target_agent or "", priority=s.priority,
        utterances=list(s.utterances) if utterances else [], group=s.group or "", conditions=cond,
        effective_threshold=s.threshold if s.threshold is not None else default_threshold, fitted=s.fitted,
        utterance_count=len(s.utterances), created_at=ts(rec.created_at), updated_at=ts(rec.updated_at))
    if s.threshold is not None:
        out.threshold = s.threshold
    return out


# The SemanticRoute fields UpdateRoute may set, and how each is read from the message.
_ROUTE_PATHS: Mapping[str, Any] = {
    "description": lambda r: r.description,
    "target_agent": lambda r: r.target_agent or None,
    "priority": lambda r: r.priority,
    "threshold": lambda r: r.threshold if r.HasField("threshold") else None,
    "group": lambda r: r.group or None,
    "conditions": lambda r: conditions_from_proto(r.conditions),
    "utterances": lambda r: tuple(r.utterances),
}


def route_patch_from_update(req: pb.UpdateRouteRequest) -> dict[str, Any]:
    """The fields an UpdateRoute sets: those in update_mask, else every field set in `route`
    (a threshold is cleared back to the default only by naming it in the mask)."""
    r = req.route
    if req.update_mask.paths:
        paths = list(req.update_mask.paths)
    else:
        paths = [f.name for f, _ in r.ListFields() if f.name in _ROUTE_PATHS]
    patch: dict[str, Any] = {}
    for p in paths:
        if p == "name":
            raise InvalidArgument("update_mask", "a route's name cannot be changed")
        if p not in _ROUTE_PATHS:
            raise InvalidArgument("update_mask", f"unknown field {shown(p)}; valid: {', '.join(_ROUTE_PATHS)}")
        patch[p] = _ROUTE_PATHS[p](r)
    return patch


def cosine(x: float) -> float:
    """A float32 cosine as the proto's [-1, 1] (rounding can put a unit vector's at 1.0000001)."""
    return min(1.0, max(-1.0, float(x)))


def match_to_proto(m: Any, default_threshold: float) -> pb.RouteMatch:
    s = m.spec
    # The threshold as declared, not its float32 copy in the search arrays.
    threshold = s.threshold if s.threshold is not None else default_threshold
    return pb.RouteMatch(route=s.name, similarity=cosine(m.similarity), confidence=float(m.confidence),
                         target_agent=s.target_agent or "", group=s.group or "", priority=s.priority,
                         threshold=threshold)


# -- the learned model --------------------------------------------------------------------------

def model_to_proto(m: ModelRecord) -> pb.ModelVersion:
    out = pb.ModelVersion(
        version=m.version, name=f"fastgrnn/{m.version}", status=m.status, source=m.source,
        fingerprint=m.fingerprint, embedder=m.embedder, dim=m.dim, features=m.features, agents=list(m.agents),
        metrics={k: float(v) for k, v in m.metrics.items() if v is not None and math.isfinite(v)},
        reason=m.reason, parent=m.parent or 0, created_at=ts(m.created_at))
    if m.finished_at is not None:
        out.finished_at.CopyFrom(ts(m.finished_at))
    if m.promoted_at is not None:
        out.promoted_at.CopyFrom(ts(m.promoted_at))
    return out


def _opt(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


CURVE_POINTS_MAX = 1000  # points of a curve sent (evenly spaced over its sweep; the hull is sent whole)


def evaluation_to_proto(version: str, e: ev.Evaluation, n: int, ece: float) -> pb.EvaluateResponse:
    routers = []
    for r in e.routers.values():
        hx, hy = r.hull
        keep = np.unique(np.linspace(0, r.curve.cost.size - 1, min(r.curve.cost.size, CURVE_POINTS_MAX)).astype(int))
        routers.append(pb.RouterEvaluation(
            name=r.name, auc=r.auc,
            at_fraction=[pb.FractionQuality(fraction=f, quality=_opt(r.at_fraction[f])) for f in e.fractions],
            cost_to_match_best=_opt(r.cost_to_match_best), dominance_margin=_opt(r.covered_margin),
            cheaper_agents=list(r.cheaper_agents),
            hull=[pb.CostQuality(cost=float(x), quality=float(y)) for x, y in zip(hx, hy, strict=True)],
            points=[pb.CurvePoint(cost=float(c), quality=float(q), willingness_to_pay=_opt(w))
                    for c, q, w in zip(r.curve.cost[keep], r.curve.quality[keep], r.curve.wtp[keep], strict=True)]))
    return pb.EvaluateResponse(
        model_version=version, requests=n,
        single_agents=[pb.SingleAgent(name=a, cost=c, quality=q) for a, (c, q) in e.single.items()],
        best_agent=e.best_agent, cheapest_agent=e.cheapest_agent,
        oracle=pb.CostQuality(cost=e.oracle_point[0], quality=e.oracle_point[1]), routers=routers,
        fractions=list(e.fractions), auc_cost_low=e.cost_range[0], auc_cost_high=e.cost_range[1],
        calibration_error=ece)


def evaluation_from_proto(r: pb.EvaluateResponse) -> ev.Evaluation:
    """The client's copy of the report (``routerd eval`` prints, dumps and plots it)."""
    nan = math.nan
    routers = {}
    for x in r.routers:
        hull = (np.array([p.cost for p in x.hull]), np.array([p.quality for p in x.hull]))
        curve = ev.Curve(x.name, np.array([p.cost for p in x.points]), np.array([p.quality for p in x.points]),
                         np.array([p.willingness_to_pay if p.HasField("willingness_to_pay") else nan
                                   for p in x.points]))
        at = {f.fraction: f.quality if f.HasField("quality") else nan for f in x.at_fraction}
        margin = x.dominance_margin if x.HasField("dominance_margin") else nan
        routers[x.name] = ev.RouterResult(
            x.name, curve, hull, x.auc, at, dict(at),
            x.cost_to_match_best if x.HasField("cost_to_match_best") else nan, margin, margin,
            tuple(x.cheaper_agents))
    return ev.Evaluation(tuple(a.name for a in r.single_agents), {a.name: (a.cost, a.quality) for a in r.single_agents},
                         r.best_agent, r.cheapest_agent, (r.auc_cost_low, r.auc_cost_high), tuple(r.fractions),
                         (r.oracle.cost, r.oracle.quality), routers)


# -- budgets, analytics, several agents ----------------------------------------------------------

_BUDGET_PATHS = ("amount", "window", "window_seconds", "scope", "mode", "willingness_to_pay")


def budget_spec_from_proto(b: pb.Budget) -> BudgetSpec:
    return BudgetSpec(b.name, b.amount, b.window, b.window_seconds if b.HasField("window_seconds") else None,
                      b.scope, b.mode or "hard",
                      b.willingness_to_pay if b.HasField("willingness_to_pay") else None)


def budget_to_proto(r: BudgetRecord) -> pb.Budget:
    s = r.spec
    out = pb.Budget(name=s.name, amount=s.amount, window=s.window_kind, scope=s.scope, mode=s.mode,
                    created_at=ts(r.created_at), updated_at=ts(r.updated_at))
    if s.window_seconds is not None:
        out.window_seconds = s.window_seconds
    if s.willingness_to_pay is not None:
        out.willingness_to_pay = s.willingness_to_pay
    return out


def budget_patch(req: pb.UpdateBudgetRequest) -> Callable[[BudgetSpec], BudgetSpec]:
    """The UpdateBudget change: the fields the mask names, else every field set in ``budget``."""
    b = req.budget
    paths = list(req.update_mask.paths)
    for p in paths:
        if p not in _BUDGET_PATHS:
            raise InvalidArgument("update_mask", f"unknown field {p!r}; valid: {', '.join(_BUDGET_PATHS)}")
    if not paths:
        paths = [p for p in _BUDGET_PATHS if (b.HasField(p) if p in ("window_seconds", "willingness_to_pay")
                                               else bool(getattr(b, p)))]
        if not paths:
            raise InvalidArgument("budget", "no field to update: set fields in budget or name them in update_mask")

    def change(s: BudgetSpec) -> BudgetSpec:
        values: dict[str, Any] = {}
        for p in paths:
            if p == "window":
                values["window_kind"] = b.window
                if "window_seconds" not in paths and b.window != "rolling":
                    values["window_seconds"] = None
            elif p in ("window_seconds", "willingness_to_pay"):
                values[p] = getattr(b, p) if b.HasField(p) else None
            else:
                values[p] = getattr(b, p)
        return dataclasses.replace(s, **values)

    return change


def spend_to_proto(r: SpendReport) -> pb.Spend:
    out = pb.Spend(budget=r.budget.name, window_start=ts(r.window_start), amount=r.budget.amount, settled=r.settled,
                   reserved=r.reserved, unreconciled=r.unreconciled, remaining=r.remaining, decisions=r.decisions,
                   unreconciled_decisions=r.unreconciled_decisions, mode=r.budget.mode, scope=r.budget.scope)
    if r.window_end is not None:
        out.window_end.CopyFrom(ts(r.window_end))
    return out


def analytics_row_to_proto(r: AnalyticsRow) -> pb.AnalyticsRow:
    out = pb.AnalyticsRow(key=r.key, requests=r.requests, without_outcome=r.without_outcome, outcomes=r.outcomes,
                          spend=r.spend, reference_cost=r.reference_cost, savings=r.savings)
    if r.bucket_start is not None:
        out.bucket_start.CopyFrom(ts(r.bucket_start))
    for name in ("mean_latency_ms", "p95_latency_ms", "success_rate", "mean_quality"):
        v = getattr(r, name)
        if v is not None:
            setattr(out, name, v)
    return out


def logged_decision_to_proto(r: DecisionRecord) -> pb.LoggedDecision:
    out = pb.LoggedDecision(decision_id=r.decision_id, decided_at=ts(r.decided_at), agent_name=r.agent_name or "",
                            objective=r.objective, model_version=r.model_version, route_name=r.route_name or "",
                            tags=json.loads(r.tags) if r.tags else [], request_id=r.request_id or "")
    for name in ("estimated_cost", "estimated_latency_ms", "expected_quality", "confidence", "reference_cost"):
        v = getattr(r, name)
        if v is not None:
            setattr(out, name, v)
    if r.cancelled_at is not None:
        out.cancelled_at.CopyFrom(ts(r.cancelled_at))
    return out


def multi_to_proto(d: Decision, plan: MultiPlan) -> pb.RouteMultiResponse:
    return pb.RouteMultiResponse(
        decision_id=d.decision_id, strategy=plan.strategy, routed=plan.routed,
        stages=[pb.RouteMultiStage(stage=i + 1, agent_name=st.agent_name, capabilities=list(st.capabilities),
                                   estimated_cost=st.estimated_cost, estimated_latency_ms=st.estimated_latency_ms,
                                   expected_quality=st.expected_quality, score=_finite_or_zero(st.score),
                                   reason=st.reason) for i, st in enumerate(plan.stages)],
        total_cost=plan.total_cost, total_latency_ms=plan.total_latency_ms, expected_quality=plan.expected_quality,
        reasoning=plan.reasoning, uncovered_capabilities=list(plan.uncovered), model_version=d.model_version)


def optimisation_to_proto(o: BudgetOptimisation) -> pb.OptimizeBudgetResponse:
    p = o.plan
    out = pb.OptimizeBudgetResponse(
        binding=p.binding,
        projected_spend=p.projected_spend, projected_quality=p.projected_quality,
        proportional_quality=p.proportional_quality, proportional_spend=p.proportional_spend,
        mix_requests=o.mix_requests, unmet_requests=p.unmet, scale=o.scale, period_days=o.period_days,
        minimum_spend=p.minimum_spend, feasible=p.feasible, applied_to_budget=o.applied_to_budget)
    setattr(out, "lambda", p.lam if math.isfinite(p.lam) else 0.0)  # a Python keyword: no keyword argument
    if p.willingness_to_pay is not None:
        out.willingness_to_pay = p.willingness_to_pay
    total = float(np.sum(p.spend))
    for i, name in enumerate(o.agents):
        if p.requests[i] > 0:
            out.allocations.add(agent_name=name, requests=float(p.requests[i]), spend=float(p.spend[i]),
                                share=float(p.spend[i]) / total if total > 0 else 0.0,
                                mean_quality=float(p.quality[i]))
    return out
