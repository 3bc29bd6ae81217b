"""Semantic routes across process deaths and restarts, against real routerd processes: a 1,000-route,
100,000-utterance set survives ``kill -9``; routerd with the default embedder (MiniLM) is serving,
and matching by meaning, right after it starts; ``--reembed-routes`` carries a data dir written by the
hashing embedder over to MiniLM.

Vectors of the large set are seeded random unit vectors given in ``utterance_embeddings`` (embedding
100,000 texts with MiniLM would take minutes); routerd runs the hashing embedder there, whose
dimension (384) is MiniLM's, so the vectors are accepted as its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from routerd.config import Config
from routerd.domain import RouteRecord, RouteSpec
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.model.embedders import HashingEmbedder
from routerd.server import lock_store
from routerd.store import open_store
from tests.harness.agents import agent
from tests.harness.routerd import Client, RouterdProcess

DIM = 384
ROUTES = 1_000
SEED = 2024
# Through CreateRoute: the last 50 routes (5,000 utterances). The other 950 (95,000 utterances) are
# written to the store directly, with the store's own insert_route (what CreateRoute calls): creating
# all of them through gRPC took ~410 s here, since every CreateRoute on a large set rebuilds the whole
# snapshot and inserts into the HNSW index synchronously (~1.7 ms an utterance), and a write made
# after a restart on a large set waits for the background HNSW build (see the xfail test below).
VIA_GRPC = range(950, ROUTES)


def count(i: int) -> int:
    """Utterances of route i: 140 and 60 alternately (100,000 in all), so counts are checked, not assumed."""
    return 140 if i % 2 == 0 else 60


def route_name(i: int) -> str:
    return f"r-{i:04d}"


def utterances(i: int) -> list[str]:
    return [f"route {i} utterance {j}" for j in range(count(i))]


def vectors(i: int) -> np.ndarray:
    """Route i's unit vectors, regenerated on demand (one seeded generator a route)."""
    v = np.random.default_rng([SEED, i]).standard_normal((count(i), DIM)).astype(np.float32)
    out: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def create_via_grpc(c: Client, i: int) -> None:
    r = pb.SemanticRoute(name=route_name(i), utterances=utterances(i),
                         utterance_embeddings=[pb.Vector(values=row) for row in vectors(i).tolist()])
    got = c.routes.CreateRoute(pb.CreateRouteRequest(route=r), timeout=60)
    assert got.utterance_count == count(i)


def seed_store(data_dir: Path, routes: range) -> None:
    """Write routes straight into routerd's SQLite store (under the data dir's lock: no routerd runs)."""
    cfg = Config(data_dir=str(data_dir))
    lock = lock_store(cfg)
    store = open_store(cfg.store_url())
    try:
        now = time.time()
        name = HashingEmbedder(DIM).name
        for i in routes:
            store.insert_route(RouteRecord(RouteSpec(route_name(i), tuple(utterances(i))), vectors(i), name, now, now))
    finally:
        store.close()
        if lock is not None:
            lock.release()


def started(data_dir: Path, *args: str, timeout: float = 60.0) -> tuple[RouterdProcess, float]:
    """A routerd process and the seconds from its launch to a passing health check."""
    t = time.monotonic()
    proc = RouterdProcess(data_dir, extra_args=args).start(timeout=timeout)
    return proc, time.monotonic() - t


def serving(target: str) -> bool:
    with grpc.insecure_channel(target) as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
        return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)


def check_large_set(c: Client, rng: np.random.Generator) -> None:
    """Every route with its utterance count; utterance texts of a sample; a query equal to a sampled
    utterance's vector matches its route with similarity 1."""
    counts: dict[str, int] = {}
    token = ""
    while True:
        resp = c.routes.ListRoutes(pb.ListRoutesRequest(page_size=1000, page_token=token), timeout=60)
        counts |= {r.name: r.utterance_count for r in resp.routes}
        token = resp.next_page_token
        if not token:
            break
    assert counts == {route_name(i): count(i) for i in range(ROUTES)}
    assert sum(counts.values()) == 100_000
    sample = sorted({*rng.choice(ROUTES, 40, replace=False).tolist(), VIA_GRPC[0], VIA_GRPC[-1], 0})
    for i in sample:
        got = c.routes.GetRoute(pb.GetRouteRequest(name=route_name(i)), timeout=30)
        assert list(got.utterances) == utterances(i)
        j = int(rng.integers(count(i)))
        m = c.router.SemanticRoute(pb.SemanticRouteRequest(embedding=vectors(i)[j].tolist(), top_k=1), timeout=30)
        assert [x.route for x in m.matches] == [route_name(i)]
        assert m.matches[0].similarity == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_a_100k_utterance_route_set_survives_kill9(tmp_path: Path) -> None:
    data = tmp_path / "r"
    rng = np.random.default_rng(SEED)
    # 1. The last 50 routes through CreateRoute; kill -9 right after the last one is acknowledged.
    proc, _ = started(data)
    c = Client(proc.target)
    for i in VIA_GRPC:
        create_via_grpc(c, i)
    proc.kill9()
    c.close()
    # 2. The other 950 routes into the store (see VIA_GRPC for why not through gRPC).
    seed_store(data, range(VIA_GRPC[0]))
    # 3. routerd on the full set; killed -9 while it serves (its HNSW build still running), restarted.
    for attempt in ("first start on the full set", "restart after kill -9"):
        proc, ready_s = started(data)
        print(f"\n1,000 routes / 100,000 utterances, {attempt}: launch to SERVING {ready_s:.2f} s")
        c = Client(proc.target)
        try:
            check_large_set(c, rng)
        finally:
            c.close()
            proc.kill9()


@pytest.mark.slow
def test_a_write_right_after_restarting_a_large_set_is_not_held_by_the_ann_build(tmp_path: Path) -> None:
    data = tmp_path / "r"
    seed_store(data, range(VIA_GRPC[0]))  # 95,000 utterances: past EXACT_MAX_UTTERANCES, so HNSW is built
    proc, _ = started(data)
    c = Client(proc.target)
    try:
        # Reads are served (exactly) while the index builds ...
        v = vectors(3)[5]
        m = c.router.SemanticRoute(pb.SemanticRouteRequest(embedding=v.tolist(), top_k=1), timeout=30)
        assert [x.route for x in m.matches] == [route_name(3)]
        # ... and a write of 140 utterances (well under a second on an idle index) must not wait the
        # minutes the build takes.
        r = pb.SemanticRoute(name="late", utterances=utterances(VIA_GRPC[0]),
                             utterance_embeddings=[pb.Vector(values=row) for row in vectors(VIA_GRPC[0]).tolist()])
        t = time.monotonic()
        c.routes.CreateRoute(pb.CreateRouteRequest(route=r), timeout=20)
        print(f"\nCreateRoute right after start on 95,000 utterances: {time.monotonic() - t:.2f} s")
    finally:
        c.close()
        proc.kill9()  # a handler stuck behind the build would hold a graceful stop for its whole length


BILLING = ["I was charged twice for my subscription", "how do I update my credit card",
           "I want a refund for last month", "why is my bill so high this month",
           "can I pay my invoice by bank transfer"]
ACCOUNT = ["I forgot my password", "reset my password please", "I can't log in to my account", "my account is locked",
           "how do I turn on two-factor authentication"]
ORDERS = ["where is my package", "track my order", "my delivery is late", "when will my order arrive",
          "has my order shipped yet"]
# Paraphrases sharing (almost) no word with the utterances: the hashing embedder cannot place them.
PARAPHRASES = {"you billed me two times": "billing", "cannot sign in, credentials forgotten": "account-access"}


def create_support_routes(c: Client) -> None:
    for a in (agent("billing-bot", capabilities=["payments"]), agent("account-bot", capabilities=["identity"]),
              agent("logistics-bot", capabilities=["shipping"])):
        c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=a), timeout=10)
    for name, utts, target in (("billing", BILLING, "billing-bot"), ("account-access", ACCOUNT, "account-bot"),
                               ("order-tracking", ORDERS, "logistics-bot")):
        c.routes.CreateRoute(pb.CreateRouteRequest(route=pb.SemanticRoute(
            name=name, utterances=utts, target_agent=target, threshold=0.4)), timeout=30)


def top_routes(c: Client) -> dict[str, str]:
    out = {}
    for q in PARAPHRASES:
        m = c.router.SemanticRoute(pb.SemanticRouteRequest(query=q, top_k=1), timeout=10)
        out[q] = m.matches[0].route if m.matches else ""
    return out


@pytest.fixture
def minilm_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir holding three agents and three routes embedded by MiniLM (routerd stopped)."""
    data = tmp_path / "r"
    with RouterdProcess(data, extra_args=("--embedder", "minilm")) as proc:
        c = Client(proc.target)
        create_support_routes(c)
        c.close()
    yield data


def test_default_embedder_is_serving_and_matching_right_after_start(minilm_dir: Path) -> None:
    # The harness defaults to hashing; routerd's own default is MiniLM, asked for explicitly here.
    proc, ready_s = started(minilm_dir, "--embedder", "minilm")
    try:
        print(f"\nrouterd (MiniLM, 3 agents, 3 routes): launch to SERVING {ready_s:.2f} s")
        assert serving(proc.target)
        c = Client(proc.target)
        assert top_routes(c) == PARAPHRASES
        d = c.router.Route(pb.RouteRequest(request="you billed me two times", objective="quality"), timeout=10)
        assert d.route_name == "billing" and d.agent_name == "billing-bot"
        c.close()
    finally:
        proc.stop()


def test_reembed_routes_moves_a_hashing_data_dir_to_minilm(tmp_path: Path) -> None:
    data = tmp_path / "r"
    with RouterdProcess(data) as proc:  # the hashing embedder
        c = Client(proc.target)
        create_support_routes(c)
        assert c.router.Embed(pb.EmbedRequest(texts=["x"]), timeout=10).embedder.startswith("hashing")
        assert top_routes(c) == dict.fromkeys(PARAPHRASES, "")  # words, not meaning: no match
        c.close()
    with RouterdProcess(data, extra_args=("--embedder", "minilm", "--reembed-routes")) as proc:
        c = Client(proc.target)
        assert c.router.Embed(pb.EmbedRequest(texts=["x"]), timeout=10).embedder == "all-MiniLM-L6-v2-int8"
        assert top_routes(c) == PARAPHRASES
        got = c.routes.GetRoute(pb.GetRouteRequest(name="billing"), timeout=10)
        assert list(got.utterances) == BILLING and got.target_agent == "billing-bot" and got.threshold == 0.4
        c.close()
    # The store holds MiniLM vectors now: MiniLM starts without the flag; hashing is the mismatch.
    with RouterdProcess(data, extra_args=("--embedder", "minilm")) as proc:
        c = Client(proc.target)
        assert top_routes(c) == PARAPHRASES
        c.close()
    back = RouterdProcess(data, extra_args=("--embedder", "hashing"))
    with pytest.raises(RuntimeError):
        back.start(timeout=30)
    assert "all-MiniLM-L6-v2-int8" in back.stderr() and "--reembed-routes" in back.stderr()
