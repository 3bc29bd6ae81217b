"""``tinydancer.stats``: one row of routing statistics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

from fdw.tables.base import Column, Columns, Row, TinyDancer, optional, read_only
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb


class Stats(TinyDancer):
    resource = "stats"
    COLUMNS = Columns(
        Column("agents", "bigint", lambda s: s.agents),
        Column("active_agents", "bigint", lambda s: s.active_agents),
        Column("decisions", "bigint", lambda s: s.decisions),
        Column("outcomes", "bigint", lambda s: s.outcomes),
        Column("total_spend", "float8", lambda s: s.total_spend),
        Column("mean_quality", "float8", optional("mean_quality")),
        Column("success_rate", "float8", optional("success_rate")),
        Column("open_circuits", "bigint", lambda s: s.open_circuits),
        Column("model_version", "text", lambda s: s.model_version),
    )

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("stats", "routerd computes the statistics from agents, decisions and outcomes.")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (1, 100)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        yield self.COLUMNS.row(self.rpc("RoutingStats", pb.RoutingStatsRequest()), columns)
