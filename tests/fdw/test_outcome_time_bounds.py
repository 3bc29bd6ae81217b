"""tinydancer.outcomes: a recorded_at condition at the end of Python's datetime range is a filter like any
other (its pushed-down end bound cannot be represented, so it is dropped: PostgreSQL rechecks it)."""

from __future__ import annotations

import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.fdw.fakes import FakeClient, Qual
from tests.fdw.test_tables import table


@pytest.mark.parametrize("op", ["<=", "="])
def test_an_end_bound_at_datetime_max_is_dropped_not_an_overflow(op: str) -> None:
    client = FakeClient(ListOutcomes=pb.ListOutcomesResponse(outcomes=[pb.Outcome(outcome_id="o1")]))
    rows = list(table("outcomes", client).execute([Qual("recorded_at", op, "9999-12-31 23:59:59.999999+00")],
                                                  {"outcome_id"}))
    assert rows == [{"outcome_id": "o1"}]
    (method, req, _), = client.calls
    assert method == "ListOutcomes" and not req.HasField("end")
    assert req.HasField("start") == (op == "=")
