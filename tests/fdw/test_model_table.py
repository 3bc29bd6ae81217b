"""tinydancer.model and tinydancer.model_actions (fdw/tables/model.py) at the FDW-class level: against a
fake client (real pb messages in and out; qual and insert values as Multicorn hands them over: text for
int8, float8, bool and jsonb), and against real gRPC servers for the Train stream, whose errors arrive
while reading it (a real routerd in process), and its deadline (a server that answers too late)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import fdw
from fdw import connection
from fdw.options import parse_options
from fdw.tables import TABLES, Model, ModelActions
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.fdw.fakes import OPTIONS, FakeClient, MulticornException, Qual, failure
from tests.harness.routerd import InProcessRouterd

T = Timestamp(seconds=1_700_000_000)
T2 = Timestamp(seconds=1_700_000_600)


def table(resource: str, client: Any) -> Any:
    return fdw.TinyDancer({**OPTIONS, "resource": resource}, {}, client=client)


def errs(fn: Any) -> MulticornException:
    with pytest.raises(MulticornException) as info:
        fn()
    return info.value


def version(v: int, status: str, **kw: Any) -> pb.ModelVersion:
    fields: dict[str, Any] = {"name": f"fastgrnn/{v}", "source": "outcomes", "embedder": "hashing-v1", "dim": 384,
                              "features": "head-tail/2", "created_at": T, **kw}
    return pb.ModelVersion(version=v, status=status, **fields)


LIVE = version(1, "live", fingerprint="ab12", agents=["cheap-mt", "dear-llm"], finished_at=T2, promoted_at=T2,
               metrics={"holdout_brier": 0.12, "n_train": 320.0, "current_brier": 0.25})
TRAINING = version(2, "training", parent=1)
FAILED = version(3, "failed", reason="the outcome log has 0 decisions", finished_at=T2)
LISTED = pb.ListModelsResponse(models=[LIVE, TRAINING, FAILED], live_version=1, training_version=2)


# -- tinydancer.model -----------------------------------------------------------------------------------

def test_the_tables_are_registered_and_declare_the_columns() -> None:
    assert TABLES["model"] is Model and TABLES["model_actions"] is ModelActions
    assert [(c.name, c.type) for c in Model.COLUMNS] == [
        ("version", "bigint"), ("name", "text"), ("status", "text"), ("live", "boolean"), ("source", "text"),
        ("fingerprint", "text"), ("embedder", "text"), ("dim", "integer"), ("features", "text"),
        ("agents", "text[]"), ("metrics", "jsonb"), ("reason", "text"), ("parent", "bigint"),
        ("created_at", "timestamptz"), ("finished_at", "timestamptz"), ("promoted_at", "timestamptz"),
        ("training", "boolean")]


def test_model_rows_map_the_proto_and_unset_fields_are_null() -> None:
    c = FakeClient(ListModels=LISTED)
    rows = list(table("model", c).execute([], set(Model.COLUMNS.names)))
    assert c.methods() == ["ListModels"]
    assert [(r["version"], r["status"], r["live"], r["training"]) for r in rows] == [
        (1, "live", True, False), (2, "training", False, True), (3, "failed", False, False)]
    live, training, failed = rows
    assert live["name"] == "fastgrnn/1" and live["agents"] == ["cheap-mt", "dear-llm"] and live["fingerprint"] == "ab12"
    assert isinstance(live["metrics"], str)  # jsonb goes out as text (a dict would render as hstore)
    assert json.loads(live["metrics"]) == {"current_brier": 0.25, "holdout_brier": 0.12, "n_train": 320.0}
    assert live["created_at"] == datetime.fromtimestamp(1_700_000_000, UTC)
    assert live["promoted_at"] == live["finished_at"] == datetime.fromtimestamp(1_700_000_600, UTC)
    assert live["parent"] is None and live["reason"] is None  # parent 0: none was live
    assert training["parent"] == 1 and training["finished_at"] is None and training["promoted_at"] is None
    assert training["fingerprint"] is None and json.loads(training["metrics"]) == {} and training["agents"] == []
    assert failed["reason"] == "the outcome log has 0 decisions"
    # only the columns a query reads
    assert list(table("model", c).execute([], {"version", "live"})) == [
        {"version": 1, "live": True}, {"version": 2, "live": False}, {"version": 3, "live": False}]


def test_where_version_asks_for_that_version_only() -> None:
    asked: list[int] = []

    def info(req: pb.ModelInfoRequest) -> pb.ModelVersion:
        asked.append(req.version)
        if req.version in (0, 1):
            return LIVE
        if req.version == 2:
            return TRAINING
        raise failure(grpc.StatusCode.NOT_FOUND, f"version: no model version {req.version}", "version")

    c = FakeClient(ModelInfo=info, ListModels=LISTED)
    t = table("model", c)
    # an int4 constant arrives as int, a bigint one or a parameter as text (Multicorn2 and the bridge)
    assert [r["version"] for r in t.execute([Qual("version", "=", 1)], {"version"})] == [1]
    assert [(r["version"], r["training"]) for r in t.execute([Qual("version", "=", "2")], {"version", "training"})] \
        == [(2, True)]
    assert list(t.execute([Qual("version", "=", "42")], {"version"})) == []  # NOT_FOUND: no row
    assert [r["version"] for r in t.execute([Qual("live", "=", "t")], {"version"})] == [1]  # WHERE live
    assert asked == [1, 2, 42, 0]
    # no row can match: no call at all
    for quals in ([Qual("version", "=", 0)], [Qual("version", "=", -3)], [Qual("version", "=", None)],
                  [Qual("version", "=", 1), Qual("version", "=", 2)]):
        assert list(t.execute(quals, {"version"})) == []
    assert asked == [1, 2, 42, 0]
    # what cannot be pushed down is left to PostgreSQL's recheck: every version
    for quals in ([Qual("version", ">", 1)], [Qual("version", "=", "1.5")], [Qual("live", "<>", "t")],
                  [Qual("version", ("=", True), [1, 2])]):
        assert len(list(t.execute(quals, {"version"}))) == 3
    assert c.methods().count("ListModels") == 4


def test_rel_size_is_small_and_one_row_for_a_named_version() -> None:
    t = table("model", FakeClient())
    assert t.get_rel_size([], {"version"}) == (20, 300)
    assert t.get_rel_size([Qual("version", "=", 3)], {"version"}) == (1, 300)
    assert t.get_rel_size([Qual("live", "=", "t")], {"version"}) == (1, 300)
    assert table("model_actions", FakeClient()).get_rel_size([], set()) == (1, 100)
    assert t.get_path_keys() == []


def test_the_model_table_is_read_only_and_says_how_to_change_it() -> None:
    e = errs(lambda: table("model", FakeClient()).rowid_column)
    assert "read-only" in e.message and e.sqlstate == "0A000"
    assert e.hint and "tinydancer.promote_model(version)" in e.hint and "train_model" in e.hint


# -- tinydancer.model_actions: train ---------------------------------------------------------------------

def started(v: int) -> Any:
    """A Train answer: the detached stream's one event (after reading the request stream, as routerd does)."""
    def answer(requests: Iterator[pb.TrainRequest]) -> Iterator[pb.TrainEvent]:
        sent.extend(requests)
        return iter([pb.TrainEvent(version=v, phase="started", message=f"training model version {v} in routerd")])
    sent: list[pb.TrainRequest] = []
    answer.sent = sent  # type: ignore[attr-defined]
    return answer


def test_train_is_detached_and_sends_the_options_given() -> None:
    answer = started(4)
    c = FakeClient(Train=answer)
    t = table("model_actions", c)
    row = t.insert({"action": "train", "version": None, "status": None, "holdout_fraction": "0.3", "seed": "7",
                    "max_outcomes": "500", "no_promote": "t", "hyperparameters": '{"epochs": 3, "hidden_dim": 8}',
                    "message": None})
    assert row == {"action": "train", "version": 4, "status": "training", "holdout_fraction": "0.3", "seed": "7",
                   "max_outcomes": "500", "no_promote": "t", "hyperparameters": '{"epochs": 3, "hidden_dim": 8}',
                   "message": "training model version 4 in routerd"}
    (req,) = answer.sent
    o = req.options
    assert o.detach and not o.from_dataset and o.no_promote
    assert (o.holdout_fraction, o.seed, o.max_outcomes) == (0.3, 7, 500)
    assert dict(o.hyperparameters) == {"epochs": 3.0, "hidden_dim": 8.0}
    assert c.calls[0][2] == 1.0  # the server's deadline (timeout_ms 1000)
    # NULLs are routerd's defaults
    answer = started(5)
    row = table("model_actions", FakeClient(Train=answer)).insert({"action": " Train "})
    assert row["version"] == 5 and row["action"] == "train"
    o = answer.sent[0].options
    assert (o.holdout_fraction, o.seed, o.max_outcomes, o.no_promote, dict(o.hyperparameters)) == (0, 0, 0, False, {})


@pytest.mark.parametrize(("values", "message", "hint"), [
    ({"action": None}, "column action must not be NULL", "'promote'"),
    ({"action": "retrain"}, "unknown action 'retrain'", "'rollback'"),
    ({"action": "train", "version": "3"}, "column version cannot be given to a training", "RETURNING version"),
    ({"action": "train", "status": "live"}, "column status is set by routerd", "RETURNING"),
    ({"action": "train", "holdout_fraction": "0"}, "holdout_fraction must be positive", "0.05 to 0.5"),
    ({"action": "train", "holdout_fraction": "abc"}, "column holdout_fraction: 'abc' is not a number", None),
    ({"action": "train", "seed": "9223372036854775808"}, "column seed: 9223372036854775808 is out of range", None),
    ({"action": "train", "max_outcomes": "0"}, "column max_outcomes must be positive", "at least 8"),
    ({"action": "train", "hyperparameters": "[1, 2]"}, "column hyperparameters: expected a JSON object", "epochs"),
    ({"action": "train", "hyperparameters": '{"epochs": "ten"}'}, 'epochs must be a finite number, not "ten"',
     "hidden_dim"),
    ({"action": "train", "hyperparameters": '{"epochs": true}'}, "epochs must be a finite number, not true", None),
    ({"action": "promote", "seed": "1", "version": "2"}, "column seed applies to action 'train' only", "NULL"),
    ({"action": "promote"}, "promote needs a version", "tinydancer.model"),
    ({"action": "rollback", "version": "2"}, "column version cannot be given to a rollback", "promote_model"),
])
def test_bad_actions_fail_before_any_call(values: dict[str, Any], message: str, hint: str | None) -> None:
    c = FakeClient()
    e = errs(lambda: table("model_actions", c).insert(values))
    assert message in e.message, e.message
    if hint is not None:
        assert e.hint and hint in e.hint, e.hint
    assert c.calls == []


def test_routerd_errors_become_errors_with_a_hint_naming_the_field_or_what_to_do() -> None:
    busy = failure(grpc.StatusCode.FAILED_PRECONDITION, "model version 2 is training (started 2026-01-01 00:00:00 "
                   "UTC); one training runs at a time: wait for it (routerd model list shows its status)")
    e = errs(lambda: table("model_actions", FakeClient(Train=busy)).insert({"action": "train"}))
    assert e.message.startswith("model version 2 is training") and e.sqlstate == "55000"
    assert e.hint and "tinydancer.model" in e.hint and "wait" in e.hint
    bad = failure(grpc.StatusCode.INVALID_ARGUMENT, "invalid input: hyperparameters.epoch: unknown",
                  "hyperparameters.epoch")
    e = errs(lambda: table("model_actions", FakeClient(Train=bad)).insert({"action": "train",
                                                                           "hyperparameters": '{"epoch": 1}'}))
    assert e.sqlstate == "22023" and e.hint and "hidden_dim, epochs" in e.hint
    missing = failure(grpc.StatusCode.NOT_FOUND, "version: no model version 42", "version")
    e = errs(lambda: table("model_actions", FakeClient(Promote=missing)).insert({"action": "promote",
                                                                                 "version": "42"}))
    assert e.message == "version: no model version 42" and e.sqlstate == "42704"
    assert e.hint and e.hint.startswith("version must name a model version") and "tinydancer.model" in e.hint
    failed = failure(grpc.StatusCode.FAILED_PRECONDITION, "model version 3 is failed: only a trained version can "
                     "be promoted")
    e = errs(lambda: table("model_actions", FakeClient(Promote=failed)).insert({"action": "promote", "version": 3}))
    assert e.sqlstate == "55000" and e.hint and "reason" in e.hint
    none = failure(grpc.StatusCode.FAILED_PRECONDITION, "no model is live: there is nothing to roll back")
    e = errs(lambda: table("model_actions", FakeClient(Rollback=none)).insert({"action": "rollback"}))
    assert "nothing to roll back" in e.message and e.hint and "promote_model" in e.hint


def test_promote_and_rollback_return_the_version_live_afterwards() -> None:
    c = FakeClient(Promote=LIVE, Rollback=pb.RollbackResponse(live=version(1, "live")))
    t = table("model_actions", c)
    row = t.insert({"action": "promote", "version": "1"})
    assert (row["version"], row["status"], row["message"]) == (1, "live", "model version 1 (fastgrnn/1) is live")
    assert c.calls[0][1] == pb.PromoteRequest(version=1)
    row = t.insert({"action": "rollback"})
    assert (row["version"], row["status"]) == (1, "live") and "live again" in row["message"]
    row = table("model_actions", FakeClient(Rollback=pb.RollbackResponse())).insert({"action": "rollback"})
    assert row["version"] is None and row["status"] is None and "observed quality" in row["message"]


def test_model_actions_store_nothing_to_read() -> None:
    e = errs(lambda: list(table("model_actions", FakeClient()).execute([], {"action"})))
    assert "write-only" in e.message and e.sqlstate == "0A000" and e.hint and "tinydancer.model" in e.hint
    assert ModelActions.rowid_column == "action"


# -- the Train stream over real gRPC ---------------------------------------------------------------------

def _actions(target: str, timeout_ms: int = 2000) -> Any:
    opts = {**OPTIONS, "target": target, "timeout_ms": str(timeout_ms), "resource": "model_actions"}
    return fdw.TinyDancer(opts, {}, client=connection.RouterdClient(parse_options(opts)))


def _model(target: str) -> Any:
    opts = {**OPTIONS, "target": target, "timeout_ms": "2000", "resource": "model"}
    return fdw.TinyDancer(opts, {}, client=connection.RouterdClient(parse_options(opts)))


def test_train_against_routerd_detaches_and_its_stream_errors_are_translated(tmp_path: Path) -> None:
    with InProcessRouterd(tmp_path / "routerd") as r:
        actions, model = _actions(r.target), _model(r.target)
        try:
            # an empty outcome log: the call returns at once, the training fails in the background
            t0 = time.monotonic()
            row = actions.insert({"action": "train"})
            assert time.monotonic() - t0 < 2.0
            assert (row["version"], row["status"]) == (1, "training")
            deadline = time.monotonic() + 60
            while True:
                (m,) = model.execute([Qual("version", "=", row["version"])], {"status", "reason", "training"})
                if m["status"] != "training" or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert m["status"] == "failed" and not m["training"] and "training needs at least 8" in m["reason"]
            # an error raised inside the stream (INVALID_ARGUMENT with the field in trailing metadata)
            e = errs(lambda: actions.insert({"action": "train", "hyperparameters": '{"epoch": 5}'}))
            assert "hyperparameters.epoch" in e.message and e.sqlstate == "22023"
            assert e.hint and "hidden_dim, epochs" in e.hint
            e = errs(lambda: actions.insert({"action": "promote", "version": "42"}))
            assert "no model version 42" in e.message and e.sqlstate == "42704" and e.hint
            e = errs(lambda: actions.insert({"action": "promote", "version": "1"}))  # the failed one
            assert e.sqlstate == "55000" and "failed" in e.message
            assert list(model.execute([Qual("live", "=", "t")], {"version"})) == []  # none is live
        finally:
            connection.drop(actions.settings)


@pytest.fixture
def late_train() -> Iterator[str]:
    """A gRPC server whose Train answers its first event after 1 s."""
    def slow(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        list(requests)
        time.sleep(1.0)
        yield pb.TrainEvent(version=1, phase="started").SerializeToString()

    handlers = {"Train": grpc.stream_stream_rpc_method_handler(slow)}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("tinydancer.v1.Model", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)


def test_train_has_the_servers_deadline_and_an_unreachable_routerd_is_named(late_train: str) -> None:
    actions = _actions(late_train, timeout_ms=200)
    t0 = time.monotonic()
    e = errs(lambda: actions.insert({"action": "train"}))
    assert time.monotonic() - t0 < 0.9
    assert e.message == ("routerd did not answer Train within its deadline of 200 ms: the deadline expired "
                         "(DEADLINE_EXCEEDED)") and e.sqlstate == "08006"
    e = errs(lambda: _actions("127.0.0.1:1", timeout_ms=500).insert({"action": "train"}))
    assert e.message == "routerd is unreachable at 127.0.0.1:1 (UNAVAILABLE)" and e.sqlstate == "08006"
    assert e.hint and "target" in e.hint
