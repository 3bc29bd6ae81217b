"""What the quality model sees of a request: a short sequence of chunk embeddings.

Training (datasets, the outcome log) and serving (the router) both go through ``request_sequences``,
so a model always gets the features it was trained on; ``FEATURES`` names the recipe and is stored
with every model (a model trained on another recipe is refused at load).

The recipe: a request's text becomes its head (the text from the start; the embedder's own token
limit decides where it ends) and, when the text is longer than ``TAIL_CHARS``, its tail (the last
``TAIL_CHARS`` characters, cut at a word boundary), because a few-shot prompt asks its question at
the end and its head is the same boilerplate for every question of a task. A caller that gives an
embedding instead of the text gets that embedding as the single chunk (its embedding stands for the
whole request; nothing is embedded on the request path).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from routerd.errors import InvalidArgument
from routerd.model.embedders import Embedder

FEATURES = "head-tail/1"
HEAD_CHARS = 2000  # more than the embedder's 256 tokens: the model's truncation decides the head
TAIL_CHARS = 800
MAX_CHUNKS = 2


def tail_of(text: str, chars: int = TAIL_CHARS) -> str:
    """The last ``chars`` characters of ``text``, starting at a word when one starts near the cut."""
    if len(text) <= chars:
        return text
    cut = text[-chars:]
    space = cut.find(" ")
    return cut[space + 1:] if 0 <= space < 80 else cut


def chunks(text: str) -> list[str]:
    """The texts embedded for ``text``: its head and, for a long text, its tail."""
    head = text[:HEAD_CHARS]
    if len(text) <= TAIL_CHARS:
        return [head]
    return [head, tail_of(text)]


def request_sequences(embedder: Embedder, texts: Sequence[str | None],
                      embeddings: Sequence[np.ndarray | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n, MAX_CHUNKS, dim) float32 chunk embeddings and their (n, MAX_CHUNKS) bool mask. Row i uses
    ``embeddings[i]`` when given (one chunk), else the chunks of ``texts[i]``, embedded in one batch."""
    n = len(texts)
    x = np.zeros((n, MAX_CHUNKS, embedder.dim), dtype=np.float32)
    mask = np.zeros((n, MAX_CHUNKS), dtype=bool)
    todo: list[str] = []
    where: list[tuple[int, int]] = []
    for i, text in enumerate(texts):
        given = embeddings[i] if embeddings is not None else None
        if given is not None and np.size(given):
            x[i, 0] = given
            mask[i, 0] = True
            continue
        if text is None:
            raise InvalidArgument(f"texts[{i}]", "the request has neither text nor embedding")
        for j, chunk in enumerate(chunks(text)):
            todo.append(chunk)
            where.append((i, j))
    if todo:
        vectors = embedder.embed(todo)
        for (i, j), v in zip(where, vectors, strict=True):
            x[i, j] = v
            mask[i, j] = True
    return x, mask
