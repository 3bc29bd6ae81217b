"""The learned quality model in SQL: ``tinydancer.model`` (one row per version, read-only) and
``tinydancer.model_actions`` (write-only: one INSERT trains, promotes or rolls back).

``tinydancer.model`` is ListModels, or ModelInfo when the query says which version:

    SELECT version, status, live, metrics->>'holdout_brier' FROM tinydancer.model ORDER BY version;
    SELECT * FROM tinydancer.model WHERE version = 3;   -- ModelInfo(3); an unknown version: no row
    SELECT * FROM tinydancer.model WHERE live;          -- ModelInfo(0), the live version; none: no row

``live`` is ``status = 'live'``; ``training`` says the version is the one routerd is training now
(ListModels' training_version; by ModelInfo, ``status = 'training'``: routerd marks a training its
restart interrupted as failed, so no other version stays 'training'). ``metrics`` is jsonb text
(Multicorn renders a dict as hstore, bridge spec §3.5); unset times, reason, fingerprint and parent
are NULL.

``tinydancer.model_actions`` is a verb, not a log: each INSERT is one call to routerd and RETURNING
gives its result (a SELECT, UPDATE or DELETE is an ERROR: there is nothing stored to read). It is a
foreign-table write rather than a scan so that PostgreSQL treats it as one: it runs once per row
(never again on a rescan), is refused in a read-only transaction or on a standby, and the INSERT
privilege is the boundary between who may read the model and who may change it (sql/roles.sql).

    action     'train'     Train from the outcome log, detached (TrainOptions.detach): routerd answers
                           at once with the new version and trains in the background; poll
                           tinydancer.model until its status is final. Inputs: holdout_fraction
                           (NULL: routerd's 0.2), seed (NULL: 0), max_outcomes (NULL: routerd's),
                           no_promote (true: keep a better model as a candidate), hyperparameters
                           (jsonb of numbers: epochs, hidden_dim, ...).
               'promote'   Promote(version): serve that version.
               'rollback'  Rollback: serve the version promoted before the live one (none: observed
                           quality); RETURNING version is the one live afterwards, NULL when none.
    version    promote's input; after the action, the version trained, promoted or now live
    status     that version's status after the action (NULL when none is live after a rollback)
    message    what routerd said

Every call has the server's deadline (``timeout_ms``): training never runs inside the call, since a
query cancel cannot interrupt Python while it waits. Training from a routing dataset is not offered
here: the dataset is a file on the client (``routerd train --dataset FILE``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import grpc

from fdw.connection import drop, signals_blocked, translate
from fdw.errors import (
    FEATURE_NOT_SUPPORTED,
    INVALID_TEXT_REPRESENTATION,
    NULL_VALUE_NOT_ALLOWED,
    NUMERIC_VALUE_OUT_OF_RANGE,
    RoutedError,
    fail,
)
from fdw.tables.base import (
    Column,
    Columns,
    Row,
    TinyDancer,
    as_bool,
    as_float,
    read_only,
    when,
)
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

INT64 = (-(2**63), 2**63 - 1)
LIST_HINT = "SELECT version, status, reason FROM tinydancer.model lists the versions."


def _when_set(field: str) -> Any:
    return lambda m: when(getattr(m, field)) if m.HasField(field) else None


def _metrics(m: pb.ModelVersion) -> str:
    return json.dumps({k: m.metrics[k] for k in sorted(m.metrics)})


class _Listed:
    """A ModelVersion with whether it is the one training now (the getters read both)."""

    __slots__ = ("m", "training")

    def __init__(self, m: pb.ModelVersion, training: bool):
        self.m, self.training = m, training


def _m(get: Any) -> Any:
    return lambda lm: get(lm.m)


MODEL_COLUMNS = Columns(
    Column("version", "bigint", _m(lambda m: m.version)),
    Column("name", "text", _m(lambda m: m.name)),
    Column("status", "text", _m(lambda m: m.status)),
    Column("live", "boolean", _m(lambda m: m.status == "live")),
    Column("source", "text", _m(lambda m: m.source or None)),
    Column("fingerprint", "text", _m(lambda m: m.fingerprint or None)),
    Column("embedder", "text", _m(lambda m: m.embedder)),
    Column("dim", "integer", _m(lambda m: m.dim)),
    Column("features", "text", _m(lambda m: m.features or None)),
    Column("agents", "text[]", _m(lambda m: list(m.agents))),
    Column("metrics", "jsonb", _m(_metrics)),
    Column("reason", "text", _m(lambda m: m.reason or None)),
    Column("parent", "bigint", _m(lambda m: m.parent or None)),
    Column("created_at", "timestamptz", _m(_when_set("created_at"))),
    Column("finished_at", "timestamptz", _m(_when_set("finished_at"))),
    Column("promoted_at", "timestamptz", _m(_when_set("promoted_at"))),
    Column("training", "boolean", lambda lm: lm.training),
)


def version_value(value: Any) -> int | None:
    """A ``version = value`` qual's value as an int (int4 constants arrive as int, bigint ones and
    parameters as text), or None when it is not a whole number: PostgreSQL rechecks every qual, so
    a value that cannot be pushed down is left to that recheck."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


class Model(TinyDancer):
    resource = "model"
    COLUMNS = MODEL_COLUMNS

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("model", "Train with tinydancer.train_model(), promote with tinydancer.promote_model(version), "
                           "roll back with tinydancer.rollback_model() (or INSERT INTO tinydancer.model_actions).")

    @staticmethod
    def _wanted(quals: list[Any]) -> int | None:
        """The version the quals name (0: the live one), None when they name none, -1 when no row can match."""
        wanted: set[int] = set()
        for q in quals:
            if q.is_list_operator:
                continue
            if q.field_name == "version" and q.operator == "=":
                if q.value is None:
                    return -1
                v = version_value(q.value)
                if v is not None:
                    wanted.add(v if v > 0 else -1)  # 0 means "live" to ModelInfo, not a version
            elif q.field_name == "live" and q.operator in ("=", "IS") and q.value is not None:
                if str(q.value).lower() in ("t", "true"):
                    wanted.add(0)
        if len(wanted - {0}) > 1 or -1 in wanted:
            return -1
        named = wanted - {0}
        return named.pop() if named else (0 if wanted else None)

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        # A handful of versions (one per training); width is the price of a row (fdw.tables.base).
        return (1 if self._wanted(quals) is not None else 20, 300)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        wanted = self._wanted(quals)
        getters = MODEL_COLUMNS.getters(columns)
        if wanted == -1:
            return
        if wanted is not None:  # one version (0: the live one): ModelInfo, NOT_FOUND is no row
            m = self.rpc("ModelInfo", pb.ModelInfoRequest(version=wanted), missing_ok=True)
            rows: list[_Listed] = [] if m is None else [_Listed(m, m.status == "training")]
        else:
            resp = self.rpc("ListModels", pb.ListModelsRequest())
            rows = [_Listed(m, resp.training_version != 0 and m.version == resp.training_version)
                    for m in resp.models]
        for lm in rows:
            yield {name: get(lm) for name, get in getters}


# -- tinydancer.model_actions ---------------------------------------------------------------------------

ACTIONS = ("train", "promote", "rollback")
TRAIN_INPUTS = ("holdout_fraction", "seed", "max_outcomes", "no_promote", "hyperparameters")
ACTION_HINT = ("action is 'train' (from the outcome log), 'promote' (with a version) or 'rollback': "
               "INSERT INTO tinydancer.model_actions (action, version) VALUES ('promote', 3) RETURNING *.")
HYPER_HINT = ("hyperparameters is a jsonb object of numbers, e.g. '{\"epochs\": 30, \"hidden_dim\": 32}'; the keys are "
              "hidden_dim, epochs, learning_rate, batch_size, patience, l2, rank_w, rank_u, sparsity_w, sparsity_u.")
TRAIN_HINTS: dict[str, str] = {
    "holdout_fraction": "holdout_fraction is the share of the most recent decisions held out to decide promotion "
                        "(routerd takes 0.05 to 0.5); NULL is routerd's default (0.2).",
    "max_outcomes": "max_outcomes is how many of the most recent outcomes to train on (at least 8); NULL is "
                    "routerd's default.",
    "seed": "seed is any bigint (the same seed and outcomes train the same model).",
    "hyperparameters": HYPER_HINT,
}
WAIT_HINT = ("One training runs at a time: wait until it ends (SELECT version, status FROM tinydancer.model WHERE "
             "training returns no row once it is done), then train again.")


def as_int64(value: Any, column: str) -> int | None:
    if value is None:
        return None
    try:
        n = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value).strip())
    except ValueError:
        fail(f"column {column}: {value!r} is not an integer", sqlstate=INVALID_TEXT_REPRESENTATION)
    if not INT64[0] <= n <= INT64[1]:
        fail(f"column {column}: {value} is out of range for a bigint", sqlstate=NUMERIC_VALUE_OUT_OF_RANGE)
    return n


def hyperparameters(value: Any) -> dict[str, float]:
    """The jsonb column (text on both bridges) as {name: number}."""
    if value is None:
        return {}
    try:
        obj = json.loads(value) if isinstance(value, str | bytes) else value
    except ValueError:
        fail("column hyperparameters: not valid JSON", hint=HYPER_HINT, sqlstate=INVALID_TEXT_REPRESENTATION)
    if not isinstance(obj, Mapping):
        fail("column hyperparameters: expected a JSON object", hint=HYPER_HINT)
    out: dict[str, float] = {}
    for k, v in obj.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            fail(f"column hyperparameters: {k} must be a finite number, not {json.dumps(v)}", hint=HYPER_HINT)
        out[str(k)] = float(v)
    return out


class ModelActions(TinyDancer):
    resource = "model_actions"
    rowid_column = "action"  # read at the start of every INSERT (the table has no rows to update or delete)
    COLUMNS = Columns(
        Column("action", "text"),
        Column("version", "bigint"),
        Column("status", "text"),
        Column("holdout_fraction", "float8"),
        Column("seed", "bigint"),
        Column("max_outcomes", "bigint"),
        Column("no_promote", "boolean"),
        Column("hyperparameters", "jsonb"),
        Column("message", "text"),
    )

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (1, 100)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        # UPDATE and DELETE scan first: the same ERROR
        fail("tinydancer.model_actions is write-only: each INSERT is an action and stores nothing",
             hint="Read the versions in tinydancer.model; INSERT INTO tinydancer.model_actions (action, ...) "
                  "VALUES ('train' | 'promote' | 'rollback', ...) RETURNING * acts.",
             sqlstate=FEATURE_NOT_SUPPORTED)

    def update(self, rowid: Any, newvalues: dict[str, Any]) -> NoReturn:  # never reached: no row is scanned
        fail("tinydancer.model_actions is write-only", sqlstate=FEATURE_NOT_SUPPORTED)

    def delete(self, rowid: Any) -> NoReturn:
        fail("tinydancer.model_actions is write-only", sqlstate=FEATURE_NOT_SUPPORTED)

    def insert(self, values: dict[str, Any]) -> Row:
        action = values.get("action")
        if action is None:
            fail("column action must not be NULL", hint=ACTION_HINT, sqlstate=NULL_VALUE_NOT_ALLOWED)
        action = str(action).strip().lower()
        if action not in ACTIONS:
            fail(f"column action: unknown action {values['action']!r}", hint=ACTION_HINT)
        for col in ("status", "message"):
            if values.get(col) is not None:
                fail(f"column {col} is set by routerd and cannot be given to INSERT",
                     hint="Leave it out: RETURNING shows it.", sqlstate=FEATURE_NOT_SUPPORTED)
        if action != "train":
            for col in TRAIN_INPUTS:
                if values.get(col) is not None:
                    fail(f"column {col} applies to action 'train' only, not {action!r}",
                         hint="Leave it NULL (or out of the column list).")
        row: Row = {"action": action, **{col: values.get(col) for col in TRAIN_INPUTS}}
        if action == "train":
            if values.get("version") is not None:
                fail("column version cannot be given to a training: routerd numbers the new version",
                     hint="Leave it out: RETURNING version gives the new one.", sqlstate=FEATURE_NOT_SUPPORTED)
            return {**row, **self._train(values)}
        if action == "promote":
            version = as_int64(values.get("version"), "version")
            if version is None:
                fail("promote needs a version", hint="INSERT INTO tinydancer.model_actions (action, version) VALUES "
                     "('promote', 3), or SELECT tinydancer.promote_model(3). " + LIST_HINT,
                     sqlstate=NULL_VALUE_NOT_ALLOWED)
            m = self._call("Promote", pb.PromoteRequest(version=version))
            return {**row, "version": m.version, "status": m.status,
                    "message": f"model version {m.version} ({m.name}) is {m.status}"}
        if values.get("version") is not None:
            fail("column version cannot be given to a rollback: routerd goes back to the version promoted "
                 "before the live one", hint="Leave it out (RETURNING version is the one live afterwards), or "
                 "promote a version by its number: tinydancer.promote_model(version).",
                 sqlstate=FEATURE_NOT_SUPPORTED)
        resp = self._call("Rollback", pb.RollbackRequest())
        if not resp.HasField("live"):
            return {**row, "version": None, "status": None,
                    "message": "no model is live: routing uses each agent's observed quality"}
        return {**row, "version": resp.live.version, "status": resp.live.status,
                "message": f"model version {resp.live.version} ({resp.live.name}) is live again"}

    def _train(self, values: Mapping[str, Any]) -> Row:
        opts = pb.TrainOptions(from_dataset=False, detach=True)
        holdout = as_float(values.get("holdout_fraction"), "holdout_fraction")
        if holdout is not None:
            if holdout <= 0:  # 0 would be routerd's default, not "hold nothing out"; routerd checks the rest
                fail(f"column holdout_fraction must be positive, not {holdout}", hint=TRAIN_HINTS["holdout_fraction"])
            opts.holdout_fraction = holdout
        opts.seed = as_int64(values.get("seed"), "seed") or 0
        max_outcomes = as_int64(values.get("max_outcomes"), "max_outcomes")
        if max_outcomes is not None:
            if max_outcomes <= 0:  # 0 would be routerd's default, not "none"
                fail(f"column max_outcomes must be positive, not {max_outcomes}", hint=TRAIN_HINTS["max_outcomes"])
            opts.max_outcomes = max_outcomes
        opts.no_promote = bool(as_bool(values.get("no_promote"), "no_promote"))
        opts.hyperparameters.update(hyperparameters(values.get("hyperparameters")))
        event = self._call("Train", iter([pb.TrainRequest(options=opts)]))
        return {"version": event.version, "status": "training", "message": event.message or None}

    def _call(self, method: str, request: Any) -> Any:
        """One call with the server's deadline; Train's reply is its first event (with detach the only
        one). Failures become an ERROR with a hint for the field or the state routerd names."""
        timeout_s = self.settings.timeout_s
        try:
            reply = self.client.call(method, request, timeout_s=timeout_s)
            return self._first_event(reply, timeout_s) if method == "Train" else reply
        except RoutedError as e:
            self._fail(method, e)

    def _first_event(self, events: Any, timeout_s: float) -> pb.TrainEvent:
        """Train is a stream: its errors arrive while reading it, as a grpc.RpcError, translated here
        as fdw.connection translates a unary call's (the call itself has the deadline)."""
        if isinstance(events, pb.TrainEvent):
            return events
        try:
            with signals_blocked():
                first = next(iter(events), None)
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                drop(self.settings)
            raise translate(e, "Train", self.settings, timeout_s=timeout_s) from None
        finally:
            cancel = getattr(events, "cancel", None)
            if callable(cancel):
                with signals_blocked():
                    cancel()  # a detached training ends the stream itself; nothing is left open
        if first is None:
            fail("routerd ended the Train stream without an event", sqlstate="XX000")
        return first  # type: ignore[no-any-return]

    def _fail(self, method: str, e: RoutedError) -> NoReturn:
        hint = e.hint
        code = e.code
        if hint is None and code == grpc.StatusCode.INVALID_ARGUMENT:
            field = (e.field or "").split(".", 1)[0]
            hint = TRAIN_HINTS.get(field) if method == "Train" else None
            if hint is None and field == "version":
                hint = "version is a model version, 1 or more. " + LIST_HINT
        elif hint is None and code == grpc.StatusCode.NOT_FOUND:
            hint = "version must name a model version. " + LIST_HINT
        elif hint is None and code == grpc.StatusCode.FAILED_PRECONDITION:
            if method == "Train":
                hint = WAIT_HINT
            elif method == "Promote":
                hint = ("Only a trained version can be promoted (not one that is training or failed); "
                        "see its status and reason: " + LIST_HINT)
            elif method == "Rollback":
                hint = ("Rollback goes back from the live version, and none is live. Promote one instead: "
                        "tinydancer.promote_model(version). " + LIST_HINT)
        fail(e.message, hint, e.detail, sqlstate=e.sqlstate)


__all__ = ["MODEL_COLUMNS", "Model", "ModelActions", "as_int64", "hyperparameters", "version_value"]
