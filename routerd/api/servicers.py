"""gRPC servicers: thin translators between tinydancer.v1 messages and ``routerd.engine``.

Errors are mapped in one place (``STATUS``); anything unmapped is a bug, logged with its traceback
and returned as INTERNAL without internals.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass

from routerd import errors
from routerd.api.convert import (
    agent_to_proto,
    analytics_row_to_proto,
    budget_patch,
    budget_spec_from_proto,
    budget_to_proto,
    cosine,
    decision_size_bound,
    decision_to_proto,
    embedding_from_proto,
    evaluation_to_proto,
    logged_decision_to_proto,
    match_to_proto,
    model_to_proto,
    multi_to_proto,
    optimisation_to_proto,
    outcome_to_proto,
    patch_from_update,
    query_from_proto,
    route_patch_from_update,
    route_spec_from_proto,
    route_to_proto,
    spec_from_proto,
    spend_to_proto,
    time_from_proto,
    vectors_from_proto,
)
from routerd.client import FIELD_KEY
from routerd.config import Config
from routerd.engine.engine import Engine
from routerd.engine.learning import HOLDOUT_FRACTION, TrainEvent, TrainOptions
from routerd.engine.validation import check_time, decode_page_token, encode_page_token
from routerd.errors import BatchTooLarge
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg
from routerd.model.datasets import RoutingDataset, iter_records
from routerd.observability import current_request_id

log = logging.getLogger(__name__)

STATUS: dict[type[errors.TinyDancerError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.BudgetConflict: grpc.StatusCode.ABORTED,
    BatchTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_of(exc: errors.TinyDancerError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


F = TypeVar("F", bound=Callable[..., Any])


class Malformed:
    """What the request deserializer yields for bytes that are not a valid message, so the servicer
    can answer INVALID_ARGUMENT (grpc's own deserialization failure would be INTERNAL)."""

    def __init__(self, message_name: str):
        self.message_name = message_name


def safe_deserializer(cls: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return cls.FromString(data)
        except DecodeError:
            return Malformed(cls.DESCRIPTOR.full_name)

    return parse


_HANDLERS = {(False, False): grpc.unary_unary_rpc_method_handler,
             (False, True): grpc.unary_stream_rpc_method_handler,
             (True, False): grpc.stream_unary_rpc_method_handler,
             (True, True): grpc.stream_stream_rpc_method_handler}


def register(server: grpc.Server, servicer: Any, service: str) -> None:
    """Add ``servicer``'s methods for ``service`` (tinydancer.v1) with ``safe_deserializer``."""
    desc = pb.DESCRIPTOR.services_by_name[service]
    handlers = {
        m.name: _HANDLERS[(m.client_streaming, m.server_streaming)](
            getattr(servicer, m.name),
            request_deserializer=safe_deserializer(GetMessageClass(m.input_type)),
            response_serializer=GetMessageClass(m.output_type).SerializeToString)
        for m in desc.methods
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(desc.full_name, handlers),))
    server.add_registered_method_handlers(desc.full_name, handlers)


def _abort(context: grpc.ServicerContext, exc: Exception, where: str) -> None:
    """End the call with ``exc``'s status (its field in the trailing metadata); INTERNAL for a bug."""
    if isinstance(exc, errors.TinyDancerError):
        field = getattr(exc, "field", None)
        if field:  # structurally, so clients need not parse the message text
            context.set_trailing_metadata(((FIELD_KEY, field),))
        context.abort(status_of(exc), str(exc))
    log.error("internal error in %s", where, exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL, "internal error; see routerd's log")


def translate_errors(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, Malformed):
            context.set_trailing_metadata(((FIELD_KEY, "request"),))
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"request: not a valid {request.message_name}")
        try:
            return method(self, request, context)
        except Exception as e:
            _abort(context, e, method.__qualname__)

    return wrapper  # type: ignore[return-value]


def translate_stream_errors(method: F) -> F:
    """``translate_errors`` for a handler that yields its responses (server streaming)."""
    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            yield from method(self, request, context)
        except Exception as e:
            _abort(context, e, method.__qualname__)

    return wrapper  # type: ignore[return-value]


class AgentRegistryServicer(pbg.AgentRegistryServicer):
    def __init__(self, engine: Engine):
        self.engine = engine
        self.registry = engine.registry

    def _agent(self, rec: Any) -> pb.Agent:
        return agent_to_proto(rec, self.engine.policy, self.engine.clock())

    @translate_errors
    def RegisterAgent(self, request: pb.RegisterAgentRequest, context: grpc.ServicerContext) -> pb.Agent:
        return self._agent(self.registry.register(spec_from_proto(request.agent)))

    @translate_errors
    def UpdateAgent(self, request: pb.UpdateAgentRequest, context: grpc.ServicerContext) -> pb.Agent:
        return self._agent(self.registry.update(request.name, patch_from_update(request)))

    @translate_errors
    def RemoveAgent(self, request: pb.RemoveAgentRequest, context: grpc.ServicerContext) -> pb.RemoveAgentResponse:
        return pb.RemoveAgentResponse(agent=self._agent(self.engine.remove_agent(request.name)))

    @translate_errors
    def GetAgent(self, request: pb.GetAgentRequest, context: grpc.ServicerContext) -> pb.Agent:
        return self._agent(self.registry.get(request.name))

    @translate_errors
    def ListAgents(self, request: pb.ListAgentsRequest, context: grpc.ServicerContext) -> pb.ListAgentsResponse:
        recs, token = self.registry.list_page(
            capability=request.capability, agent_type=request.agent_type,
            active=request.active if request.HasField("active") else None,
            page_size=request.page_size, page_token=request.page_token)
        return pb.ListAgentsResponse(agents=[self._agent(r) for r in recs], next_page_token=token)

    @translate_errors
    def SetAgentActive(self, request: pb.SetAgentActiveRequest, context: grpc.ServicerContext) -> pb.Agent:
        return self._agent(self.registry.set_active(request.name, request.active))

    @translate_errors
    def FindAgentsByCapability(self, request: pb.FindAgentsByCapabilityRequest,
                               context: grpc.ServicerContext) -> pb.FindAgentsByCapabilityResponse:
        matches = self.registry.find_by_capability(request.capability, request.limit, request.active_only)
        return pb.FindAgentsByCapabilityResponse(
            matches=[pb.AgentMatch(agent=self._agent(r), similarity=s) for r, s in matches])


def _max_alternatives(r: pb.RouteRequest, prefix: str) -> int | None:
    if not r.HasField("max_alternatives"):
        return None
    if r.max_alternatives < 0:
        raise errors.InvalidArgument(f"{prefix}max_alternatives", f"must be >= 0, got {r.max_alternatives}")
    return r.max_alternatives


class RouterServicer(pbg.RouterServicer):
    """``max_message_bytes`` is the server's largest message (Config.max_message_bytes): a reply that
    could pass it is refused with RESOURCE_EXHAUSTED before anything is routed."""

    def __init__(self, engine: Engine, max_message_bytes: int = Config.max_message_bytes):
        self.engine = engine
        self.max_message_bytes = max_message_bytes

    def _check_reply_size(self, requests: Sequence[pb.RouteRequest], field: str) -> None:
        table = self.engine.table()
        name_bytes = max((len(n.encode()) for n in table.names), default=0)
        route_names = self.engine.routes.routes.names
        name_bytes = max(name_bytes, max((len(n.encode()) for n in route_names), default=0))
        caps = (sum(len(c.encode()) + 2 for c in frozenset().union(*table.capabilities))
                if any(r.infer_capabilities for r in requests) else 0)
        per_request = [decision_size_bound(r, len(table), name_bytes, caps) + 6 for r in requests]  # + tag, length
        total = sum(per_request)
        if total <= self.max_message_bytes:
            return
        fit = max(0, self.max_message_bytes // max(per_request)) if per_request else 0
        raise BatchTooLarge(field, (
            f"the reply could take {total} bytes ({len(requests)} decisions, {len(table)} agents, alternatives "
            f"as asked), over the {self.max_message_bytes}-byte message limit (max_message_bytes); ask for "
            f"fewer alternatives (max_alternatives, 0 for none), omit_reasoning, or send at most {fit} "
            f"requests a call"))

    @translate_errors
    def Route(self, request: pb.RouteRequest, context: grpc.ServicerContext) -> pb.RouteDecision:
        limit = _max_alternatives(request, "")
        self._check_reply_size((request,), "max_alternatives")
        query = query_from_proto(request)
        query.request_id = current_request_id()  # stored with the decision (routerd.observability)
        return decision_to_proto(self.engine.route(query), limit, reasoning=not request.omit_reasoning)

    @translate_errors
    def BatchRoute(self, request: pb.BatchRouteRequest, context: grpc.ServicerContext) -> pb.BatchRouteResponse:
        n = len(request.requests)
        if n > self.engine.batch_max_requests:  # before anything is converted
            raise errors.InvalidArgument("requests", f"at most {self.engine.batch_max_requests} requests a batch "
                                                     f"(batch_max_requests), got {n}")
        limits = [_max_alternatives(r, f"requests[{i}].") for i, r in enumerate(request.requests)]
        self._check_reply_size(request.requests, "requests")
        queries = [query_from_proto(r) for r in request.requests]
        rid = current_request_id()  # one id for the batch: every decision of it stores it
        for q in queries:
            q.request_id = rid
        ds = self.engine.route_batch(
            queries,
            batch_budget=request.batch_budget if request.HasField("batch_budget") else None,
            batch_objective=request.batch_objective)
        out = pb.BatchRouteResponse(decisions=[decision_to_proto(d, limit, reasoning=not r.omit_reasoning)
                                               for d, limit, r in zip(ds, limits, request.requests, strict=True)])
        if request.batch_objective == "total_cost":
            out.total_cost = sum(d.estimated_cost for d in ds if d.routed)
            out.total_quality = sum(d.expected_quality for d in ds if d.routed)
        return out

    @translate_errors
    def RouteMulti(self, request: pb.RouteMultiRequest, context: grpc.ServicerContext) -> pb.RouteMultiResponse:
        query = query_from_proto(request.request)
        query.request_id = current_request_id()
        d, plan = self.engine.route_multi(query, request.num_agents, request.strategy)
        return multi_to_proto(d, plan)


    @translate_errors
    def Embed(self, request: pb.EmbedRequest, context: grpc.ServicerContext) -> pb.EmbedResponse:
        vectors = self.engine.embed(list(request.texts))
        e = self.engine.embedder
        return pb.EmbedResponse(vectors=[pb.Vector(values=v) for v in vectors.tolist()], embedder=e.name, dim=e.dim)

    @translate_errors
    def SemanticRoute(self, request: pb.SemanticRouteRequest,
                      context: grpc.ServicerContext) -> pb.SemanticRouteResponse:
        result = self.engine.semantic_route(request.query, embedding_from_proto(request.embedding), request.top_k,
                                            dict(request.context))
        return pb.SemanticRouteResponse(
            matches=[match_to_proto(m, self.engine.routes.default_threshold) for m in result.matches],
            out_of_scope_probability=result.out_of_scope_probability,
            blocked=[pb.BlockedRoute(route=b.name, similarity=cosine(b.similarity), reason=b.reason)
                     for b in result.blocked])

    @translate_errors
    def Classify(self, request: pb.ClassifyRequest, context: grpc.ServicerContext) -> pb.ClassifyResponse:
        c = self.engine.classify(request.text, embedding_from_proto(request.embedding), request.top_k)
        return pb.ClassifyResponse(
            categories=[pb.Category(name=x.name, kind=x.kind, probability=x.probability) for x in c.categories],
            capabilities=[pb.CapabilityNeed(capability=x.capability, probability=x.probability)
                          for x in c.capabilities],
            top_category=c.top_category or "", confidence=c.confidence,
            out_of_scope_probability=c.out_of_scope_probability)


class RoutesServicer(pbg.RoutesServicer):
    def __init__(self, engine: Engine):
        self.engine = engine
        self.catalog = engine.routes

    def _route(self, rec: Any, utterances: bool = True) -> pb.SemanticRoute:
        return route_to_proto(rec, self.catalog.default_threshold, utterances=utterances)

    @translate_errors
    def CreateRoute(self, request: pb.CreateRouteRequest, context: grpc.ServicerContext) -> pb.SemanticRoute:
        vectors = vectors_from_proto(request.route.utterance_embeddings, "route.utterance_embeddings")
        return self._route(self.catalog.create(route_spec_from_proto(request.route), vectors,
                                               replace=request.replace))

    @translate_errors
    def UpdateRoute(self, request: pb.UpdateRouteRequest, context: grpc.ServicerContext) -> pb.SemanticRoute:
        patch = (route_patch_from_update(request)
                 if request.update_mask.paths or request.HasField("route") else {})
        vectors = vectors_from_proto(request.route.utterance_embeddings, "route.utterance_embeddings")
        if vectors is not None and "utterances" not in patch:
            raise errors.InvalidArgument("route.utterance_embeddings",
                                         "give them with the utterances they embed (update utterances)")
        return self._route(self.catalog.update(request.name, patch, add=list(request.add_utterances),
                                               remove=list(request.remove_utterances), vectors=vectors))

    @translate_errors
    def DeleteRoute(self, request: pb.DeleteRouteRequest, context: grpc.ServicerContext) -> pb.DeleteRouteResponse:
        return pb.DeleteRouteResponse(route=self._route(self.catalog.delete(request.name), utterances=False))

    @translate_errors
    def GetRoute(self, request: pb.GetRouteRequest, context: grpc.ServicerContext) -> pb.SemanticRoute:
        return self._route(self.catalog.get(request.name))

    @translate_errors
    def ListRoutes(self, request: pb.ListRoutesRequest, context: grpc.ServicerContext) -> pb.ListRoutesResponse:
        recs, token = self.catalog.list_page(request.page_size, request.page_token)
        return pb.ListRoutesResponse(routes=[self._route(r, request.include_utterances) for r in recs],
                                     next_page_token=token)

    @translate_errors
    def FitRoutes(self, request: pb.FitRoutesRequest, context: grpc.ServicerContext) -> pb.FitRoutesResponse:
        ex = request.examples
        objective = request.objective or "accuracy"
        result = self.catalog.fit(
            [e.text for e in ex], [embedding_from_proto(e.embedding) for e in ex], [e.route or None for e in ex],
            objective=objective,
            min_out_of_scope_recall=(request.min_out_of_scope_recall
                                     if request.HasField("min_out_of_scope_recall") else 0.0),
            dry_run=request.dry_run)
        return pb.FitRoutesResponse(
            routes=[pb.RouteFit(route=f.route, threshold_before=f.threshold_before, threshold_after=f.threshold_after,
                                support=f.support, precision_before=f.precision_before,
                                recall_before=f.recall_before, precision_after=f.precision_after,
                                recall_after=f.recall_after) for f in result.routes],
            before=_fit_metrics(result.before), after=_fit_metrics(result.after), applied=not request.dry_run,
            objective=objective)


def _fit_metrics(m: Any) -> pb.FitMetrics:
    return pb.FitMetrics(in_scope_accuracy=m.in_scope_accuracy, out_of_scope_recall=m.out_of_scope_recall,
                         accuracy=m.accuracy, macro_f1=m.macro_f1, calibration_error=m.calibration_error)


def _page_token(key: tuple[float, str]) -> str:
    return encode_page_token(repr(key[0]), key[1])


def _parse_page_token(token: str) -> tuple[float, str]:
    t, oid = decode_page_token(token, 2)
    try:
        return check_time(float(t), "page_token"), oid
    except (ValueError, errors.InvalidArgument):
        raise errors.InvalidArgument("page_token", "is not a token this server issued") from None


class FeedbackServicer(pbg.FeedbackServicer):
    def __init__(self, engine: Engine):
        self.engine = engine

    @translate_errors
    def RecordOutcome(self, request: pb.RecordOutcomeRequest,
                      context: grpc.ServicerContext) -> pb.RecordOutcomeResponse:
        outcome, rec = self.engine.record_outcome(
            decision_id=request.decision_id, agent_name=request.agent_name, latency_ms=request.latency_ms,
            success=request.success, quality=request.quality if request.HasField("quality") else None,
            cost=request.cost if request.HasField("cost") else None, input_tokens=request.input_tokens,
            output_tokens=request.output_tokens,
            recorded_at=(time_from_proto(request.recorded_at, "recorded_at") if request.HasField("recorded_at")
                         else None))
        agent = agent_to_proto(rec, self.engine.policy, self.engine.clock())
        return pb.RecordOutcomeResponse(outcome=outcome_to_proto(outcome), metrics=agent.metrics)

    @translate_errors
    def CancelDecision(self, request: pb.CancelDecisionRequest,
                       context: grpc.ServicerContext) -> pb.CancelDecisionResponse:
        released, already = self.engine.cancel_decision(request.decision_id)
        return pb.CancelDecisionResponse(
            decision_id=request.decision_id, already_cancelled=already,
            released=[pb.BudgetCharge(budget=c.budget_name, amount=c.estimate) for c in released])

    @translate_errors
    def ListOutcomes(self, request: pb.ListOutcomesRequest,
                     context: grpc.ServicerContext) -> pb.ListOutcomesResponse:
        size = request.page_size or 1000
        if not 0 < size <= 10_000:
            raise errors.InvalidArgument("page_size", f"must be in 0..10000, got {request.page_size}")
        rows = self.engine.list_outcomes(
            start=time_from_proto(request.start, "start") if request.HasField("start") else None,
            end=time_from_proto(request.end, "end") if request.HasField("end") else None,
            agent_name=request.agent_name, decision_id=request.decision_id, limit=size + 1,
            after=_parse_page_token(request.page_token) if request.page_token else None)
        token = _page_token((rows[size - 1].recorded_at, rows[size - 1].outcome_id)) if len(rows) > size else ""
        return pb.ListOutcomesResponse(outcomes=[outcome_to_proto(o) for o in rows[:size]], next_page_token=token)


class AnalyticsServicer(pbg.AnalyticsServicer):
    def __init__(self, engine: Engine):
        self.engine = engine

    @translate_errors
    def RoutingStats(self, request: pb.RoutingStatsRequest,
                     context: grpc.ServicerContext) -> pb.RoutingStatsResponse:
        s = self.engine.stats()
        out = pb.RoutingStatsResponse(agents=s.agents, active_agents=s.active_agents, decisions=s.decisions,
                                      outcomes=s.outcomes, total_spend=s.total_spend,
                                      model_version=s.model_version, open_circuits=s.open_circuits)
        if s.mean_quality is not None:
            out.mean_quality = s.mean_quality
        if s.success_rate is not None:
            out.success_rate = s.success_rate
        return out

    @translate_errors
    def RoutingAnalytics(self, request: pb.RoutingAnalyticsRequest,
                         context: grpc.ServicerContext) -> pb.RoutingAnalyticsResponse:
        group_by = request.group_by or "agent"
        rows = self.engine.routing_analytics(
            start=time_from_proto(request.start, "start") if request.HasField("start") else None,
            end=time_from_proto(request.end, "end") if request.HasField("end") else None, group_by=group_by)
        return pb.RoutingAnalyticsResponse(group_by=group_by, rows=[analytics_row_to_proto(r) for r in rows])

    @translate_errors
    def ListDecisions(self, request: pb.ListDecisionsRequest,
                      context: grpc.ServicerContext) -> pb.ListDecisionsResponse:
        size = request.page_size or 1000
        if not 0 < size <= 10_000:
            raise errors.InvalidArgument("page_size", f"must be in 0..10000, got {request.page_size}")
        rows = self.engine.list_decisions(
            start=time_from_proto(request.start, "start") if request.HasField("start") else None,
            end=time_from_proto(request.end, "end") if request.HasField("end") else None, limit=size + 1,
            after=_parse_page_token(request.page_token) if request.page_token else None)
        token = _page_token((rows[size - 1].decided_at, rows[size - 1].decision_id)) if len(rows) > size else ""
        return pb.ListDecisionsResponse(decisions=[logged_decision_to_proto(r) for r in rows[:size]],
                                        next_page_token=token)

    @translate_errors
    def OptimizeBudget(self, request: pb.OptimizeBudgetRequest,
                       context: grpc.ServicerContext) -> pb.OptimizeBudgetResponse:
        o = self.engine.optimize_budget(
            request.budget, period_days=request.period_days if request.HasField("period_days") else 30.0,
            start=time_from_proto(request.start, "start") if request.HasField("start") else None,
            end=time_from_proto(request.end, "end") if request.HasField("end") else None,
            queries=[query_from_proto(r) for r in request.requests],
            mix_days=request.mix_days if request.HasField("mix_days") else None,
            quality_threshold=request.quality_threshold if request.HasField("quality_threshold") else None,
            latency_threshold_ms=request.latency_threshold_ms if request.HasField("latency_threshold_ms") else None,
            apply_to_budget=request.apply_to_budget)
        return optimisation_to_proto(o)


class BudgetsServicer(pbg.BudgetsServicer):
    def __init__(self, engine: Engine):
        self.engine = engine
        self.book = engine.budgets

    @translate_errors
    def CreateBudget(self, request: pb.CreateBudgetRequest, context: grpc.ServicerContext) -> pb.Budget:
        return budget_to_proto(self.book.create(budget_spec_from_proto(request.budget)))

    @translate_errors
    def UpdateBudget(self, request: pb.UpdateBudgetRequest, context: grpc.ServicerContext) -> pb.Budget:
        if request.budget.name and request.budget.name != request.name:
            raise errors.InvalidArgument("budget.name", f"cannot rename budget {request.name!r} (delete and create)")
        return budget_to_proto(self.book.update(request.name, budget_patch(request)))

    @translate_errors
    def DeleteBudget(self, request: pb.DeleteBudgetRequest, context: grpc.ServicerContext) -> pb.DeleteBudgetResponse:
        return pb.DeleteBudgetResponse(budget=budget_to_proto(self.book.delete(request.name)))

    @translate_errors
    def GetBudget(self, request: pb.GetBudgetRequest, context: grpc.ServicerContext) -> pb.Budget:
        return budget_to_proto(self.book.get(request.name))

    @translate_errors
    def ListBudgets(self, request: pb.ListBudgetsRequest, context: grpc.ServicerContext) -> pb.ListBudgetsResponse:
        return pb.ListBudgetsResponse(budgets=[budget_to_proto(r) for r in self.book.records()])

    @translate_errors
    def GetSpend(self, request: pb.GetSpendRequest, context: grpc.ServicerContext) -> pb.GetSpendResponse:
        return pb.GetSpendResponse(spend=[spend_to_proto(r) for r in self.book.spend(request.budget)])


# -- the learned model ------------------------------------------------------------------------------

def _parts(requests: Iterator[Any], options_type: str) -> tuple[Any, Iterator[Any]]:
    """The options (the stream's first message) and an iterator over the dataset chunks after it."""
    first = next(requests, None)
    if first is None or isinstance(first, Malformed) or first.WhichOneof("part") != "options":
        raise errors.InvalidArgument("options", f"the stream's first message must carry {options_type}")

    def chunks() -> Iterator[Any]:
        for i, msg in enumerate(requests, start=1):
            if isinstance(msg, Malformed) or msg.WhichOneof("part") != "dataset":
                raise errors.InvalidArgument("dataset", f"message {i} of the stream: after the options only "
                                                        "dataset lines may follow")
            yield msg.dataset

    return first.options, chunks()


def _dataset(chunks: Iterator[Any], name: str) -> RoutingDataset:
    """The routing dataset of the streamed JSONL lines (errors name ``name``:LINE)."""
    lines = (line for chunk in chunks for line in chunk.lines)
    return RoutingDataset.from_records(iter_records(lines, name), name)  # type: ignore[arg-type]


def train_event_to_proto(e: TrainEvent) -> pb.TrainEvent:
    out = pb.TrainEvent(version=e.version, phase=e.phase, done=e.done, total=e.total, message=e.message)
    if e.train_loss is not None:
        out.train_loss = e.train_loss
    if e.validation_loss is not None:
        out.validation_loss = e.validation_loss
    if e.record is not None:
        out.model.CopyFrom(model_to_proto(e.record))
    return out


class ModelServicer(pbg.ModelServicer):
    def __init__(self, engine: Engine):
        self.engine = engine
        self.models = engine.models

    @translate_stream_errors
    def Train(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Iterator[pb.TrainEvent]:
        opts, chunks = _parts(request_iterator, "TrainOptions")
        name = opts.dataset_name or "dataset"
        if opts.from_dataset:
            dataset = _dataset(chunks, name)
        else:
            if next(chunks, None) is not None:
                raise errors.InvalidArgument("dataset", "dataset lines were sent but from_dataset is false")
            dataset = None
        if opts.holdout_fraction < 0 or opts.max_outcomes < 0:
            raise errors.InvalidArgument("holdout_fraction" if opts.holdout_fraction < 0 else "max_outcomes",
                                         "must not be negative")
        options = TrainOptions(dataset=dataset, seed=opts.seed,
                               holdout_fraction=opts.holdout_fraction or HOLDOUT_FRACTION,
                               max_outcomes=opts.max_outcomes or TrainOptions.max_outcomes,
                               hyperparameters=dict(opts.hyperparameters), promote=not opts.no_promote)
        job = self.models.start_training(options)
        yield pb.TrainEvent(version=job.version, phase="started",
                            message=f"training model version {job.version} in routerd")
        if opts.detach:
            return
        # The client may go away: the training goes on (routerd model list shows how it ended).
        for e in job.events():
            if not context.is_active():
                return
            yield train_event_to_proto(e)

    @translate_errors
    def Evaluate(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> pb.EvaluateResponse:
        opts, chunks = _parts(request_iterator, "EvaluateOptions")
        dataset = _dataset(chunks, opts.dataset_name or "dataset")
        if opts.version < 0:
            raise errors.InvalidArgument("version", f"must be >= 0 (0: the live model), got {opts.version}")
        version, result, ece = self.models.evaluate(dataset, opts.version or None, seed=opts.seed)
        return evaluation_to_proto(version, result, int(dataset.complete().sum()), ece)

    @translate_errors
    def ModelInfo(self, request: pb.ModelInfoRequest, context: grpc.ServicerContext) -> pb.ModelVersion:
        if request.version < 0:
            raise errors.InvalidArgument("version", f"must be >= 0 (0: the live model), got {request.version}")
        rec = self.models.info(request.version or None)
        if rec is None:
            raise errors.ModelNotFound("live", field="version")
        return model_to_proto(rec)

    @translate_errors
    def ListModels(self, request: pb.ListModelsRequest, context: grpc.ServicerContext) -> pb.ListModelsResponse:
        live = self.models.live
        job = self.models.training
        return pb.ListModelsResponse(models=[model_to_proto(m) for m in self.models.versions()],
                                     live_version=live.number if live is not None else 0,
                                     training_version=job.version if job is not None else 0)

    @translate_errors
    def Promote(self, request: pb.PromoteRequest, context: grpc.ServicerContext) -> pb.ModelVersion:
        if request.version <= 0:
            raise errors.InvalidArgument("version", f"must be a model version >= 1, got {request.version}")
        return model_to_proto(self.models.promote(request.version))

    @translate_errors
    def Rollback(self, request: pb.RollbackRequest, context: grpc.ServicerContext) -> pb.RollbackResponse:
        rec = self.models.rollback()
        return pb.RollbackResponse(live=model_to_proto(rec)) if rec is not None else pb.RollbackResponse()
