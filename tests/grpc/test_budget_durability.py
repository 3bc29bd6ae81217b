"""Budgets under kill -9: 16 concurrent clients against one hard budget, routerd killed mid-load and
restarted on the same store. Reservations are durable (written with their decisions), so the sum of
what was acknowledged never passes the budget, and the budget is used (>= 95 %)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path

import grpc
import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.agents import agent
from tests.harness.routerd import Client, RouterdProcess

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
AMOUNT = Decimal("3")


@pytest.fixture(params=STORES)
def store_arg(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


def test_kill9_mid_load_never_overspends(tmp_path: Path, store_arg: str | None) -> None:
    proc = RouterdProcess(tmp_path / "d", store=store_arg).start()
    with Client(proc.target) as c:
        for name, price, q in (("dear", 0.013, 0.95), ("mid", 0.007, 0.8), ("cheap", 0.001, 0.5)):
            c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent(
                name, cost=pb.CostModel(per_call=price), quality_prior=q)), timeout=10)
        c.budgets.CreateBudget(pb.CreateBudgetRequest(budget=pb.Budget(
            name="hard", amount=float(AMOUNT), window="total", scope="global")), timeout=10)
    target = [proc.target]
    acked: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    refused = threading.Event()

    def client() -> None:
        c = Client(target[0])
        try:
            while not refused.is_set():
                try:
                    d = c.router.Route(pb.RouteRequest(request="spend", objective="quality", max_alternatives=0),
                                       timeout=5)
                except grpc.RpcError as exc:
                    if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                        raise
                    time.sleep(0.05)  # routerd is down: wait for it on its new address
                    c.close()
                    c = Client(target[0])
                    continue
                if not d.routed:
                    refused.set()
                    return
                with lock:
                    acked.append(d.estimated_cost)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill9()
    before_kill = len(acked)
    proc = RouterdProcess(tmp_path / "d", store=store_arg).start()
    target[0] = proc.target
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors[:3]
        assert before_kill >= 100 and refused.is_set()
        exact = sum(Decimal(repr(x)) for x in acked)
        assert exact <= AMOUNT, f"acknowledged {exact} over a hard budget of {AMOUNT}"
        with Client(proc.target) as c:
            spend = c.budgets.GetSpend(pb.GetSpendRequest(budget="hard"), timeout=10).spend[0]
        charged = Decimal(repr(spend.reserved)) + Decimal(repr(spend.settled))
        # every acknowledged decision is charged; a decision killed before its reply may be too
        assert exact - Decimal("1e-9") <= charged <= AMOUNT
        assert charged >= Decimal("0.95") * AMOUNT  # used: in-flight decisions at the kill stay charged
    finally:
        proc.stop()
