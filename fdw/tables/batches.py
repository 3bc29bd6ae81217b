"""``tinydancer.batches``: write-only staging of a batch of requests *with* embeddings.

``= ANY(array)`` cannot carry an embedding per request, and PostgreSQL rechecks every qual on every
returned row, so a huge array in a qual would be compared once per row. Instead one INSERT stages
the batch in this backend (``fdw.tables.routing``) and returns a fresh handle; a scan of
``tinydancer.decisions WHERE batch = handle`` routes it (one BatchRoute per 5,000 requests) and drops
it. ``tinydancer.route_embedded(texts, embeddings, ...)`` (sql/tinydancer.sql) does both in one call.

    INSERT INTO tinydancer.batches (requests, embeddings, optimize_for)
    VALUES (ARRAY['a', 'b'], ARRAY[[...384 floats...], [...]]::float4[], 'cost') RETURNING handle, size;

``requests`` gives the count (an element may be NULL when its embedding is given); ``embeddings`` is
one row per request (a 2-D float4[], e.g. ``array_agg(embedding ORDER BY id)``), or NULL to route
the texts alone. The other columns are the decision inputs shared by the whole batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, NoReturn

from fdw.errors import FEATURE_NOT_SUPPORTED, NULL_VALUE_NOT_ALLOWED, fail
from fdw.tables import routing
from fdw.tables.base import Column, Columns, Getter, Row, TinyDancer
from fdw.tables.routing import INPUT_TYPES, INPUTS, embedding_array, route_request

SHARED = tuple(n for n in INPUTS if n not in ("request", "request_embedding"))


def _shared(name: str) -> Getter:
    return lambda hs: hs[1].inputs.get(name)


class Batches(TinyDancer):
    resource = "batches"
    rowid_column = "handle"
    COLUMNS = Columns(
        Column("handle", "text", lambda hs: hs[0]),
        Column("size", "integer", lambda hs: len(hs[1].texts)),
        Column("requests", "text[]", lambda hs: [t or "" for t in hs[1].texts]),
        Column("embeddings", "float4[]"),  # write-only: never read back
        *(Column(n, t, _shared(n)) for n, t in zip(INPUTS, INPUT_TYPES, strict=True) if n in SHARED),
    )
    FIELD_HINTS = {"objective": routing.OBJECTIVE_HINT, "embedding": routing.EMBEDDING_HINT}

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (routing.MAX_STAGED, 100)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        """The batches staged in this session and not routed yet."""
        getters = self.COLUMNS.getters(columns)
        for hs in routing.staged():
            yield {name: get(hs) for name, get in getters}

    def insert(self, values: dict[str, Any]) -> Row:
        requests = values.get("requests")
        if requests is None:
            fail("a batch needs requests", hint="INSERT INTO tinydancer.batches (requests, embeddings) VALUES "
                 "(texts, embeddings): one text (or NULL) per embedding.", sqlstate=NULL_VALUE_NOT_ALLOWED)
        if not isinstance(requests, list | tuple):
            fail("column requests: expected a text[] array")
        texts = [None if t is None else str(t) for t in requests]
        raw = values.get("embeddings")
        t = time.perf_counter()
        embeddings = None if raw is None else embedding_array(raw, len(texts))
        if routing.TIMING:
            routing.timings.clear()
            routing.timings["embeddings arrive as"] = type(raw[0]).__name__ if raw else None
            routing.timed("embeddings to numpy", t)
        if embeddings is None and any(t is None for t in texts):
            fail("a request without an embedding needs its text", sqlstate=NULL_VALUE_NOT_ALLOWED,
                 hint="Give the embeddings, or leave no NULL in requests.")
        inputs = {n: values.get(n) for n in SHARED}
        template = route_request(inputs, None)  # checks the shared inputs now, before any routing
        handle = routing.stage(routing.Staged(template, inputs, texts, embeddings))
        return {"handle": handle, "size": len(texts)}

    def update(self, rowid: Any, newvalues: dict[str, Any]) -> NoReturn:
        fail("a staged batch cannot be changed", hint="Stage a new one.", sqlstate=FEATURE_NOT_SUPPORTED)

    def delete(self, rowid: Any) -> None:
        routing.drop(rowid)
