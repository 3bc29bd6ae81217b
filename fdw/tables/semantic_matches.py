"""``tinydancer.semantic_matches``: virtual. The semantic routes a request matches, best first: inputs
``query`` (or ``query_embedding``), ``top_k`` (1..100, default 3) and ``user_tier`` (checked against the
routes' user_tiers) in WHERE, echoed back as given; one row per matching route, with its ``rank``. No
row when nothing clears its threshold (out of scope).

    SELECT route_name, similarity, confidence FROM tinydancer.semantic_matches WHERE query = 'reset my password';
    SELECT * FROM tinydancer.semantic_matches WHERE query = ANY(ARRAY['a', 'b']) AND top_k = 1;
    SELECT r.id, m.route_name FROM requests r JOIN tinydancer.semantic_matches m ON m.query = r.body;

The proto has no batch form of SemanticRoute, so ``query = ANY(array)`` makes one call per distinct
query (in order), and a join one call per outer row (a parameterized path, as ``tinydancer.decisions``).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn

from fdw.errors import FEATURE_NOT_SUPPORTED, INVALID_PARAMETER_VALUE, fail
from fdw.tables.base import (
    ANY,
    GUARD,
    Column,
    Columns,
    Row,
    TinyDancer,
    as_int,
    inputs_from_quals,
    read_only,
)
from fdw.tables.routes import FieldHints, float_array
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

INPUTS = ("query", "top_k", "query_embedding", "user_tier")
TOP_K_MAX = 100  # SemanticRouteRequest.top_k (routerd checks it too)
TOP_K_HINT = f"top_k is the number of routes to return, 1..{TOP_K_MAX} (default 3)."
QUERY_HINT = "query is the request text, 1..100000 characters (or give query_embedding)."
EMBEDDING_HINT = ("query_embedding is the request's embedding: the embedder's dimension (384 by default, see "
                  "tinydancer.embed), finite values.")


def text_rel_size(quals: Iterable[Any], column: str, embedding_column: str, per_text: int) -> tuple[int, int]:
    """The (rows, width) estimate of a table answering ``per_text`` rows for each text given in
    ``column`` (one, or an ``= ANY`` array) or for an embedding; as decisions, GUARD without one
    (fdw.tables.base.GUARD), so the planner never picks a scan that has no input."""
    quals = list(quals)
    for q in quals:
        if q.field_name == column and q.is_list_operator and isinstance(q.value, list):
            return (max(per_text * len(q.value), 1), 1)
    for q in quals:
        if q.field_name in (column, embedding_column) and q.operator == "=":
            return (per_text, GUARD // per_text)
    return (GUARD, 1)


def any_texts(quals: Iterable[Any], column: str, table: str) -> tuple[list[str] | None, list[Any]]:
    """The distinct texts of ``column = ANY(array)`` quals (in order; several intersect), and the other
    quals; texts is None without such a qual."""
    texts: list[str] | None = None
    rest = []
    for q in quals:
        if q.field_name == column and q.is_list_operator:
            if q.operator[0] != "=" or q.list_any_or_all is not ANY:
                fail(f"{column} can be given as {column} = 'text' or {column} = ANY(array) in tinydancer.{table}",
                     sqlstate=FEATURE_NOT_SUPPORTED)
            items = [] if q.value is None else list(OrderedDict.fromkeys(str(v) for v in q.value if v is not None))
            texts = items if texts is None else [t for t in items if t in set(texts)]
        else:
            rest.append(q)
    return texts, rest


def check_top_k(value: Any, upper: int, hint: str) -> int | None:
    """``top_k`` as given, or None; 0 would mean routerd's default, so ≤ 0 is an error here."""
    n = as_int(value, "top_k")
    if n is not None and not 1 <= n <= upper:
        fail(f"column top_k: must be between 1 and {upper}, not {n}", hint=hint, sqlstate=INVALID_PARAMETER_VALUE)
    return n


def text_keys(heads: tuple[str, ...], others: tuple[str, ...], rows: int) -> list[tuple[tuple[str, ...], int]]:
    """Path keys: each head with every combination of the others, largest first (Multicorn2 passes only
    the join clauses of the key that wins, the first added of equal cost; see fdw.tables.decisions)."""
    keys = [((h, *combo), rows) for h in heads for n in range(len(others), -1, -1)
            for combo in itertools.combinations(others, n)]
    return sorted(keys, key=lambda k: -len(k[0]))


class SemanticMatches(TinyDancer):
    resource = "semantic_matches"
    COLUMNS = Columns(
        Column("query", "text"), Column("top_k", "integer"), Column("query_embedding", "float4[]"),
        Column("user_tier", "text"),
        Column("route_name", "text", lambda m: m[1].route),
        Column("similarity", "float8", lambda m: m[1].similarity),
        Column("confidence", "float8", lambda m: m[1].confidence),
        Column("target_agent", "text", lambda m: m[1].target_agent or None),
        Column("group_name", "text", lambda m: m[1].group or None),
        Column("rank", "integer", lambda m: m[0]),
        Column("priority", "integer", lambda m: m[1].priority),
        Column("threshold", "float8", lambda m: m[1].threshold),
        Column("out_of_scope_probability", "float8", lambda m: m[2]),
    )
    FIELD_HINTS = FieldHints({"top_k": TOP_K_HINT, "query": QUERY_HINT, "embedding": EMBEDDING_HINT,
                              "query.embedding": EMBEDDING_HINT,
                              "context": "user_tier is at most 1024 characters."})
    INVALID_HINT = f"{QUERY_HINT} {TOP_K_HINT}"
    # 1 row a key (as decisions), not the ~3 a query gives: a parameterized path costs rows x width per
    # outer row against the plain path's GUARD, so 3 would turn a join of over GUARD/3 rows (16,667, fewer
    # while the outer table's statistics are stale) into the plain path, which has no query: an ERROR.
    PATH_KEYS = text_keys(("query", "query_embedding"), ("top_k", "user_tier"), 1)

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("semantic_matches", "Change the routes: INSERT, UPDATE or DELETE tinydancer.routes.")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return text_rel_size(quals, "query", "query_embedding", 3)  # about 3 matches a query

    def get_path_keys(self) -> list[tuple[tuple[str, ...], int]]:
        return list(self.PATH_KEYS)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        texts, rest = any_texts(quals, "query", "semantic_matches")
        given = inputs_from_quals(rest, INPUTS)
        if given is None:
            return
        if texts is not None and "query" in given:
            texts = [t for t in texts if t == given["query"]]
        if texts is None and given.get("query") is None and given.get("query_embedding") is None:
            fail("tinydancer.semantic_matches needs a query to match",
                 hint="Add WHERE query = '...' (or query = ANY(array), or query_embedding = '{...}'), or join on "
                      "query: FROM requests r JOIN tinydancer.semantic_matches m ON m.query = r.body.")
        top_k = check_top_k(given.get("top_k"), TOP_K_MAX, TOP_K_HINT)
        template = pb.SemanticRouteRequest(top_k=top_k or 0)
        if given.get("query_embedding") is not None:
            template.embedding.extend(float_array(given["query_embedding"], "query_embedding", EMBEDDING_HINT).tolist())
        if given.get("user_tier") is not None:
            template.context["user_tier"] = str(given["user_tier"])
        echo = {k: given.get(k) for k in INPUTS}
        getters = self.COLUMNS.getters(columns)
        for text in ([given.get("query")] if texts is None else texts):
            req = pb.SemanticRouteRequest()
            req.CopyFrom(template)
            if text is not None:
                req.query = text
            resp = self.rpc("SemanticRoute", req)
            row_echo = echo if texts is None else {**echo, "query": text}
            for rank, m in enumerate(resp.matches, 1):
                item = (rank, m, resp.out_of_scope_probability)
                yield {**row_echo, **{name: get(item) for name, get in getters}}

