"""The ``routerd`` command: ``serve``, and clients that talk to a running routerd over gRPC."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from routerd.client import BadTarget, Stubs, bearer, error_field, open_channel
from routerd.errors import InvalidArgument, TinyDancerError
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb


def _serve(args: argparse.Namespace) -> int:
    from routerd.config import load_config
    from routerd.observability import configure_logging
    from routerd.server import serve

    flags = {"listen": args.listen, "data_dir": args.data_dir, "store": args.store, "embedder": args.embedder,
             "token": args.token, "token_file": args.token_file, "tls_cert": args.tls_cert,
             "tls_key": args.tls_key, "workers": args.workers, "reembed_routes": args.reembed_routes or None,
             "metrics_listen": args.metrics_listen, "log_format": args.log_format,
             "http_listen": args.http_listen, "otlp_endpoint": args.otlp_endpoint}
    cfg = load_config(flags, config_file=args.config)
    configure_logging(cfg.log_format, os.environ.get("TINYDANCER_LOG_LEVEL", "INFO"))
    return serve(cfg)


DEFAULT_TIMEOUT_S = 10.0
DATASET_CHUNK_BYTES = 1 << 20  # dataset lines are streamed to routerd in messages of about this size


class Client(Stubs):
    """routerd's stubs (routerd.client) with the command line's target, TLS CA, token and timeout."""

    def __init__(self, args: argparse.Namespace):
        super().__init__(open_channel(args.target, tls_ca=args.tls_ca))
        self.metadata = bearer(args.token)
        self.timeout = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT_S
        self.long_timeout = args.timeout  # route-batch, train and eval: none unless --timeout is given

    def call(self, method: Any, request: Any) -> Any:
        return method(request, timeout=self.timeout, metadata=self.metadata)

    def pages(self, method: Any, request: Any, items: str) -> Iterator[Any]:
        """Every item (the response field ``items``) of a paged list call, page after page."""
        while True:
            resp = self.call(method, request)
            yield from getattr(resp, items)
            if not resp.next_page_token:
                return
            request.page_token = resp.next_page_token


def _print(msg: Any, as_json: bool) -> None:
    d = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    if as_json:
        print(json.dumps(d, separators=(",", ":")), flush=True)
    else:
        print(json.dumps(d, indent=2))


def _constraints(args: argparse.Namespace) -> pb.Constraints:
    c = pb.Constraints(required_capabilities=args.capability or [], excluded_agents=args.exclude or [])
    for name in ("max_cost", "max_latency_ms", "min_quality"):
        if getattr(args, name) is not None:
            setattr(c, name, getattr(args, name))
    return c


def _route_request(args: argparse.Namespace, text: str) -> pb.RouteRequest:
    r = pb.RouteRequest(request=text, objective=args.objective or "", constraints=_constraints(args))
    if args.max_alternatives is not None:
        r.max_alternatives = args.max_alternatives
    for name in ("budget_remaining", "willingness_to_pay"):
        if getattr(args, name) is not None:
            setattr(r, name, getattr(args, name))
    return r


def _agents(args: argparse.Namespace) -> int:
    c = Client(args)
    if args.agents_cmd == "add":
        spec = pb.AgentSpec(
            name=args.name, agent_type=args.type, capabilities=args.capabilities or [],
            cost=pb.CostModel(per_1k_input_tokens=args.cost_per_1k_input, per_1k_output_tokens=args.cost_per_1k_output,
                              per_call=args.cost_per_call, per_second=args.cost_per_second),
            metadata_json=args.metadata, active=not args.inactive)
        if args.latency_ms is not None:
            spec.latency_prior_ms = args.latency_ms
        if args.quality is not None:
            spec.quality_prior = args.quality
        _print(c.call(c.registry.RegisterAgent, pb.RegisterAgentRequest(agent=spec)), args.json)
    elif args.agents_cmd == "list":
        req = pb.ListAgentsRequest(capability=args.capability or "", agent_type=args.type or "", page_size=1000)
        for a in c.pages(c.registry.ListAgents, req, "agents"):
            if args.json:
                _print(a, True)
            else:
                m = a.metrics
                print(f"{a.spec.name:30} {a.spec.agent_type:10} active={a.spec.active!s:5} "
                      f"health={m.health:9} requests={m.total_requests:<6} "
                      f"quality={m.expected_quality:.3f} caps={','.join(a.spec.capabilities)}")
    elif args.agents_cmd == "remove":
        _print(c.call(c.registry.RemoveAgent, pb.RemoveAgentRequest(name=args.name)), args.json)
    return 0


def _route(args: argparse.Namespace) -> int:
    c = Client(args)
    _print(c.call(c.router.Route, _route_request(args, args.text)), args.json)
    return 0


def _route_batch(args: argparse.Namespace) -> int:
    c = Client(args)
    requests = []
    lines = sys.stdin if args.file == "-" else Path(args.file).open()
    with lines:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidArgument(f"{args.file}:{n}", f"not JSON ({e.msg})") from None
            if isinstance(item, str):
                item = {"request": item}
            if not isinstance(item, dict):
                raise InvalidArgument(f"{args.file}:{n}", "each line must be a JSON object or string")
            if "prompt" in item and "request" not in item:  # a routing-dataset line: route its prompt
                if not isinstance(item["prompt"], str):
                    raise InvalidArgument(f"{args.file}:{n}", "prompt must be a string")
                item = {"request": item["prompt"]}
            base = _route_request(args, "")
            try:
                json_format.ParseDict(item, base, ignore_unknown_fields=False)
            except json_format.ParseError as e:
                raise InvalidArgument(f"{args.file}:{n}", str(e)) from None
            requests.append(base)
    # A batch's time grows with its size (texts are embedded): no deadline unless --timeout is given.
    resp = c.router.BatchRoute(pb.BatchRouteRequest(requests=requests), timeout=c.long_timeout, metadata=c.metadata)
    for d in resp.decisions:
        _print(d, True if args.json else False)
    return 0


def _outcome(args: argparse.Namespace) -> int:
    c = Client(args)
    req = pb.RecordOutcomeRequest(decision_id=args.decision_id or "", agent_name=args.agent or "",
                                  latency_ms=args.latency_ms, success=not args.failure,
                                  input_tokens=args.input_tokens, output_tokens=args.output_tokens)
    if args.quality is not None:
        req.quality = args.quality
    if args.cost is not None:
        req.cost = args.cost
    _print(c.call(c.feedback.RecordOutcome, req), args.json)
    return 0


def _stats(args: argparse.Namespace) -> int:
    c = Client(args)
    _print(c.call(c.analytics.RoutingStats, pb.RoutingStatsRequest()), args.json)
    return 0


# -- budgets, spend, analytics, budget optimisation ------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhdw])")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_MAX_S = 3.2e11  # past routerd's earliest time anyway; keeps the nanoseconds an int64


def _duration_s(text: str, field: str) -> float:
    """Seconds of a duration such as ``7d``, ``12h``, ``1w2d`` or ``90m`` (units s m h d w)."""
    s = text.strip().lower()
    parts = _DURATION.findall(s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise InvalidArgument(field, f"must be a duration such as 7d, 12h, 30m or 1w2d, got {text!r}")
    seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    if not 0 < seconds <= _DURATION_MAX_S:
        raise InvalidArgument(field, f"must be longer than zero and at most 10000 years, got {text!r}")
    return seconds


def _timestamp(text: str, field: str) -> Timestamp:
    """An ISO 8601 time (``2026-12-01``, ``2026-12-01T09:30:00Z``, with an offset) as a Timestamp; a time
    without an offset is UTC. routerd checks its range."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(field, f"must be an ISO 8601 time such as 2026-12-01T00:00:00Z, got {text!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    out = Timestamp()
    try:
        out.FromDatetime(t)
    except (ValueError, OverflowError) as e:
        raise InvalidArgument(field, f"{text!r}: {e}") from None
    return out


def _time_range(args: argparse.Namespace, *, both_ends: bool) -> tuple[Timestamp | None, Timestamp | None]:
    """[start, end) from --since (now - since .. now; ``both_ends`` sends now as the end, else no end) or
    from --start/--end (either may be left out). OptimizeBudget scales its mix by the range's length, so
    it gets both ends: the length is then exactly --since, whatever the two clocks say."""
    if args.since is not None and (args.start is not None or args.end is not None):
        raise InvalidArgument("since", "give --since or --start/--end, not both")
    if args.since is not None:
        now = time.time()
        start = Timestamp()
        start.FromNanoseconds(int((now - _duration_s(args.since, "since")) * 1e9))
        if not both_ends:
            return start, None
        end = Timestamp()
        end.FromNanoseconds(int(now * 1e9))
        return start, end
    return (_timestamp(args.start, "start") if args.start is not None else None,
            _timestamp(args.end, "end") if args.end is not None else None)


def _when(t: Timestamp) -> str:
    return t.ToJsonString()


def _opt(msg: Any, field: str, fmt: str) -> str:
    """An optional field formatted, or ``-`` when unset."""
    return format(getattr(msg, field), fmt) if msg.HasField(field) else "-"


def _budgets(args: argparse.Namespace) -> int:
    c = Client(args)
    if args.budgets_cmd == "add":
        b = pb.Budget(name=args.name, amount=args.amount, window=args.window, scope=args.scope,
                      mode=args.mode or "")
        if args.window_seconds is not None:
            b.window_seconds = args.window_seconds
        _print(c.call(c.budgets.CreateBudget, pb.CreateBudgetRequest(budget=b)), args.json)
    elif args.budgets_cmd == "list":
        for b in c.call(c.budgets.ListBudgets, pb.ListBudgetsRequest()).budgets:
            if args.json:
                _print(b, True)
            else:
                window = f"rolling {b.window_seconds:g}s" if b.window == "rolling" else b.window
                print(f"{b.name:30} amount={b.amount:<12.6f} window={window:16} scope={b.scope:24} "
                      f"mode={b.mode:4} willingness_to_pay={_opt(b, 'willingness_to_pay', '.6g')}")
    elif args.budgets_cmd == "remove":
        _print(c.call(c.budgets.DeleteBudget, pb.DeleteBudgetRequest(name=args.name)), args.json)
    return 0


def _spend(args: argparse.Namespace) -> int:
    """Each budget's current window: remaining = amount - settled - reserved - unreconciled."""
    c = Client(args)
    spend = c.call(c.budgets.GetSpend, pb.GetSpendRequest(budget=args.budget or "")).spend
    if args.json:
        for s in spend:
            _print(s, True)
        return 0
    print(f"{'budget':24} {'window start':30} {'window end':30} {'amount':>12} {'settled':>12} {'reserved':>12} "
          f"{'unreconciled':>12} {'remaining':>12} {'decisions':>9}")
    for s in spend:
        end = _when(s.window_end) if s.HasField("window_end") else "-"
        print(f"{s.budget:24} {_when(s.window_start):30} {end:30} {s.amount:12.6f} {s.settled:12.6f} "
              f"{s.reserved:12.6f} {s.unreconciled:12.6f} {s.remaining:12.6f} {s.decisions:9d}")
    return 0


def _analytics(args: argparse.Namespace) -> int:
    c = Client(args)
    start, end = _time_range(args, both_ends=False)
    req = pb.RoutingAnalyticsRequest(group_by=args.group_by)
    if start is not None:
        req.start.CopyFrom(start)
    if end is not None:
        req.end.CopyFrom(end)
    resp = c.call(c.analytics.RoutingAnalytics, req)
    if args.json:
        for r in resp.rows:
            _print(r, True)
        return 0
    print(f"{resp.group_by:24} {'requests':>8} {'no outcome':>10} {'outcomes':>8} {'spend':>12} {'mean ms':>9} "
          f"{'p95 ms':>9} {'success':>7} {'quality':>7} {'reference':>12} {'savings':>12}")
    for r in resp.rows:
        print(f"{r.key or '-':24} {r.requests:8d} {r.without_outcome:10d} {r.outcomes:8d} {r.spend:12.6f} "
              f"{_opt(r, 'mean_latency_ms', '.1f'):>9} {_opt(r, 'p95_latency_ms', '.1f'):>9} "
              f"{_opt(r, 'success_rate', '.3f'):>7} {_opt(r, 'mean_quality', '.3f'):>7} "
              f"{r.reference_cost:12.6f} {r.savings:12.6f}")
    return 0


def _optimize_budget(args: argparse.Namespace) -> int:
    c = Client(args)
    req = pb.OptimizeBudgetRequest(budget=args.budget, apply_to_budget=args.apply_to or "")
    for name in ("period_days", "quality_threshold", "latency_threshold_ms"):
        if getattr(args, name) is not None:
            setattr(req, name, getattr(args, name))
    start, end = _time_range(args, both_ends=True)
    if start is not None:
        req.start.CopyFrom(start)
    if end is not None:
        req.end.CopyFrom(end)
    resp = c.call(c.analytics.OptimizeBudget, req)
    if args.json:
        _print(resp, True)
        return 0
    if resp.HasField("willingness_to_pay"):
        print(f"willingness_to_pay  {resp.willingness_to_pay:.6g} USD per +1.0 of expected quality "
              f"(lambda {getattr(resp, 'lambda'):.6g})")
    elif not resp.feasible:
        print("willingness_to_pay  - (the budget is below the minimum spend: the plan is the cheapest routing)")
    else:
        print("willingness_to_pay  - (the budget is not binding: every request can use its best agent)")
    print(f"projected           spend {resp.projected_spend:.6f} USD, quality {resp.projected_quality:.4f} "
          f"over {resp.period_days:g} days")
    print(f"proportional        spend {resp.proportional_spend:.6f} USD, quality {resp.proportional_quality:.4f} "
          f"(the budget split over agents by usage)")
    print(f"minimum spend       {resp.minimum_spend:.6f} USD{'' if resp.feasible else ' (the budget cannot meet it)'}")
    print(f"mix                 {resp.mix_requests} requests, {resp.unmet_requests} unmet, scaled x{resp.scale:.6g}")
    if resp.applied_to_budget:
        print(f"applied to budget   {resp.applied_to_budget}")
    print(f"{'agent':30} {'requests':>12} {'spend':>12} {'share':>7} {'quality':>7}")
    for a in resp.allocations:
        print(f"{a.agent_name:30} {a.requests:12.2f} {a.spend:12.6f} {a.share:7.3f} {a.mean_quality:7.3f}")
    return 0


def _jsonl(path: str) -> list[tuple[int, Any]]:
    """(line number, value) of every non-blank line of a JSONL file (``-``: stdin)."""
    out = []
    lines = sys.stdin if path == "-" else Path(path).open()
    with lines:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                out.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                raise InvalidArgument(f"{path}:{n}", f"not JSON ({e.msg})") from None
    return out


_ROUTE_KEYS = {"name", "description", "target_agent", "priority", "threshold", "group", "utterances", "conditions"}


def _route_from_json(item: Any, where: str) -> pb.SemanticRoute:
    if not isinstance(item, dict):
        raise InvalidArgument(where, "each line must be a JSON object")
    unknown = sorted(set(item) - _ROUTE_KEYS)
    if unknown:
        raise InvalidArgument(where, f"unknown keys {unknown}; valid: {sorted(_ROUTE_KEYS)}")
    route = pb.SemanticRoute()
    try:
        json_format.ParseDict(item, route, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise InvalidArgument(where, str(e)) from None
    return route


def _routes(args: argparse.Namespace) -> int:
    c = Client(args)
    if args.routes_cmd == "import":
        routes = [(n, _route_from_json(item, f"{args.file}:{n}")) for n, item in _jsonl(args.file)]
        for n, route in routes:
            try:
                got = c.call(c.routes.CreateRoute, pb.CreateRouteRequest(route=route, replace=True))
            except grpc.RpcError as e:
                print(f"error: {args.file}:{n}: {e.code().name}: {e.details()}", file=sys.stderr)
                return 1
            if args.json:
                _print(got, True)
            else:
                print(f"{got.name}: {got.utterance_count} utterances, threshold {got.effective_threshold:.3f}")
        if not args.json:
            print(f"imported {len(routes)} route{'' if len(routes) == 1 else 's'}")
    elif args.routes_cmd == "list":
        for r in c.pages(c.routes.ListRoutes, pb.ListRoutesRequest(page_size=1000), "routes"):
            if args.json:
                _print(r, True)
            else:
                print(f"{r.name:30} utterances={r.utterance_count:<6} threshold={r.effective_threshold:.3f}"
                      f"{' (fitted)' if r.fitted else ''} target={r.target_agent or '-'} "
                      f"priority={r.priority} group={r.group or '-'}")
    elif args.routes_cmd == "remove":
        _print(c.call(c.routes.DeleteRoute, pb.DeleteRouteRequest(name=args.name)), args.json)
    elif args.routes_cmd == "fit":
        examples, lines = [], []
        for n, item in _jsonl(args.file):
            if not isinstance(item, dict) or not isinstance(item.get("text"), str) or \
                    not (item.get("route") is None or isinstance(item.get("route"), str)):
                raise InvalidArgument(f"{args.file}:{n}", 'each line must be {"text": ..., "route": NAME or null}')
            examples.append(pb.LabelledExample(text=item["text"], route=item.get("route") or ""))
            lines.append(n)
        fit = pb.FitRoutesRequest(examples=examples, objective=args.objective or "", dry_run=args.dry_run)
        if args.min_oos_recall is not None:
            fit.min_out_of_scope_recall = args.min_oos_recall
        try:
            resp = c.call(c.routes.FitRoutes, fit)
        except grpc.RpcError as e:
            where = re.match(r"examples\[(\d+)\]", error_field(e) or "")
            if where is None or int(where[1]) >= len(lines):
                raise
            print(f"error: {args.file}:{lines[int(where[1])]}: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
        if args.json:
            _print(resp, True)
        else:
            print(f"{'route':30} {'support':>7} {'threshold':>17} {'precision':>15} {'recall':>15}")
            for f in resp.routes:
                print(f"{f.route:30} {f.support:7d} {f.threshold_before:7.3f} -> {f.threshold_after:5.3f} "
                      f"{f.precision_before:5.3f} -> {f.precision_after:5.3f} {f.recall_before:5.3f} -> "
                      f"{f.recall_after:5.3f}")
            for name, m in (("before", resp.before), ("after", resp.after)):
                print(f"{name}: in-scope accuracy {m.in_scope_accuracy:.4f}, out-of-scope recall "
                      f"{m.out_of_scope_recall:.4f}, accuracy {m.accuracy:.4f}, macro F1 {m.macro_f1:.4f}, "
                      f"calibration error {m.calibration_error:.4f}")
            print("applied" if resp.applied else "dry run: thresholds unchanged")
    return 0


def _match(args: argparse.Namespace) -> int:
    c = Client(args)
    for n, item in _jsonl(args.file):
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            item = item["text"]
        if not isinstance(item, str):
            raise InvalidArgument(f"{args.file}:{n}", 'each line must be a JSON string or {"text": ...}')
        resp = c.call(c.router.SemanticRoute, pb.SemanticRouteRequest(query=item, top_k=args.top_k))
        out = {"matches": [{"route": m.route, "similarity": m.similarity, "confidence": m.confidence,
                            "target_agent": m.target_agent} for m in resp.matches]}
        print(json.dumps(out, separators=(",", ":")) if args.json else json.dumps(out), flush=True)
    return 0


def _embed(args: argparse.Namespace) -> int:
    c = Client(args)
    resp = c.call(c.router.Embed, pb.EmbedRequest(texts=args.texts))
    for text, v in zip(args.texts, resp.vectors, strict=True):
        out = {"text": text, "embedder": resp.embedder, "dim": resp.dim, "vector": list(v.values)}
        print(json.dumps(out, separators=(",", ":")), flush=True)
    return 0


def _classify(args: argparse.Namespace) -> int:
    c = Client(args)
    _print(c.call(c.router.Classify, pb.ClassifyRequest(text=args.text, top_k=args.top_k)), args.json)
    return 0


# -- the learned model --------------------------------------------------------------------------

def _dataset_chunks(path: str) -> Iterator[pb.DatasetLines]:
    """The file's lines (``-``: stdin) in messages of about DATASET_CHUNK_BYTES; routerd validates them."""
    f = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115 (closed below)
    try:
        lines: list[str] = []
        size = 0
        for line in f:
            lines.append(line.rstrip("\r\n"))
            size += len(line)
            if size >= DATASET_CHUNK_BYTES:
                yield pb.DatasetLines(lines=lines)
                lines, size = [], 0
        if lines:
            yield pb.DatasetLines(lines=lines)
    finally:
        if f is not sys.stdin:
            f.close()


class Progress:
    """A one-line progress bar on a terminal (stderr), one line per phase elsewhere."""

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.phase = ""

    def update(self, e: pb.TrainEvent) -> None:
        if e.phase == "done":
            self.end()
            return
        detail = ""
        if e.total:
            width = 30
            filled = int(width * min(e.done, e.total) / e.total)
            detail = f"[{'#' * filled}{'.' * (width - filled)}] {e.done}/{e.total}"
        if e.HasField("train_loss"):
            detail += f" loss {e.train_loss:.4f}"
        if e.HasField("validation_loss"):
            detail += f" validation {e.validation_loss:.4f}"
        line = f"model {e.version} {e.phase:10} {detail} {e.message}".rstrip()
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
        elif e.phase != self.phase:
            print(line, file=self.stream, flush=True)
        self.phase = e.phase

    def end(self) -> None:
        if self.tty and self.phase:
            self.stream.write("\n")
            self.stream.flush()
        self.phase = ""


def _model_line(m: pb.ModelVersion, live: int = 0) -> str:
    metrics = m.metrics
    brier = f"brier {metrics['holdout_brier']:.4f} vs {metrics['current_brier']:.4f}" \
        if "holdout_brier" in metrics and "current_brier" in metrics else ""
    mark = "*" if m.version == live else " "
    return (f"{mark}{m.version:<4} {m.status:11} {m.source[:40]:40} agents={len(m.agents):<3} {brier}  "
            f"{m.reason}").rstrip()


def _train(args: argparse.Namespace) -> int:
    c = Client(args)
    opts = pb.TrainOptions(from_dataset=args.dataset is not None, dataset_name=args.dataset or "",
                           seed=args.seed, holdout_fraction=args.holdout or 0.0, no_promote=args.no_promote,
                           detach=args.detach)
    for key in ("hidden_dim", "epochs", "learning_rate", "batch_size", "patience"):
        value = getattr(args, key)
        if value is not None:
            opts.hyperparameters[key] = value

    def requests() -> Iterator[pb.TrainRequest]:
        yield pb.TrainRequest(options=opts)
        if args.dataset is not None:
            for chunk in _dataset_chunks(args.dataset):
                yield pb.TrainRequest(dataset=chunk)

    progress = Progress()
    final = None
    try:
        for e in c.model.Train(requests(), timeout=c.long_timeout, metadata=c.metadata):
            if e.phase == "started" and args.detach:
                print(f"model version {e.version} is training in routerd (routerd model list shows it)")
                return 0
            if e.HasField("model"):
                final = e.model
            progress.update(e)
    finally:
        progress.end()
    if final is None:
        raise TinyDancerError("routerd ended the training stream without a result: see routerd model list")
    if args.json:
        _print(final, True)
    else:
        print(_model_line(final))
        for k in sorted(final.metrics):
            print(f"  {k:22} {final.metrics[k]:.6g}")
    return {"live": 0, "candidate": 0, "rejected": 3}.get(final.status, 1)


def _eval(args: argparse.Namespace) -> int:
    from routerd.api.convert import evaluation_from_proto
    from routerd.model.evaluation import plot

    c = Client(args)

    def requests() -> Iterator[pb.EvaluateRequest]:
        yield pb.EvaluateRequest(options=pb.EvaluateOptions(version=args.version, dataset_name=args.dataset,
                                                            seed=args.seed))
        for chunk in _dataset_chunks(args.dataset):
            yield pb.EvaluateRequest(dataset=chunk)

    resp = c.model.Evaluate(requests(), timeout=c.long_timeout, metadata=c.metadata)
    report = evaluation_from_proto(resp)
    if args.plot:
        plot(report, args.plot)
    if args.json:
        _print(resp, True)
    else:
        print(f"{resp.model_version} on {resp.requests} requests of {args.dataset} "
              f"(calibration error {resp.calibration_error:.4f})")
        print(report.table())
    return 0


def _model(args: argparse.Namespace) -> int:
    c = Client(args)
    if args.model_cmd == "list":
        resp = c.call(c.model.ListModels, pb.ListModelsRequest())
        if args.json:
            for m in resp.models:
                _print(m, True)
        else:
            for m in resp.models:
                print(_model_line(m, resp.live_version))
            if not resp.live_version:
                print("(no model is live: routing uses each agent's observed quality)")
    elif args.model_cmd == "info":
        _print(c.call(c.model.ModelInfo, pb.ModelInfoRequest(version=args.version)), args.json)
    elif args.model_cmd == "promote":
        _print(c.call(c.model.Promote, pb.PromoteRequest(version=args.version)), args.json)
    elif args.model_cmd == "rollback":
        resp = c.call(c.model.Rollback, pb.RollbackRequest())
        if resp.HasField("live"):
            _print(resp.live, args.json)
        else:
            print("no model is live now: routing uses each agent's observed quality")
    return 0


def _dataset(args: argparse.Namespace) -> int:
    from routerd.model.datasets import convert_routellm, convert_routerbench, write_jsonl

    records = convert_routerbench(args.files) if args.format == "routerbench" else convert_routellm(args.files)
    out = sys.stdout if args.out in (None, "-") else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        n = write_jsonl(records, out)
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"{n} records", file=sys.stderr)
    return 0


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="routerd", description="Tiny Dancer routing daemon and its clients")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="run the gRPC server")
    s.add_argument("--listen", help="host:port (default 127.0.0.1:50051; port 0 picks a free one)")
    s.add_argument("--data-dir")
    s.add_argument("--store", help="sqlite:///path.db or postgresql://… (default: sqlite under --data-dir)")
    s.add_argument("--embedder", help="minilm (default: all-MiniLM-L6-v2, int8 ONNX) or hashing")
    s.add_argument("--reembed-routes", action="store_true",
                   help="re-embed stored routes written by another embedder (otherwise refused at startup)")
    s.add_argument("--config", help="TOML file (also TINYDANCER_CONFIG)")
    s.add_argument("--token", help="require this bearer token (also TINYDANCER_TOKEN); visible in ps, "
                                   "prefer --token-file or the environment")
    s.add_argument("--token-file", help="require the bearer token on this file's first line "
                                        "(also TINYDANCER_TOKEN_FILE)")
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    s.add_argument("--workers", type=int)
    s.add_argument("--metrics-listen", help="serve Prometheus metrics on host:port (GET /metrics; default: off)")
    s.add_argument("--http-listen", help="serve the dashboard (a page and its JSON API) on host:port "
                                         "(default: off)")
    s.add_argument("--log-format", choices=("text", "json"),
                   help="text (default) or json: one JSON object a line, with request ids and one line per RPC")
    s.add_argument("--otlp-endpoint", help="export OpenTelemetry spans over OTLP/HTTP to this collector URL, "
                                           "e.g. http://127.0.0.1:4318 (spans go to <url>/v1/traces; needs "
                                           "the tracing extra; default: off)")
    s.set_defaults(func=_serve)

    client = argparse.ArgumentParser(add_help=False)
    client.add_argument("--target", default=os.environ.get("TINYDANCER_ROUTERD", "127.0.0.1:50051"),
                        help="routerd's host:port, or several replicas' (host1:port,host2:port: gRPC's "
                             "round_robin with health checking)")
    client.add_argument("--token", default=os.environ.get("TINYDANCER_TOKEN", ""))
    client.add_argument("--tls-ca", help="CA certificate to verify routerd's TLS certificate")
    client.add_argument("--timeout", type=float, help=f"seconds per call (default {DEFAULT_TIMEOUT_S:g}; "
                                                      "route-batch, train and eval: no limit)")
    client.add_argument("--json", action="store_true", help="one compact JSON object per line")

    a = sub.add_parser("agents", help="manage agents")
    asub = a.add_subparsers(dest="agents_cmd", required=True)
    add = asub.add_parser("add", parents=[client])
    add.add_argument("name")
    add.add_argument("--type", default="llm")
    add.add_argument("--capabilities", nargs="*", metavar="CAP")
    add.add_argument("--cost-per-1k-input", type=float, default=0.0)
    add.add_argument("--cost-per-1k-output", type=float, default=0.0)
    add.add_argument("--cost-per-call", type=float, default=0.0)
    add.add_argument("--cost-per-second", type=float, default=0.0)
    add.add_argument("--latency-ms", type=float)
    add.add_argument("--quality", type=float)
    add.add_argument("--metadata", default="{}")
    add.add_argument("--inactive", action="store_true")
    lst = asub.add_parser("list", parents=[client])
    lst.add_argument("--capability")
    lst.add_argument("--type")
    rm = asub.add_parser("remove", parents=[client])
    rm.add_argument("name")
    a.set_defaults(func=_agents)

    route_opts = argparse.ArgumentParser(add_help=False)
    route_opts.add_argument("--objective", help="cost|latency|quality|balanced|quality_per_dollar")
    route_opts.add_argument("--capability", action="append", help="required capability (repeatable)")
    route_opts.add_argument("--exclude", action="append", help="excluded agent (repeatable)")
    route_opts.add_argument("--max-cost", type=float)
    route_opts.add_argument("--max-latency-ms", type=float)
    route_opts.add_argument("--min-quality", type=float)
    route_opts.add_argument("--budget-remaining", type=float)
    route_opts.add_argument("--willingness-to-pay", type=float)
    route_opts.add_argument("--max-alternatives", type=int, help="default: every other agent")

    r = sub.add_parser("route", parents=[client, route_opts], help="route one request")
    r.add_argument("text")
    r.set_defaults(func=_route)
    rb = sub.add_parser("route-batch", parents=[client, route_opts],
                        help="route a JSONL file of requests (one JSON decision per line, in order)")
    rb.add_argument("file", help="JSONL: each line a string or a RouteRequest object; - for stdin")
    rb.set_defaults(func=_route_batch)

    o = sub.add_parser("outcome", parents=[client], help="record what happened")
    o.add_argument("--decision-id")
    o.add_argument("--agent")
    o.add_argument("--latency-ms", type=float, required=True)
    o.add_argument("--failure", action="store_true", help="the request failed (default: success)")
    o.add_argument("--quality", type=float)
    o.add_argument("--cost", type=float)
    o.add_argument("--input-tokens", type=int, default=0)
    o.add_argument("--output-tokens", type=int, default=0)
    o.set_defaults(func=_outcome)

    st = sub.add_parser("stats", parents=[client], help="routing statistics")
    st.set_defaults(func=_stats)

    bu = sub.add_parser("budgets", help="money a window may spend")
    bu_sub = bu.add_subparsers(dest="budgets_cmd", required=True)
    badd = bu_sub.add_parser("add", parents=[client], help="create a budget")
    badd.add_argument("name")
    badd.add_argument("--amount", type=float, required=True, help="USD, >= 0")
    badd.add_argument("--window", required=True, help="day|week|month (UTC calendar) |total|rolling")
    badd.add_argument("--window-seconds", type=float, help="the length of a rolling window")
    badd.add_argument("--scope", default="global", help="global (default), agent:NAME or tag:TAG")
    badd.add_argument("--mode", help="hard (default: refuse what does not fit) or soft (cost weight rises)")
    bu_sub.add_parser("list", parents=[client], help="every budget")
    brm = bu_sub.add_parser("remove", parents=[client], help="delete a budget")
    brm.add_argument("name")
    bu.set_defaults(func=_budgets)

    sp = sub.add_parser("spend", parents=[client], help="budgets' current windows: settled, reserved, remaining")
    sp.add_argument("budget", nargs="?", help="one budget (default: every one)")
    sp.set_defaults(func=_spend)

    time_range = argparse.ArgumentParser(add_help=False)
    time_range.add_argument("--since", help="decisions of this long ago until now, e.g. 7d, 12h, 1w2d")
    time_range.add_argument("--start", help="ISO 8601 time (UTC unless it has an offset)")
    time_range.add_argument("--end", help="ISO 8601 time, excluded")

    an = sub.add_parser("analytics", parents=[client, time_range], help="decisions and outcomes grouped")
    an.add_argument("--group-by", default="agent", help="agent (default)|day|hour|route|objective|tag")
    an.set_defaults(func=_analytics)

    ob = sub.add_parser("optimize-budget", parents=[client, time_range],
                        help="the willingness to pay that spends a budget over a period on the recorded mix")
    ob.add_argument("--budget", type=float, required=True, help="USD over the period")
    ob.add_argument("--period-days", type=float, help="default 30")
    ob.add_argument("--quality-threshold", type=float, help="agents below this expected quality are not used")
    ob.add_argument("--latency-threshold-ms", type=float, help="agents slower than this are not used")
    ob.add_argument("--apply-to", metavar="BUDGET", help="store the willingness to pay on this budget")
    ob.set_defaults(func=_optimize_budget)

    rt = sub.add_parser("routes", help="semantic routes")
    rt_sub = rt.add_subparsers(dest="routes_cmd", required=True)
    imp = rt_sub.add_parser("import", parents=[client], help="create or replace routes from a JSONL file")
    imp.add_argument("file", help='one route a line: {"name", "description"?, "target_agent"?, "priority"?, '
                                  '"threshold"?, "group"?, "conditions"?, "utterances": [...]}; - for stdin')
    rt_sub.add_parser("list", parents=[client], help="list routes")
    rrm = rt_sub.add_parser("remove", parents=[client], help="delete a route")
    rrm.add_argument("name")
    fit = rt_sub.add_parser("fit", parents=[client], help="fit thresholds on labelled examples")
    fit.add_argument("file", help='one example a line: {"text": ..., "route": NAME or null}; - for stdin')
    fit.add_argument("--objective", help="accuracy (default) or f1")
    fit.add_argument("--min-oos-recall", type=float, help="keep out-of-scope recall at least this")
    fit.add_argument("--dry-run", action="store_true", help="report only; keep the thresholds")
    rt.set_defaults(func=_routes)

    m = sub.add_parser("match", parents=[client], help="match texts to semantic routes (one JSON line each)")
    m.add_argument("file", help='one text a line, as a JSON string or {"text": ...}; - for stdin')
    m.add_argument("--top-k", type=_positive, default=3, help="1..100 (default 3)")
    m.set_defaults(func=_match)

    e = sub.add_parser("embed", parents=[client], help="embed texts (one JSON line each)")
    e.add_argument("texts", nargs="+")
    e.set_defaults(func=_embed)

    cl = sub.add_parser("classify", parents=[client], help="categories and capabilities of a text")
    cl.add_argument("text")
    cl.add_argument("--top-k", type=_positive, default=10, help="1..1000 (default 10)")
    cl.set_defaults(func=_classify)

    tr = sub.add_parser("train", parents=[client], help="train the quality model in routerd (progress on stderr)")
    src = tr.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="routing-dataset JSONL (DESIGN.md); - for stdin")
    src.add_argument("--from-outcomes", action="store_true", help="from the outcome log")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--holdout", type=float, help="share held out for the promotion decision (default 0.2)")
    tr.add_argument("--epochs", type=int)
    tr.add_argument("--hidden-dim", type=int)
    tr.add_argument("--learning-rate", type=float)
    tr.add_argument("--batch-size", type=int)
    tr.add_argument("--patience", type=int)
    tr.add_argument("--no-promote", action="store_true", help="keep a better model as a candidate")
    tr.add_argument("--detach", action="store_true", help="return once the training has started")
    tr.set_defaults(func=_train)

    ev = sub.add_parser("eval", parents=[client], help="cost-quality evaluation of the model on a dataset")
    ev.add_argument("--dataset", required=True, help="routing-dataset JSONL; - for stdin")
    ev.add_argument("--version", type=int, default=0, help="model version (default: the live one)")
    ev.add_argument("--seed", type=int, default=0, help="of the baselines' folds")
    ev.add_argument("--plot", metavar="PNG", help="write the curves to this PNG (needs matplotlib)")
    ev.set_defaults(func=_eval)

    mo = sub.add_parser("model", help="versions of the quality model")
    mo_sub = mo.add_subparsers(dest="model_cmd", required=True)
    mo_sub.add_parser("list", parents=[client], help="every version; * marks the live one")
    info = mo_sub.add_parser("info", parents=[client], help="one version (default: the live one)")
    info.add_argument("version", type=int, nargs="?", default=0)
    pr = mo_sub.add_parser("promote", parents=[client], help="serve this version")
    pr.add_argument("version", type=int)
    mo_sub.add_parser("rollback", parents=[client], help="serve the version live before this one")
    mo.set_defaults(func=_model)

    ds = sub.add_parser("dataset", help="routing datasets")
    ds_sub = ds.add_subparsers(dest="dataset_cmd", required=True)
    conv = ds_sub.add_parser("convert", help="convert RouterBench or RouteLLM files to routing-dataset JSONL")
    conv.add_argument("format", choices=("routerbench", "routellm"))
    conv.add_argument("files", nargs="+")
    conv.add_argument("--out", help="output file (default: stdout)")
    ds.set_defaults(func=_dataset)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except BadTarget as e:
        print(f"error: --target: {e}", file=sys.stderr)
        return 2
    except (InvalidArgument, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TinyDancerError as e:  # the store cannot be opened, the data dir is in use, …
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
