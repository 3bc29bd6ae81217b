"""``tinydancer.classifications``: virtual. What routerd's classifier says about ``text`` (or
``text_embedding``), given in WHERE with an optional ``top_k`` (1..1000 categories, default 10), echoed
back as given. One row per answer, told apart by ``kind``:

    kind = 'route'         a semantic route the text may belong to (category = the route's name)
    kind = 'group'         a group of routes (category = the group's name)
    kind = 'out_of_scope'  the probability that the text belongs to no route (category NULL; one row)
    kind = 'capability'    a capability tag declared by a route's target agent (category = the tag),
                           with the probability that the request needs it (multi-label: these do not
                           sum to 1)

Route probabilities and the out-of-scope one sum to 1; ``rank`` is 1-based within a kind, by
probability. ``top_category`` and ``confidence`` (the same on every row of a text) are the most
probable route and its probability; when out of scope is likelier, top_category is NULL and confidence
is the out-of-scope probability.

    SELECT category, probability FROM tinydancer.classifications WHERE text = '...' AND kind = 'route';
    SELECT category FROM tinydancer.classifications WHERE text = '...' AND kind = 'capability'
       AND probability >= 0.5;

``text = ANY(array)`` makes one Classify call per distinct text; a join one per outer row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

from fdw.errors import fail
from fdw.tables.base import Column, Columns, Row, TinyDancer, inputs_from_quals, read_only
from fdw.tables.routes import FieldHints, float_array
from fdw.tables.semantic_matches import any_texts, check_top_k, text_keys, text_rel_size
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

INPUTS = ("text", "top_k", "text_embedding")
KINDS = ("route", "group", "out_of_scope", "capability")
TOP_K_MAX = 1000  # ClassifyRequest.top_k
TOP_K_HINT = f"top_k is the number of categories (routes and groups) to return, 1..{TOP_K_MAX} (default 10)."
TEXT_HINT = "text is the request text, 1..100000 characters (or give text_embedding)."
EMBEDDING_HINT = ("text_embedding is the request's embedding: the embedder's dimension (384 by default, see "
                  "tinydancer.embed), finite values.")

# A row: (kind, category, probability, rank, response)
Item = tuple[str, str | None, float, int | None, pb.ClassifyResponse]


def items(resp: pb.ClassifyResponse) -> Iterator[Item]:
    """The rows of one reply: routes and groups in routerd's order (ranked within a kind), out of scope,
    then the capabilities by probability."""
    ranks: dict[str, int] = {}
    for c in resp.categories:
        ranks[c.kind] = ranks.get(c.kind, 0) + 1
        yield c.kind, c.name, c.probability, ranks[c.kind], resp
    yield "out_of_scope", None, resp.out_of_scope_probability, None, resp
    caps = sorted(resp.capabilities, key=lambda n: -n.probability)
    for rank, n in enumerate(caps, 1):
        yield "capability", n.capability, n.probability, rank, resp


class Classifications(TinyDancer):
    resource = "classifications"
    COLUMNS = Columns(
        Column("text", "text"), Column("top_k", "integer"), Column("text_embedding", "float4[]"),
        Column("category", "text", lambda i: i[1]),
        Column("kind", "text", lambda i: i[0]),
        Column("probability", "float8", lambda i: i[2]),
        Column("rank", "integer", lambda i: i[3]),
        Column("top_category", "text", lambda i: i[4].top_category or None),
        Column("confidence", "float8", lambda i: i[4].confidence),
    )
    FIELD_HINTS = FieldHints({"top_k": TOP_K_HINT, "text": TEXT_HINT, "embedding": EMBEDDING_HINT,
                              "text.embedding": EMBEDDING_HINT})
    INVALID_HINT = f"{TEXT_HINT} {TOP_K_HINT}"
    PATH_KEYS = text_keys(("text", "text_embedding"), ("top_k",), 1)  # 1 row: see semantic_matches

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("classifications", "The classifier learns from the routes: change tinydancer.routes.")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return text_rel_size(quals, "text", "text_embedding", 10)  # about 10 rows a text

    def get_path_keys(self) -> list[tuple[tuple[str, ...], int]]:
        return list(self.PATH_KEYS)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        texts, rest = any_texts(quals, "text", "classifications")
        given = inputs_from_quals(rest, INPUTS)
        if given is None:
            return
        if texts is not None and "text" in given:
            texts = [t for t in texts if t == given["text"]]
        if texts is None and given.get("text") is None and given.get("text_embedding") is None:
            fail("tinydancer.classifications needs a text to classify",
                 hint="Add WHERE text = '...' (or text = ANY(array), or text_embedding = '{...}'), or join on text: "
                      "FROM requests r JOIN tinydancer.classifications c ON c.text = r.body.")
        top_k = check_top_k(given.get("top_k"), TOP_K_MAX, TOP_K_HINT)
        template = pb.ClassifyRequest(top_k=top_k or 0)
        if given.get("text_embedding") is not None:
            template.embedding.extend(float_array(given["text_embedding"], "text_embedding", EMBEDDING_HINT).tolist())
        echo = {k: given.get(k) for k in INPUTS}
        getters = self.COLUMNS.getters(columns)
        for text in ([given.get("text")] if texts is None else texts):
            req = pb.ClassifyRequest()
            req.CopyFrom(template)
            if text is not None:
                req.text = text
            row_echo = echo if texts is None else {**echo, "text": text}
            for item in items(self.rpc("Classify", req)):
                yield {**row_echo, **{name: get(item) for name, get in getters}}
