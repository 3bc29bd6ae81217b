"""features.py: the one request-to-sequence recipe of training and serving (head and tail chunks)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from routerd.errors import InvalidArgument
from routerd.model import features as ft
from routerd.model.embedders import HashingEmbedder


class Counting:
    """A real hashing embedder that records the batches it is asked for."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder(64)
        self.name, self.dim = self.inner.name, self.inner.dim
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return self.inner.embed(texts)


def test_short_text_is_one_chunk() -> None:
    text = "What is the capital of France?"
    assert ft.chunks(text) == [text]
    assert ft.chunks("x" * ft.TAIL_CHARS) == ["x" * ft.TAIL_CHARS]


def test_long_text_is_head_and_tail() -> None:
    words = [f"w{i}" for i in range(2000)]
    text = " ".join(words)
    head, tail = ft.chunks(text)
    assert head == text[:ft.HEAD_CHARS]
    assert text.endswith(tail) and len(tail) <= ft.TAIL_CHARS
    assert tail.split(" ")[0] in words  # cut at a word boundary, not inside a word
    assert len(ft.chunks(text)) <= ft.MAX_CHUNKS


def test_tail_without_spaces_is_the_last_chars() -> None:
    text = "a" * 5000
    assert ft.tail_of(text) == "a" * ft.TAIL_CHARS


def test_few_shot_prompts_differ_in_the_tail() -> None:
    shots = "Question: which is larger, 2 or 3? Answer: 3.\n" * 60
    a, b = shots + "Question: what colour is the sky?", shots + "Question: how many legs has a spider?"
    xa, _ = ft.request_sequences(HashingEmbedder(64), [a, b])
    assert np.allclose(xa[0, 0], xa[1, 0])  # identical heads
    assert not np.allclose(xa[0, 1], xa[1, 1])  # the tails tell them apart


def test_request_sequences_shapes_mask_and_one_batch() -> None:
    emb = Counting()
    long = "word " * 400
    given = emb.inner.embed(["an embedding the caller computed"])[0]
    x, mask = ft.request_sequences(emb, ["short", long, None], [None, None, given])
    assert x.shape == (3, ft.MAX_CHUNKS, 64) and x.dtype == np.float32
    assert mask.tolist() == [[True, False], [True, True], [True, False]]
    assert np.array_equal(x[0, 0], emb.inner.embed(["short"])[0])
    assert np.array_equal(x[1], emb.inner.embed(ft.chunks(long)))
    assert np.array_equal(x[2, 0], given)  # a given embedding is the whole request: one chunk
    assert not x[0, 1].any() and not x[2, 1].any()  # padding is zero
    assert emb.batches == [["short", *ft.chunks(long)]]  # everything embedded in one call


def test_embeddings_only_embed_nothing() -> None:
    emb = Counting()
    given = np.ones(64, dtype=np.float32)
    x, mask = ft.request_sequences(emb, [None], [given])
    assert emb.batches == [] and mask.tolist() == [[True, False]] and np.array_equal(x[0, 0], given)


def test_neither_text_nor_embedding_names_the_request() -> None:
    with pytest.raises(InvalidArgument, match=r"texts\[1\]"):
        ft.request_sequences(HashingEmbedder(64), ["ok", None])


def test_recipe_is_named() -> None:
    assert isinstance(ft.FEATURES, str) and ft.FEATURES
