"""routerd's dashboard (issue 12): a static page and a small JSON API on their own HTTP port
(``http_listen``, off by default), served by routerd's own process from a thread.

Everything is in this package (``static/``: the page, its script and its style; no build step, no
CDN). The page fetches the API every 2 s and draws its charts as inline SVG.

    GET /                       the page (also /index.html); /static/app.js, /static/style.css
    GET /api/summary            Analytics.RoutingStats / tinydancer.stats, the same numbers
    GET /api/agents             each agent: health, circuit state, requests, success rate, observed
                                latency p50/p95 (its last outcomes, the window the engine keeps),
                                spend, quality
    GET /api/timeseries?window=3600&buckets=60
                                decisions (infeasible among them), outcomes and spend per bucket
                                over the last ``window`` seconds (Store.time_series)
    GET /api/infeasible         infeasible decisions since routerd started and, per feasibility rule,
                                how many of them it rejected an agent of (the rule of
                                tinydancer_infeasible_reasons_total), plus the stored total
    GET /api/model              the live model's version, status and held-out metrics, its held-out
                                cost–quality curve when it was trained on a dataset (computed at
                                training time, stored beside the version: ModelManager.curve); every
                                version

Only GET: another method is 405. Errors are JSON ``{"error": ..., "field": ...}`` with their status:
404 an unknown path, 400 a bad query parameter (naming it), 401 a missing or wrong token, 503 the
store unavailable. With a token (``token``/``token_file``) every ``/api/`` call needs the header
``Authorization: Bearer T``; the page itself holds no data and no token and is served without one:
open it as ``http://host:port/#token=T`` and its script sends the fragment's token as that header
(a URL fragment never reaches the server, its logs or a Referer).

The infeasible reasons are counted by ``InfeasibleTally``, an engine observer of its own (added
beside the metrics when both are on), so they are there with or without ``metrics_listen``.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from routerd.config import parse_host_port
from routerd.domain import CLOSED, HALF_OPEN, OPEN, OutcomeRecord
from routerd.engine.decision import Decision
from routerd.engine.feasibility import OK
from routerd.errors import InvalidArgument, NotFound, StoreUnavailable
from routerd.observability import NO_AGENTS, RULE_LABELS

if TYPE_CHECKING:
    from routerd.engine.engine import Engine, Observer

__all__ = ["Dashboard", "DashboardServer", "Fanout", "InfeasibleTally", "start_dashboard"]

log = logging.getLogger("routerd.dashboard")

STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/index.html": ("index.html", "text/html; charset=utf-8"),
          "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/style.css": ("style.css", "text/css; charset=utf-8")}
WINDOW_DEFAULT, WINDOW_MIN, WINDOW_MAX = 3600, 60, 30 * 86400
BUCKETS_DEFAULT, BUCKETS_MAX = 60, 500
AGENTS_MAX = 1000  # the most agents /api/agents lists (one latency query each)


# -- the engine's observer ---------------------------------------------------------------------

class InfeasibleTally:
    """An engine ``Observer`` counting infeasible decisions and their reasons since it was made: per
    infeasible decision +1 for each feasibility rule that rejected at least one agent, ``no_agents``
    when none was registered (as routerd.observability.Metrics does)."""

    def __init__(self, clock: Any = time.time) -> None:
        self.since: float = clock()
        self._lock = threading.Lock()
        self._decisions = 0
        self._rules: dict[str, int] = dict.fromkeys((*RULE_LABELS.values(), NO_AGENTS), 0)

    def decided(self, decisions: Sequence[Decision], seconds: float, call: str) -> None:
        infeasible = [d for d in decisions if d.agent_name is None]
        if not infeasible:
            return
        labels: list[str] = []
        for d in infeasible:
            if not d.codes.size:
                labels.append(NO_AGENTS)
            else:
                labels.extend(RULE_LABELS[c] for c in np.unique(d.codes).tolist() if c != OK)
        with self._lock:
            self._decisions += len(infeasible)
            for label in labels:
                self._rules[label] += 1

    def outcome_recorded(self, outcome: OutcomeRecord) -> None:
        pass

    def embedded(self, texts: int, seconds: float) -> None:
        pass

    def store_error(self, operation: str) -> None:
        pass

    def snapshot(self) -> tuple[int, dict[str, int]]:
        with self._lock:
            return self._decisions, dict(self._rules)


class Fanout:
    """Several observers as one (the metrics and the dashboard's tally)."""

    def __init__(self, *observers: Observer):
        self.observers = observers

    def decided(self, decisions: Sequence[Decision], seconds: float, call: str) -> None:
        for o in self.observers:
            o.decided(decisions, seconds, call)

    def outcome_recorded(self, outcome: OutcomeRecord) -> None:
        for o in self.observers:
            o.outcome_recorded(outcome)

    def embedded(self, texts: int, seconds: float) -> None:
        for o in self.observers:
            o.embedded(texts, seconds)

    def store_error(self, operation: str) -> None:
        for o in self.observers:
            o.store_error(operation)


# -- the JSON documents ------------------------------------------------------------------------

def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


HEALTH = {CLOSED: "healthy", HALF_OPEN: "recovering", OPEN: "down"}


class Dashboard:
    """The JSON API over one engine, and the HTTP routing (``handle``), independent of the server."""

    def __init__(self, engine: Engine, tally: InfeasibleTally, token: str = ""):
        self.engine = engine
        self.tally = tally
        self._expected = f"Bearer {token}".encode() if token else None

    # -- documents
    def summary(self) -> dict[str, Any]:
        s = asdict(self.engine.stats())
        return {k: (_num(v) if isinstance(v, float) else v) for k, v in s.items()}

    def agents(self) -> dict[str, Any]:
        e = self.engine
        now = e.clock()
        _, records = e.registry.snapshot()
        out = []
        for rec in records[:AGENTS_MAX]:
            st = rec.stats
            state = e.policy.effective_state(st, now)
            recent = [lat for lat, _ in e.store.recent_outcomes(rec.name, e.windows.size, rec.created_at)]
            p50 = p95 = None
            if recent:
                p50, p95 = (float(v) for v in np.percentile(np.asarray(recent, dtype=np.float64), [50, 95]))
            out.append({
                "name": rec.name, "agent_type": rec.spec.agent_type, "active": bool(rec.spec.active),
                "capabilities": list(rec.spec.capabilities),
                "health": HEALTH.get(state, state) if rec.spec.active else "inactive", "circuit_state": state,
                "consecutive_failures": st.consecutive_failures, "requests": st.total_requests,
                "successes": st.successes,
                "success_rate": st.successes / st.total_requests if st.total_requests else None,
                "latency_p50_ms": _num(p50), "latency_p95_ms": _num(p95), "latency_samples": len(recent),
                "mean_latency_ms": st.latency_sum_ms / st.total_requests if st.total_requests else None,
                "spend": float(st.total_spend),
                "mean_quality": st.quality_sum / st.quality_count if st.quality_count else None,
                "quality_prior": float(rec.spec.quality_prior),
            })
        return {"now": now, "agents": out, "total": len(records), "truncated": len(records) > AGENTS_MAX}

    def timeseries(self, window_s: int = WINDOW_DEFAULT, buckets: int = BUCKETS_DEFAULT) -> dict[str, Any]:
        bucket_s = window_s / buckets
        now = self.engine.clock()
        end = math.floor(now / bucket_s) * bucket_s + bucket_s  # the last bucket holds now
        start = end - bucket_s * buckets
        rows = self.engine.store.time_series(start, bucket_s, buckets)
        series = [asdict(b) for b in rows]
        totals = {k: sum(b[k] for b in series) for k in ("decisions", "infeasible", "outcomes", "successes", "spend")}
        return {"now": now, "start": start, "end": end, "window_s": window_s, "bucket_s": bucket_s,
                "buckets": series, "totals": totals}

    def infeasible(self) -> dict[str, Any]:
        n, rules = self.tally.snapshot()
        reasons = [{"rule": r, "decisions": c} for r, c in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))]
        return {"since": self.tally.since, "decisions": n, "reasons": reasons}

    def model(self) -> dict[str, Any]:
        m = self.engine.models
        live = m.info()
        versions = [{"version": r.version, "status": r.status, "source": r.source, "created_at": r.created_at,
                     "promoted_at": r.promoted_at, "reason": r.reason} for r in m.versions()]
        doc: dict[str, Any] = {"serving": self.engine.router.model.version, "live": None, "versions": versions}
        if live is not None:
            doc["live"] = {"version": live.version, "name": self.engine.router.model.version,
                           "status": live.status, "source": live.source, "created_at": live.created_at,
                           "promoted_at": live.promoted_at, "reason": live.reason, "agents": list(live.agents),
                           "metrics": {k: _num(v) for k, v in sorted(live.metrics.items())},
                           "curve": m.curve(live.version)}
        return doc

    # -- HTTP
    def authorized(self, header: str | None) -> bool:
        if self._expected is None:
            return True
        return header is not None and hmac.compare_digest(header.encode(), self._expected)

    def handle(self, method: str, target: str, authorization: str | None = None) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request (``authorization``: its Authorization header)."""
        if method != "GET":
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, f"only GET is served, not {method}")
        parts = urlsplit(target)
        path = parts.path
        if path in STATIC:
            name, ctype = STATIC[path]
            return 200, ctype, (resources.files("routerd.dashboard") / "static" / name).read_bytes()
        api = {"/api/summary": self.summary, "/api/agents": self.agents, "/api/infeasible": self.infeasible,
               "/api/model": self.model}
        if path != "/api/timeseries" and path not in api:
            return _error(HTTPStatus.NOT_FOUND, f"no such page or endpoint: {path}", field="path")
        if not self.authorized(authorization):
            return _error(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token (Authorization: Bearer T)",
                          field="authorization")
        try:
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
            if path == "/api/timeseries":
                allowed = ("window", "buckets")
                _no_other(query, allowed)
                window = _int_param(query, "window", WINDOW_DEFAULT, WINDOW_MIN, WINDOW_MAX)
                buckets = _int_param(query, "buckets", BUCKETS_DEFAULT, 1, BUCKETS_MAX)
                doc = self.timeseries(window, buckets)
            else:
                _no_other(query, ())
                doc = api[path]()
        except InvalidArgument as exc:
            return _error(HTTPStatus.BAD_REQUEST, exc.problem, field=exc.field)
        except NotFound as exc:
            return _error(HTTPStatus.NOT_FOUND, str(exc))
        except StoreUnavailable as exc:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), field="store")
        except Exception:  # a bug: say so without the traceback, log it
            log.exception("dashboard %s failed", path)
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (see routerd's log)")
        return 200, "application/json", _json(doc)


def _json(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode()


def _error(status: int, message: str, *, field: str | None = None) -> tuple[int, str, bytes]:
    doc: dict[str, Any] = {"error": message, "status": int(status)}
    if field is not None:
        doc["field"] = field
    return int(status), "application/json", _json(doc)


def _no_other(query: Mapping[str, list[str]], allowed: Sequence[str]) -> None:
    for key in query:
        if key not in allowed:
            valid = ", ".join(allowed) if allowed else "none"
            raise InvalidArgument(key, f"unknown query parameter (valid: {valid})")


def _int_param(query: Mapping[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    values = query.get(name)
    if not values:
        return default
    if len(values) > 1:
        raise InvalidArgument(name, "given more than once")
    text = values[0].strip()
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise InvalidArgument(name, f"must be an integer in {lo}..{hi}, got {values[0]!r}")
    return int(text)


# -- the HTTP server ---------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    dashboard: Dashboard
    server_version = "routerd-dashboard"
    sys_version = ""

    def _answer(self, method: str, body_too: bool = True) -> None:
        given = self.headers.get_all("Authorization") or []  # two headers, even a right one: refused
        status, ctype, body = self.dashboard.handle(method, self.path, given[0] if len(given) == 1 else None)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "GET")
        self.end_headers()
        if body_too:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        self._answer("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer("HEAD", body_too=False)

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._answer("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._answer("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._answer("PATCH")

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._answer("OPTIONS")

    def log_message(self, format: str, *args: Any) -> None:  # the path only: tokens travel in headers
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # a port in use is an error, not shared


class _Server6(_Server):
    address_family = socket.AF_INET6


class DashboardServer:
    """The dashboard's HTTP server on its own thread (each request on a thread of its own)."""

    def __init__(self, httpd: ThreadingHTTPServer):
        self.httpd = httpd
        self.port: int = httpd.server_address[1]
        self.thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                       name="dashboard", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def start_dashboard(listen: str, dashboard: Dashboard) -> DashboardServer:
    """Serve ``dashboard`` on ``listen`` ("host:port", port 0: a free one). A port in use, or an
    address that cannot be bound, is ``InvalidArgument("http_listen", ...)`` at once."""
    host, port = parse_host_port(listen, "http_listen")
    handler = type("DashboardHandler", (_Handler,), {"dashboard": dashboard})
    server_type = _Server6 if ":" in host else _Server
    try:
        httpd = server_type((host, port), handler)
    except OSError as exc:
        raise InvalidArgument("http_listen", f"cannot serve the dashboard on {listen}: "
                                             f"{exc.strerror or exc}") from None
    return DashboardServer(httpd)
