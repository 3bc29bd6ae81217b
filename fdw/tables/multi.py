"""Several agents, a whole budget, a whole batch: three virtual tables whose inputs are given in WHERE
with ``=`` and echoed back on every row (so PostgreSQL's recheck passes).

``tinydancer.route_multi``: one RouteMulti call, one row per stage (stage 1, 2, ...).

    SELECT stage, agent_name, capabilities, estimated_cost FROM tinydancer.route_multi
     WHERE request = 'Build and deploy a web application' AND num_agents = 3 AND strategy = 'pipeline';

    inputs    request (or request_embedding), num_agents (1 .. registered agents), strategy (pipeline |
              parallel | ensemble), and the decision inputs of tinydancer.decisions: optimize_for,
              required_capabilities, excluded_agents, max_cost, max_latency_ms, min_quality,
              budget_remaining, willingness_to_pay, input_tokens, output_tokens, tags
    per stage stage, agent_name, capabilities (those it covers or adds), estimated_cost,
              estimated_latency_ms, expected_quality, score, reason
    the plan  decision_id, routed, total_cost, total_latency_ms (pipeline: the sum; parallel and ensemble:
              the slowest stage), plan_quality (pipeline: the product; parallel: the best; ensemble:
              1 - prod(1 - q)), reasoning, uncovered_capabilities, model_version: the same on every row.
              When no stage could be filled there is one row, routed = false, stage NULL, and reasoning
              says why.

``tinydancer.budget_plan``: one OptimizeBudget call, one row per agent of the allocation, the plan's
totals repeated on each (one row with agent_name NULL when no agent gets traffic).

    SELECT agent_name, spend, share, willingness_to_pay FROM tinydancer.budget_plan
     WHERE budget = 100 AND quality_threshold = 0.85;

    inputs    budget (USD over the period, > 0; required), period_days (default 30), quality_threshold,
              latency_threshold_ms, since / until (the decisions whose requests are the mix; default the
              last 7 days, scaled to the period), apply_to_budget (store the solution's willingness to pay
              on that budget of tinydancer.budgets)
    per agent agent_name, requests, spend, share, mean_quality (projected over the period)
    the plan  willingness_to_pay (NULL when the budget is not binding), lambda, binding, projected_spend,
              projected_quality, proportional_spend, proportional_quality (the seed's proportional split
              of the same mix), mix_requests, unmet_requests, scale, minimum_spend, feasible,
              applied_to_budget

``tinydancer.batch_routes``: one BatchRoute call over an array of requests in its order, with a
batch budget: one row per request (``position`` is its 1-based place), the batch's totals repeated.

    SELECT position, agent_name, estimated_cost FROM tinydancer.batch_routes
     WHERE requests = ARRAY['a', 'b'] AND batch_objective = 'total_cost' AND batch_budget = 0.05;

    inputs    requests text[] (no NULLs; at most 10,000: the whole array is echoed on every row),
              batch_budget (USD for the whole batch), batch_objective ('in_order' (default): each request
              by optimize_for, in order, reserving from the batch budget; 'total_cost': the batch's total
              expected quality maximised within batch_budget, one Lagrangian solve), optimize_for,
              and the constraints required_capabilities, excluded_agents, max_cost, max_latency_ms,
              min_quality, tags (shared by every request)
    outputs   position, request, decision_id, routed, agent_name, confidence, estimated_cost,
              estimated_latency_ms, expected_quality, reasoning, charges; total_cost, total_quality
              and lambda (batch_objective total_cost only) on every row
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import grpc

from fdw.errors import FEATURE_NOT_SUPPORTED, NULL_VALUE_NOT_ALLOWED, RoutedError, fail
from fdw.tables.base import (
    GUARD,
    Column,
    Columns,
    Row,
    TinyDancer,
    as_float,
    as_int,
    as_list,
    as_time,
    inputs_from_quals,
    read_only,
    timestamp,
)
from fdw.tables.routing import (
    CAPABILITY_THRESHOLD_HINT,
    EMBEDDING_HINT,
    INPUT_TYPES,
    INPUTS,
    OBJECTIVE_HINT,
    TAGS_HINT,
    route_request,
)
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

STRATEGIES = ("pipeline", "parallel", "ensemble")
STRATEGY_HINT = (f"strategy is one of {', '.join(STRATEGIES)}: pipeline covers the required capabilities in stages, "
                 "parallel picks diverse agents, ensemble the most likely to succeed together.")
NUM_AGENTS_HINT = "num_agents is 1 .. the number of registered agents (SELECT count(*) FROM tinydancer.agents)."
ROUTE_HINTS = {"objective": OBJECTIVE_HINT, "embedding": EMBEDDING_HINT,
               "capability_threshold": CAPABILITY_THRESHOLD_HINT, "tags": TAGS_HINT,
               **{f"tags[{i}]": TAGS_HINT for i in range(32)}}


def _request_hints(prefix: str) -> dict[str, str]:
    return {f"{prefix}{k}": v for k, v in ROUTE_HINTS.items()}


# -- tinydancer.route_multi -------------------------------------------------------------------------------

MULTI_INPUTS = (*INPUTS, "num_agents", "strategy", "tags")
MULTI_INPUT_TYPES = (*INPUT_TYPES, "integer", "text", "text[]")


class _Part:
    """One row of a response that repeats its totals on every row: a part of it (a plan's stage, a
    budget plan's allocation; None when there is none) with the whole (the getters read both)."""

    __slots__ = ("part", "whole")

    def __init__(self, whole: Any, part: Any):
        self.whole, self.part = whole, part


def _st(get: Any) -> Any:
    return lambda r: None if r.part is None else get(r.part)


def _plan(get: Any) -> Any:
    return lambda r: get(r.whole)


class RouteMulti(TinyDancer):
    resource = "route_multi"
    COLUMNS = Columns(
        *(Column(n, t) for n, t in zip(MULTI_INPUTS, MULTI_INPUT_TYPES, strict=True)),
        Column("stage", "integer", _st(lambda st: st.stage)),
        Column("agent_name", "text", _st(lambda st: st.agent_name)),
        Column("capabilities", "text[]", _st(lambda st: list(st.capabilities))),
        Column("estimated_cost", "float8", _st(lambda st: st.estimated_cost)),
        Column("estimated_latency_ms", "float8", _st(lambda st: st.estimated_latency_ms)),
        Column("expected_quality", "float8", _st(lambda st: st.expected_quality)),
        Column("score", "float8", _st(lambda st: st.score)),
        Column("reason", "text", _st(lambda st: st.reason or None)),
        Column("decision_id", "text", _plan(lambda p: p.decision_id)),
        Column("routed", "boolean", _plan(lambda p: p.routed)),
        Column("total_cost", "float8", _plan(lambda p: p.total_cost)),
        Column("total_latency_ms", "float8", _plan(lambda p: p.total_latency_ms)),
        Column("plan_quality", "float8", _plan(lambda p: p.expected_quality)),
        Column("reasoning", "text", _plan(lambda p: p.reasoning)),
        Column("uncovered_capabilities", "text[]", _plan(lambda p: list(p.uncovered_capabilities))),
        Column("model_version", "text", _plan(lambda p: p.model_version)),
    )
    FIELD_HINTS = {"num_agents": NUM_AGENTS_HINT, "strategy": STRATEGY_HINT, **ROUTE_HINTS,
                   **_request_hints("request.")}
    INVALID_HINT = f"{STRATEGY_HINT} {NUM_AGENTS_HINT}"

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("route_multi", "Plan with SELECT ... FROM tinydancer.route_multi WHERE request = '...' AND "
                                 "num_agents = 3 AND strategy = 'pipeline'.")

    def get_path_keys(self) -> list[tuple[tuple[str, ...], int]]:
        # A join may supply the request per outer row (FROM asks a JOIN tinydancer.route_multi m ON
        # m.request = a.body WHERE m.num_agents = 2 AND ...). A few stages each, declared as one row: a
        # key's rows times the outer rows is the join's estimate, and past GUARD the planner would take
        # the plain scan, which has no request (tests/fdw/test_tables.py holds every table to 1).
        return [(("request",), 1), (("request_embedding",), 1)]

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        # A few stages; see fdw.tables.base.GUARD for why a scan with no constant request costs GUARD.
        if any(q.field_name in ("request", "request_embedding") and q.operator == "=" for q in quals):
            return (3, GUARD // 3)
        return (GUARD, 1)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        given = inputs_from_quals(quals, MULTI_INPUTS)
        if given is None:
            return
        if given.get("request") is None and given.get("request_embedding") is None:
            fail("tinydancer.route_multi needs a request to plan for",
                 hint="Add WHERE request = '...' AND num_agents = 3 AND strategy = 'pipeline' "
                      "(or request_embedding = '{...}').")
        for col, hint in (("num_agents", NUM_AGENTS_HINT), ("strategy", STRATEGY_HINT)):
            if given.get(col) is None:
                fail(f"tinydancer.route_multi needs {col}", hint=f"Add WHERE {col} = ...: {hint}",
                     sqlstate=NULL_VALUE_NOT_ALLOWED)
        req = pb.RouteMultiRequest(request=route_request(given, None),
                                   num_agents=as_int(given["num_agents"], "num_agents") or 0,
                                   strategy=str(given["strategy"]))
        plan = self.rpc("RouteMulti", req)
        echo = {k: given.get(k) for k in MULTI_INPUTS}
        getters = self.COLUMNS.getters(columns)
        stages: list[pb.RouteMultiStage | None] = [*plan.stages] or [None]
        for st in stages:
            s = _Part(plan, st)
            yield {**echo, **{name: get(s) for name, get in getters}}


# -- tinydancer.budget_plan ---------------------------------------------------------------------------------

PLAN_INPUTS = ("budget", "period_days", "quality_threshold", "latency_threshold_ms", "since", "until",
               "apply_to_budget")
PLAN_INPUT_TYPES = ("float8", "float8", "float8", "float8", "timestamptz", "timestamptz", "text")
BUDGET_HINT = "budget is the USD to spend over the period: a finite number > 0, e.g. WHERE budget = 100."
PERIOD_DAYS_HINT = "period_days is the period the budget covers, 1 .. 3660 days (default 30)."
THRESHOLD_HINT = ("quality_threshold is in [0, 1] (default 0); latency_threshold_ms > 0 (default none): an agent "
                  "must meet both for a request to use it.")
MIX_HINT = ("The mix is the decisions made in [since, until) (default the last 7 days): route some requests first, "
            "or widen the range (since = now() - interval '30 days').")
APPLY_HINT = "apply_to_budget names a budget of tinydancer.budgets (SELECT name FROM tinydancer.budgets)."


class BudgetPlan(TinyDancer):
    resource = "budget_plan"
    COLUMNS = Columns(
        *(Column(n, t) for n, t in zip(PLAN_INPUTS, PLAN_INPUT_TYPES, strict=True)),
        Column("agent_name", "text", _st(lambda a: a.agent_name)),
        Column("requests", "float8", _st(lambda a: a.requests)),
        Column("spend", "float8", _st(lambda a: a.spend)),
        Column("share", "float8", _st(lambda a: a.share)),
        Column("mean_quality", "float8", _st(lambda a: a.mean_quality)),
        Column("willingness_to_pay", "float8",
               _plan(lambda p: p.willingness_to_pay if p.HasField("willingness_to_pay") else None)),
        Column("lambda", "float8", _plan(lambda p: getattr(p, "lambda"))),
        Column("binding", "boolean", _plan(lambda p: p.binding)),
        Column("projected_spend", "float8", _plan(lambda p: p.projected_spend)),
        Column("projected_quality", "float8", _plan(lambda p: p.projected_quality)),
        Column("proportional_spend", "float8", _plan(lambda p: p.proportional_spend)),
        Column("proportional_quality", "float8", _plan(lambda p: p.proportional_quality)),
        Column("mix_requests", "bigint", _plan(lambda p: p.mix_requests)),
        Column("unmet_requests", "bigint", _plan(lambda p: p.unmet_requests)),
        Column("scale", "float8", _plan(lambda p: p.scale)),
        Column("minimum_spend", "float8", _plan(lambda p: p.minimum_spend)),
        Column("feasible", "boolean", _plan(lambda p: p.feasible)),
        Column("applied_to_budget", "text", _plan(lambda p: p.applied_to_budget or None)),
    )
    FIELD_HINTS = {"budget": BUDGET_HINT, "period_days": PERIOD_DAYS_HINT, "quality_threshold": THRESHOLD_HINT,
                   "latency_threshold_ms": THRESHOLD_HINT, "requests": MIX_HINT, "start": MIX_HINT, "end": MIX_HINT,
                   "apply_to_budget": APPLY_HINT}
    INVALID_HINT = MIX_HINT

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("budget_plan", "Plan with SELECT ... FROM tinydancer.budget_plan WHERE budget = 100; apply a plan "
                                 "with WHERE ... AND apply_to_budget = '<budget name>'.")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (5, 1000)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        given = inputs_from_quals(quals, PLAN_INPUTS)
        if given is None:
            return
        budget = as_float(given.get("budget"), "budget")
        if budget is None:
            fail("tinydancer.budget_plan needs a budget", hint=f"Add WHERE budget = ...: {BUDGET_HINT}",
                 sqlstate=NULL_VALUE_NOT_ALLOWED)
        req = pb.OptimizeBudgetRequest(budget=budget, apply_to_budget=str(given.get("apply_to_budget") or ""))
        for col in ("period_days", "quality_threshold", "latency_threshold_ms"):
            v = as_float(given.get(col), col)
            if v is not None:
                setattr(req, col, v)
        for col, field in (("since", "start"), ("until", "end")):
            t = as_time(given.get(col), col)
            if t is not None:
                try:
                    getattr(req, field).CopyFrom(timestamp(t))
                except (OverflowError, ValueError):
                    fail(f"column {col}: {given[col]} is out of range", hint=MIX_HINT)
        plan = self._optimize(req)
        echo = {k: given.get(k) for k in PLAN_INPUTS}
        if "period_days" not in given:
            echo["period_days"] = plan.period_days  # not a condition: the period routerd used
        getters = self.COLUMNS.getters(columns)
        allocations: list[pb.AgentAllocation | None] = [*plan.allocations] or [None]
        for a in allocations:
            x = _Part(plan, a)
            yield {**echo, **{name: get(x) for name, get in getters}}

    def _optimize(self, req: pb.OptimizeBudgetRequest) -> pb.OptimizeBudgetResponse:
        """OptimizeBudget; its NOT_FOUND is apply_to_budget's (a budget that does not exist)."""
        try:
            resp: pb.OptimizeBudgetResponse = self.client.call("OptimizeBudget", req)
            return resp
        except RoutedError as e:
            hint = e.hint
            if hint is None and e.code == grpc.StatusCode.NOT_FOUND:
                hint = APPLY_HINT
            elif hint is None and e.code == grpc.StatusCode.INVALID_ARGUMENT:
                hint = self.FIELD_HINTS.get((e.field or "").split("[", 1)[0], self.INVALID_HINT)
            fail(e.message, hint, e.detail, sqlstate=e.sqlstate)


# -- tinydancer.batch_routes --------------------------------------------------------------------------------

BATCH_SHARED = ("optimize_for", "required_capabilities", "excluded_agents", "max_cost", "max_latency_ms",
                "min_quality", "tags")
BATCH_INPUTS = ("requests", "batch_budget", "batch_objective", *BATCH_SHARED)
BATCH_INPUT_TYPES = ("text[]", "float8", "text", "text", "text[]", "text[]", "float8", "float8", "float8", "text[]")
BATCH_OBJECTIVES = ("in_order", "total_cost")
BATCH_OBJECTIVE_HINT = ("batch_objective is 'in_order' (each request by optimize_for, in order, reserving from "
                        "batch_budget) or 'total_cost' (the best total expected quality within batch_budget, "
                        "which it requires).")
BATCH_BUDGET_HINT = "batch_budget is the USD the whole batch may spend: a finite number >= 0."
MAX_BATCH = 10_000  # the array is echoed on every row (PostgreSQL rechecks requests = ...): quadratic beyond


def _charges(d: pb.RouteDecision) -> str:
    return json.dumps([{"budget": c.budget, "amount": c.amount} for c in d.charges])


class _Routed:
    __slots__ = ("d", "i", "resp", "text")

    def __init__(self, resp: pb.BatchRouteResponse, i: int, text: str):
        self.resp, self.i, self.text = resp, i, text
        self.d = resp.decisions[i]


def _dr(field: str, only_routed: bool = True) -> Any:
    return lambda r: getattr(r.d, field) if r.d.routed or not only_routed else None


class BatchRoutes(TinyDancer):
    resource = "batch_routes"
    COLUMNS = Columns(
        *(Column(n, t) for n, t in zip(BATCH_INPUTS, BATCH_INPUT_TYPES, strict=True)),
        Column("position", "integer", lambda r: r.i + 1),
        Column("request", "text", lambda r: r.text),
        Column("decision_id", "text", lambda r: r.d.decision_id),
        Column("routed", "boolean", lambda r: r.d.routed),
        Column("agent_name", "text", lambda r: r.d.agent_name or None),
        Column("confidence", "float8", _dr("confidence")),
        Column("estimated_cost", "float8", _dr("estimated_cost")),
        Column("estimated_latency_ms", "float8", _dr("estimated_latency_ms")),
        Column("expected_quality", "float8", _dr("expected_quality")),
        Column("reasoning", "text", lambda r: r.d.reasoning),
        Column("charges", "jsonb", lambda r: _charges(r.d)),
        Column("total_cost", "float8", lambda r: r.resp.total_cost),
        Column("total_quality", "float8", lambda r: r.resp.total_quality),
        Column("lambda", "float8", lambda r: getattr(r.resp, "lambda")),
    )
    FIELD_HINTS = {"batch_budget": BATCH_BUDGET_HINT, "batch_objective": BATCH_OBJECTIVE_HINT, **ROUTE_HINTS}
    INVALID_HINT = f"{BATCH_OBJECTIVE_HINT} {OBJECTIVE_HINT}"

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("batch_routes", "Route with SELECT ... FROM tinydancer.batch_routes WHERE requests = ARRAY[...] "
                                  "AND batch_budget = ...")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        for q in quals:
            if q.field_name == "requests" and q.operator == "=" and isinstance(q.value, list):
                return (max(len(q.value), 1), 1)
        return (GUARD, 1)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        given = inputs_from_quals(quals, BATCH_INPUTS)
        if given is None:
            return
        if given.get("requests") is None:
            fail("tinydancer.batch_routes needs the requests to route",
                 hint="Add WHERE requests = ARRAY['...', '...'] (for more than 10,000 use tinydancer.route_batch).",
                 sqlstate=NULL_VALUE_NOT_ALLOWED)
        if isinstance(given["requests"], list) and any(t is None for t in given["requests"]):
            fail("column requests: array elements must not be NULL",
                 hint="Leave NULLs out: array_remove(requests, NULL).", sqlstate=NULL_VALUE_NOT_ALLOWED)
        texts = as_list(given["requests"], "requests")
        if len(texts) > MAX_BATCH:
            fail(f"tinydancer.batch_routes takes at most {MAX_BATCH} requests, not {len(texts)}",
                 hint="Split the array, or route it with tinydancer.route_batch (no batch budget).",
                 sqlstate=FEATURE_NOT_SUPPORTED)
        objective = str(given.get("batch_objective") or "")
        if objective and objective not in BATCH_OBJECTIVES:
            fail(f"column batch_objective: unknown objective {objective!r}", hint=BATCH_OBJECTIVE_HINT)
        budget = as_float(given.get("batch_budget"), "batch_budget")
        if objective == "total_cost" and budget is None:
            fail("batch_objective 'total_cost' needs a batch_budget", hint=BATCH_OBJECTIVE_HINT,
                 sqlstate=NULL_VALUE_NOT_ALLOWED)
        shared: Mapping[str, Any] = {k: given.get(k) for k in BATCH_SHARED}
        template = route_request(shared, {"reasoning"} if columns is None or "reasoning" in columns else set())
        req = pb.BatchRouteRequest(batch_objective=objective)
        for text in texts:
            r = req.requests.add()
            r.CopyFrom(template)
            r.request = text
        if budget is not None:
            req.batch_budget = budget
        if not texts:
            return
        resp = self.rpc("BatchRoute", req, timeout_s=self.settings.timeout_s * (1 + len(texts) / 1000))
        if len(resp.decisions) != len(texts):
            fail(f"routerd returned {len(resp.decisions)} decisions for {len(texts)} requests")
        echo = {k: given.get(k) for k in BATCH_INPUTS}
        getters = self.COLUMNS.getters(columns)
        for i, text in enumerate(texts):
            routed = _Routed(resp, i, text)
            yield {**echo, **{name: get(routed) for name, get in getters}}


__all__ = ["BatchRoutes", "BudgetPlan", "RouteMulti"]
