"""``tinydancer.embeddings``: virtual. routerd's embedding of ``text`` (given in WHERE, echoed back):
``embedding`` float4[] (unit length), the ``embedder`` that made it and its ``dim``.

    SELECT embedding FROM tinydancer.embeddings WHERE text = 'hello';
    SELECT text, embedding FROM tinydancer.embeddings WHERE text = ANY(ARRAY['a', 'b']);

``text = ANY(array)`` embeds the distinct texts in Embed calls of EMBED_CHUNK; a join makes one call
per outer row (a parameterized path).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

from fdw.errors import fail
from fdw.tables.base import GUARD, Column, Columns, Row, TinyDancer, inputs_from_quals, read_only
from fdw.tables.routes import FieldHints
from fdw.tables.semantic_matches import any_texts
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

EMBED_CHUNK = 256  # texts per Embed call (routerd's embed_max_texts is 1024 by default)
TEXT_HINT = "text is 1..100000 characters (routerd's text limit); NULL has no embedding."


class Embeddings(TinyDancer):
    resource = "embeddings"
    COLUMNS = Columns(
        Column("text", "text"),
        Column("embedding", "float4[]", lambda e: list(e[0].values)),
        Column("embedder", "text", lambda e: e[1].embedder),
        Column("dim", "integer", lambda e: e[1].dim),
    )
    FIELD_HINTS = FieldHints({"texts": TEXT_HINT})
    INVALID_HINT = TEXT_HINT

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("embeddings", "Embeddings are computed by routerd's embedder from the text.")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        for q in quals:
            if q.field_name == "text" and q.is_list_operator and isinstance(q.value, list):
                return (max(len(q.value), 1), 1)
        for q in quals:
            if q.field_name == "text" and q.operator == "=":
                return (1, GUARD)
        return (GUARD, 1)

    def get_path_keys(self) -> list[tuple[tuple[str, ...], int]]:
        return [(("text",), 1)]

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        texts, rest = any_texts(quals, "text", "embeddings")
        given = inputs_from_quals(rest, ("text",))
        if given is None:
            return
        if texts is None:
            if given.get("text") is None:
                fail("tinydancer.embeddings needs a text to embed",
                     hint="Add WHERE text = '...' (or text = ANY(array)), or use tinydancer.embed(text).")
            texts = [str(given["text"])]
        elif "text" in given:
            texts = [t for t in texts if t == given["text"]]
        getters = self.COLUMNS.getters(columns)
        with_text = columns is None or "text" in columns
        for start in range(0, len(texts), EMBED_CHUNK):
            chunk = texts[start:start + EMBED_CHUNK]
            resp = self.rpc("Embed", pb.EmbedRequest(texts=chunk),
                            timeout_s=self.settings.timeout_s * (1 + len(chunk) / 64))
            if len(resp.vectors) != len(chunk):
                fail(f"routerd returned {len(resp.vectors)} embeddings for {len(chunk)} texts")
            for text, v in zip(chunk, resp.vectors, strict=True):
                row = {name: get((v, resp)) for name, get in getters}
                if with_text:
                    row["text"] = text
                yield row
