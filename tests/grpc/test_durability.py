"""Reliability, counted: kill -9 loses no acknowledged write; concurrent writers lose no update;
SIGTERM drains in-flight calls and flushes the decision log."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.agents import agent
from tests.harness.routerd import Client, RouterdProcess

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store_arg(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))




def test_kill9_loses_no_acknowledged_write(tmp_path: Path, store_arg: str | None) -> None:
    proc = RouterdProcess(tmp_path / "d", store=store_arg).start()
    acked_agents: list[str] = []
    acked_outcomes: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        c = Client(proc.target)
        i = 0
        try:
            while not stop.is_set():
                name = f"agent-{i}"
                try:
                    c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent(name)), timeout=5)
                    acked_agents.append(name)
                    for _ in range(3):
                        r = c.feedback.RecordOutcome(pb.RecordOutcomeRequest(
                            agent_name=name, latency_ms=10.0 + i, success=True, quality=0.5), timeout=5)
                        acked_outcomes.append(r.outcome.outcome_id)
                except grpc.RpcError:
                    return  # the server died under us: whatever was not acknowledged may be lost
                i += 1
        finally:
            c.close()

    t = threading.Thread(target=writer)
    t.start()
    deadline = time.monotonic() + 60
    while len(acked_outcomes) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill9()  # mid-stream: the writer is still sending
    stop.set()
    t.join(30)
    assert len(acked_outcomes) >= 300, "the writer was too slow to reach the kill point"

    with RouterdProcess(tmp_path / "d", store=store_arg) as again:
        c = Client(again.target)
        names = set()
        token = ""
        while True:
            resp = c.registry.ListAgents(pb.ListAgentsRequest(page_size=1000, page_token=token))
            names |= {a.spec.name for a in resp.agents}
            token = resp.next_page_token
            if not token:
                break
        assert set(acked_agents) <= names
        ids = {o.outcome_id for o in c.all_outcomes()}
        missing = set(acked_outcomes) - ids
        assert not missing, f"{len(missing)} acknowledged outcomes lost"
        # counters agree with the log, agent by agent
        for name in acked_agents[:20]:
            a = c.registry.GetAgent(pb.GetAgentRequest(name=name))
            n = len(c.feedback.ListOutcomes(pb.ListOutcomesRequest(agent_name=name)).outcomes)
            assert a.metrics.total_requests == n
        c.close()


def test_concurrent_clients_exact_counts(tmp_path: Path, store_arg: str | None) -> None:
    with RouterdProcess(tmp_path / "d", store=store_arg) as proc:
        setup = Client(proc.target)
        for name in ("alpha", "beta"):
            setup.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent(name)))
        per_client = 100

        def run(k: int) -> int:
            c = Client(proc.target)
            ok = 0
            for i in range(per_client):
                name = "alpha" if i % 2 else "beta"
                c.feedback.RecordOutcome(pb.RecordOutcomeRequest(
                    agent_name=name, latency_ms=float(k), success=(i % 5 != 0), quality=0.5, cost=0.001),
                    timeout=30)
                ok += 1
            c.close()
            return ok

        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(run, range(8))) == 800
        total = sum_succ = 0
        spend = 0.0
        for name in ("alpha", "beta"):
            m = setup.registry.GetAgent(pb.GetAgentRequest(name=name)).metrics
            assert m.total_requests == 400 and m.quality_samples == 400
            total += m.total_requests
            sum_succ += m.successes
            spend += m.total_spend
        assert total == 800 and sum_succ == 8 * 80
        assert spend == pytest.approx(0.8)
        s = setup.analytics.RoutingStats(pb.RoutingStatsRequest())
        assert s.outcomes == 800
        assert len(setup.all_outcomes()) == 800
        setup.close()


def test_sigterm_drains_and_flushes(tmp_path: Path) -> None:
    """Calls in flight when SIGTERM arrives finish; the ones that finished are all in the flushed
    decision log after a restart (a call that arrived too late is refused whole, never half-done)."""
    proc = RouterdProcess(tmp_path / "d").start()
    c = Client(proc.target)
    c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("only")))
    for i in range(100):
        c.router.Route(pb.RouteRequest(request=f"r{i}"))
    size = 20000
    futures = []
    for k in range(3):
        big = pb.BatchRouteRequest(requests=[pb.RouteRequest(request=f"batch {k} {i}", max_alternatives=1)
                                             for i in range(size)])
        futures.append(c.router.BatchRoute.future(big, timeout=60))
    time.sleep(0.3)  # let the server take some of them
    assert proc.terminate(60) == 0
    finished = 0
    for f in futures:
        try:
            assert len(f.result().decisions) == size
            finished += 1
        except grpc.RpcError as e:
            assert e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), e
    print(f"{finished} of {len(futures)} in-flight batches finished after SIGTERM")
    c.close()
    with RouterdProcess(tmp_path / "d") as again:
        c2 = Client(again.target)
        assert c2.analytics.RoutingStats(pb.RoutingStatsRequest()).decisions == 100 + finished * size
        c2.close()


# -- decisions: a returned decision is stored ------------------------------------------------------

def _outcome_for(c: Client, decision_id: str) -> None:
    """RecordOutcome naming only the decision: routerd must know it (from the store after a restart)."""
    c.feedback.RecordOutcome(pb.RecordOutcomeRequest(decision_id=decision_id, latency_ms=5.0, success=True),
                             timeout=30)


def test_kill9_loses_no_acknowledged_decision(tmp_path: Path) -> None:
    """Route and BatchRoute stream from 6 clients; kill -9 mid-stream; after a restart every decision
    id any client got back is known to RecordOutcome."""
    proc = RouterdProcess(tmp_path / "d").start()
    setup = Client(proc.target)
    for name in ("alpha", "beta", "gamma"):
        setup.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent(name)))
    setup.close()
    acked: list[str] = []
    stop = threading.Event()

    def stream(k: int) -> None:
        c = Client(proc.target)
        i = 0
        try:
            while not stop.is_set():
                if k == 0 and i % 10 == 0:
                    reply = c.router.BatchRoute(pb.BatchRouteRequest(requests=[
                        pb.RouteRequest(request=f"batch {i} {j}", max_alternatives=0) for j in range(20)]), timeout=10)
                    acked.extend(d.decision_id for d in reply.decisions)
                else:
                    d = c.router.Route(pb.RouteRequest(request=f"client {k} request {i}", max_alternatives=0),
                                       timeout=10)
                    acked.append(d.decision_id)
                i += 1
        except grpc.RpcError:
            return  # the server died under us: what was not acknowledged may be lost
        finally:
            c.close()

    threads = [threading.Thread(target=stream, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 1500 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill9()  # mid-stream: every client is still sending
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) >= 1500, "the clients were too slow to reach the kill point"

    with RouterdProcess(tmp_path / "d") as again:
        c = Client(again.target)
        unknown = []
        for decision_id in acked:
            try:
                _outcome_for(c, decision_id)
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND, e
                unknown.append(decision_id)
        assert not unknown, f"{len(unknown)} of {len(acked)} acknowledged decisions unknown after kill -9"
        assert c.analytics.RoutingStats(pb.RoutingStatsRequest()).decisions >= len(acked)
        c.close()


class _Routerd:
    """``python -m routerd serve`` with stderr on a pipe (unlike RouterdProcess's file, a pipe is not
    subject to RLIMIT_FSIZE, so what routerd prints while the disk is full is seen)."""

    def __init__(self, data_dir: Path):
        cmd = [sys.executable, "-m", "routerd", "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)]
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        env.pop("TINYDANCER_TOKEN", None)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"listening on \S+:(\d+)", line)
        assert m, f"routerd did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}"
        self.target = f"127.0.0.1:{m.group(1)}"

    def terminate(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, err

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)


def test_disk_full_fails_the_call_instead_of_acknowledging(tmp_path: Path) -> None:
    """With the file size limit at 0 (``ulimit -f 0``: as a full disk, every write of the store
    fails) Route and BatchRoute answer UNAVAILABLE naming the reason, nothing is acknowledged that is
    not stored, and SIGTERM exits cleanly without a traceback, the disk still full."""
    r = _Routerd(tmp_path / "d")
    try:
        c = Client(r.target)
        c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("alpha")))
        acked = [c.router.Route(pb.RouteRequest(request=f"before {i}")).decision_id for i in range(20)]
        _, hard = resource.prlimit(r.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(r.proc.pid, resource.RLIMIT_FSIZE, (0, hard))
        failures: list[str] = []
        for i in range(40):
            try:
                if i % 4 == 0:
                    reply = c.router.BatchRoute(pb.BatchRouteRequest(requests=[
                        pb.RouteRequest(request=f"full batch {i} {j}") for j in range(10)]), timeout=10)
                    acked.extend(d.decision_id for d in reply.decisions)
                else:
                    acked.append(c.router.Route(pb.RouteRequest(request=f"full {i}"), timeout=10).decision_id)
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.UNAVAILABLE, e
                assert "could not be stored" in (e.details() or ""), e.details()
                failures.append(e.details() or "")
        assert len(failures) == 40, f"only {len(failures)} of 40 calls failed with every write failing"
        c.close()
    except BaseException:
        r.kill9()
        raise
    code, err = r.terminate()  # the disk is still full
    assert code == 0, err
    assert "Traceback" not in err, err

    with RouterdProcess(tmp_path / "d") as again:
        c = Client(again.target)
        for decision_id in acked:
            _outcome_for(c, decision_id)  # raises NOT_FOUND for an acknowledged decision not stored
        assert c.analytics.RoutingStats(pb.RoutingStatsRequest()).decisions == len(acked)
        c.close()
