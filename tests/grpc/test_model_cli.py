"""The learned model over the wire: ``routerd train|eval|model|dataset`` and ``route-batch`` against a
real routerd process (hashing embedder), and the Model service's errors.

The data (tests/harness/learning.py) has a known answer: a cheap agent that is good at translating
only and a dear one good at everything, so a trained model must send translations to the cheap one.
"""

from __future__ import annotations

import functools
import json
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness import learning as L
from tests.harness.routerd import Client, RouterdProcess, run_cli

Cli = Callable[..., subprocess.CompletedProcess[str]]
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def api(routerd: RouterdProcess) -> Iterator[Client]:
    c = Client(routerd.target)
    yield c
    c.close()


@pytest.fixture
def cli(routerd: RouterdProcess) -> Cli:
    return functools.partial(run_cli, routerd.target, timeout=120)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    ihdr = data[16:29]
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(b"IHDR" + ihdr)
    width, height = struct.unpack(">II", ihdr[:8])
    assert data[-8:-4] == b"IEND"
    return width, height


def test_train_evaluate_and_route_batch_agree(cli: Cli, api: Client, tmp_path: Path) -> None:
    train_file = L.write(tmp_path / "train.jsonl", L.records(600, 1))
    p = cli("train", "--dataset", str(train_file))
    assert "live" in p.stdout and "holdout_brier" in p.stdout
    for phase in ("started", "embedding", "training", "evaluating"):  # one line a phase off a terminal
        assert f" {phase}" in p.stderr
    listed = cli("model", "list").stdout
    assert listed.startswith("*1 ") and "live" in listed
    info = json.loads(cli("model", "info", "--json").stdout)
    assert info["status"] == "live" and info["name"] == "fastgrnn/1" and set(info["agents"]) == {L.CHEAP, L.DEAR}
    assert info["metrics"]["holdout_brier"] < info["metrics"]["current_brier"]

    # held-out prompts: the evaluation's operating point at W is what route-batch at W decides
    test = L.records(200, 9)
    test_file = L.write(tmp_path / "test.jsonl", test)
    report = json.loads(cli("eval", "--dataset", str(test_file), "--json").stdout)
    model = next(r for r in report["routers"] if r["name"] == "fastgrnn/1")
    points = [pt for pt in model["points"] if "willingness_to_pay" in pt]
    assert len(points) >= 2
    for pt in (points[0], points[len(points) // 2], points[-1]):
        w = pt["willingness_to_pay"]
        out = cli("route-batch", str(test_file), "--willingness-to-pay", repr(w), "--json").stdout
        decisions = [json.loads(line) for line in out.splitlines()]
        assert len(decisions) == len(test)
        assert all(d["model_version"] == "fastgrnn/1" for d in decisions)
        cost = np.mean([r["agents"][d["agent_name"]]["cost"] for r, d in zip(test, decisions, strict=True)])
        quality = np.mean([r["agents"][d["agent_name"]]["quality"] for r, d in zip(test, decisions, strict=True)])
        assert (cost, quality) == pytest.approx((pt["cost"], pt["quality"]), abs=1e-9)
        conf = [d["confidence"] for d in decisions]
        assert conf == pytest.approx([d["expected_quality"] for d in decisions])
    names = {r["name"] for r in report["routers"]}
    assert {"k-NN (5-fold)", "logistic regression (5-fold)", "random (matched cost)", "oracle"} <= names
    assert model["auc"] > next(r for r in report["routers"] if r["name"] == "random (matched cost)")["auc"]
    assert 0 <= report["calibration_error"] <= 1

    text = cli("eval", "--dataset", str(test_file), "--plot", str(tmp_path / "curve.png")).stdout
    assert "fastgrnn/1 on 200 requests" in text and "oracle" in text
    assert png_size(tmp_path / "curve.png") == (800, 500)


def test_a_worse_candidate_is_rejected_and_rollback_restores_routing(cli: Cli, api: Client, tmp_path: Path) -> None:
    train_file = L.write(tmp_path / "train.jsonl", L.records(600, 1))
    cli("train", "--dataset", str(train_file))
    probe = L.write(tmp_path / "probe.jsonl", [{"request": L.prompt(k, np.random.default_rng(i)),
                                                "objective": "balanced"} for i, k in enumerate(L.kinds(30, 3))])

    def routed() -> list[str]:
        return [json.loads(line)["agent_name"] for line in cli("route-batch", str(probe), "--json").stdout.splitlines()]

    first = routed()
    p = cli("train", "--dataset", str(train_file), "--epochs", "1", "--learning-rate", "1e-6", "--json", check=False)
    assert p.returncode == 3, p.stderr  # rejected
    rejected = json.loads(p.stdout)
    assert rejected["status"] == "rejected" and "does not beat fastgrnn/1" in rejected["reason"]
    assert routed() == first
    flipped = L.write(tmp_path / "flip.jsonl", L.records(600, 2, flip=True))
    assert json.loads(cli("train", "--dataset", str(flipped), "--json").stdout)["status"] == "live"
    assert routed() != first
    back = json.loads(cli("model", "rollback", "--json").stdout)
    assert int(back["version"]) == 1 and back["status"] == "live"  # int64 is a JSON string
    assert routed() == first
    listed = api.model.ListModels(pb.ListModelsRequest(), timeout=10)
    assert [(m.version, m.status) for m in listed.models] == [(1, "live"), (2, "rejected"), (3, "rolled_back")]
    assert listed.live_version == 1 and listed.training_version == 0


def test_bad_datasets_name_the_line(cli: Cli, tmp_path: Path) -> None:
    good = [json.dumps(r) for r in L.records(20, 1)]
    cases = {
        "empty.jsonl": (good[:3] + [""] + good[3:], "empty.jsonl:4", "empty line"),
        "malformed.jsonl": (good[:5] + ["{not json"] + good[5:], "malformed.jsonl:6", ""),
        "range.jsonl": (good[:7] + [json.dumps({"prompt": "x", "agents": {"a": {"quality": 1.5, "cost": 0.1}}})]
                        + good[7:], "range.jsonl:8", "quality"),
        "noquality.jsonl": ([json.dumps({"prompt": f"p{i}", "agents": {"a": {"cost": 0.1},
                                                                       "b": {"quality": 1, "cost": 1}}})
                             for i in range(10)], "agent 'a' has no quality value", ""),
        "embedder.jsonl": ([json.dumps({**r, "embedding": [0.5] * 384, "embedder": "minilm-elsewhere"})
                            for r in L.records(10, 1)], "minilm-elsewhere", ""),
        "none.jsonl": ([], "has no records", ""),
    }
    for name, (lines, where, what) in cases.items():
        f = tmp_path / name
        f.write_text("".join(line + "\n" for line in lines))
        p = cli("train", "--dataset", str(f), check=False)
        assert p.returncode == 1, (name, p.stdout)
        assert "INVALID_ARGUMENT" in p.stderr and where in p.stderr and what in p.stderr, (name, p.stderr)
    assert "no model is live" in cli("model", "list").stdout  # nothing was trained or registered


def test_model_service_errors(api: Client, cli: Cli, tmp_path: Path) -> None:
    with pytest.raises(grpc.RpcError) as e:
        api.model.Promote(pb.PromoteRequest(version=42), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "no model version 42" in (e.value.details() or "")
    with pytest.raises(grpc.RpcError) as e:
        api.model.Rollback(pb.RollbackRequest(), timeout=10)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as e:
        api.model.ModelInfo(pb.ModelInfoRequest(), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    p = cli("eval", "--dataset", str(L.write(tmp_path / "t.jsonl", L.records(20, 1))), check=False)
    assert p.returncode == 1 and "FAILED_PRECONDITION" in p.stderr and "no model is live" in p.stderr

    def stream(*msgs: Any) -> Any:
        return api.model.Train(iter(msgs), timeout=60)

    with pytest.raises(grpc.RpcError) as e:  # the options must come first
        list(stream(pb.TrainRequest(dataset=pb.DatasetLines(lines=["{}"]))))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "first message" in (e.value.details() or "")
    with pytest.raises(grpc.RpcError) as e:
        list(stream(pb.TrainRequest(options=pb.TrainOptions(from_dataset=True, hyperparameters={"dropout": 0.5})),
                    *[pb.TrainRequest(dataset=pb.DatasetLines(lines=[json.dumps(r) for r in L.records(20, 1)]))]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "hyperparameters.dropout" in (e.value.details() or "")

    # one training at a time: a detached one is running while the second asks
    big = [json.dumps(r) for r in L.records(6000, 1)]
    events = list(stream(pb.TrainRequest(options=pb.TrainOptions(from_dataset=True, dataset_name="big.jsonl",
                                                                 detach=True)),
                         pb.TrainRequest(dataset=pb.DatasetLines(lines=big))))
    assert [(ev.phase, ev.version) for ev in events] == [("started", 1)]
    with pytest.raises(grpc.RpcError) as e:
        list(stream(pb.TrainRequest(options=pb.TrainOptions())))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "model version 1 is training" in (e.value.details() or "")
    assert api.model.ListModels(pb.ListModelsRequest(), timeout=10).training_version == 1


def test_training_from_outcomes_over_grpc(api: Client, cli: Cli) -> None:
    for name, cost, prior in ((L.CHEAP, L.CHEAP_COST, 0.5), (L.DEAR, L.DEAR_COST, 0.9)):
        cli("agents", "add", name, "--cost-per-call", str(cost), "--quality", str(prior))
    rng = np.random.default_rng(2)
    for i in range(300):
        kind = "translate" if i % 2 else "proof"
        agent = L.CHEAP if i % 4 in (0, 1) else L.DEAR
        other = L.DEAR if agent == L.CHEAP else L.CHEAP
        d = api.router.Route(pb.RouteRequest(request=L.prompt(kind, rng),
                                             constraints=pb.Constraints(excluded_agents=[other])), timeout=10)
        api.feedback.RecordOutcome(pb.RecordOutcomeRequest(
            decision_id=d.decision_id, latency_ms=100.0, success=True,
            quality=float(rng.random() < L.QUALITY[(agent, kind)])), timeout=10)
    out = cli("train", "--from-outcomes", "--json").stdout
    rec = json.loads(out)
    assert rec["status"] == "live" and rec["source"] == "outcomes"
    d = api.router.Route(pb.RouteRequest(request="Translate into French: the garden", objective="balanced"), timeout=10)
    assert d.agent_name == L.CHEAP and d.model_version == "fastgrnn/1"


@pytest.mark.skipif(not (DATA / "routerbench").is_dir(), reason="the shared RouterBench files are not here")
def test_dataset_convert_routerbench(tmp_path: Path) -> None:
    src = sorted((DATA / "routerbench").glob("*_train.csv"))[:1]
    out = tmp_path / "rb.jsonl"
    p = subprocess.run([sys.executable, "-m", "routerd", "dataset", "convert", "routerbench", *map(str, src),
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = out.read_text().splitlines()
    assert p.stderr.strip() == f"{len(lines)} records" and len(lines) > 100
    first = json.loads(lines[0])
    assert set(first) >= {"prompt", "agents", "category"} and "gpt-4-1106-preview" in first["agents"]
    bad = subprocess.run([sys.executable, "-m", "routerd", "dataset", "convert", "routerbench",
                          str(tmp_path / "missing.csv")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "missing.csv" in bad.stderr
