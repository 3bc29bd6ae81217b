"""The hashing embedder: shape, norm, determinism, meaning, cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from routerd.errors import InvalidArgument
from routerd.model.embedders import DEFAULT_DIM, CachedEmbedder, HashingEmbedder, make_embedder

TEXTS = ["write python code", "Translate this sentence into French.", "a", "", "naïve café — ünïcode ✓"]


def test_shape_dtype_and_unit_norm() -> None:
    e = HashingEmbedder()
    m = e.embed(TEXTS)
    assert m.shape == (len(TEXTS), DEFAULT_DIM) and m.dtype == np.float32
    norms = np.linalg.norm(m, axis=1)
    for text, n in zip(TEXTS, norms, strict=True):
        assert n == pytest.approx(0.0 if text == "" else 1.0, abs=1e-6), text
    assert e.embed([]).shape == (0, DEFAULT_DIM)


@pytest.mark.parametrize("text", ["", "   ", "!!! ??? ...", "\n\t"])
def test_texts_without_words_give_a_zero_row(text: str) -> None:
    row = HashingEmbedder().embed([text])[0]
    assert not row.any()


def test_other_dimensions() -> None:
    e = HashingEmbedder(dim=64)
    assert e.dim == 64 and e.name == "hashing-v2-64"
    assert e.embed(["hello"]).shape == (1, 64)
    with pytest.raises(InvalidArgument) as exc:
        HashingEmbedder(dim=4)
    assert exc.value.field == "embedder.dim"


def test_deterministic_across_instances() -> None:
    a, b = HashingEmbedder(), HashingEmbedder()
    np.testing.assert_array_equal(a.embed(TEXTS), b.embed(TEXTS))
    np.testing.assert_array_equal(a.embed(TEXTS[::-1]), b.embed(TEXTS)[::-1])


def test_deterministic_across_processes() -> None:
    # Python's str hash is salted per process; the embedder must not depend on it.
    code = ("from routerd.model.embedders import HashingEmbedder; import sys; "
            "sys.stdout.write(HashingEmbedder().embed(['route this request to a coder'])[0].tobytes().hex())")
    root = Path(__file__).resolve().parents[2]
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                           env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    here = HashingEmbedder().embed(["route this request to a coder"])[0].tobytes().hex()
    assert outs == {here}


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


@pytest.mark.parametrize(("anchor", "similar", "unrelated"), [
    ("write python code", "python coding assistant", "image generation"),
    ("translate text to french", "french translation", "solve a math equation"),
    ("summarise a long document", "document summarisation", "generate a picture of a cat"),
])
def test_similar_texts_are_closer(anchor: str, similar: str, unrelated: str) -> None:
    a, s, u = HashingEmbedder().embed([anchor, similar, unrelated])
    assert cos(a, s) > cos(a, u)
    assert cos(a, s) > 0.2


def test_case_and_punctuation_do_not_matter() -> None:
    a, b = HashingEmbedder().embed(["Write Python code!", "write python code"])
    np.testing.assert_allclose(a, b)


def test_cache_returns_equal_arrays_and_is_not_aliased() -> None:
    e = CachedEmbedder(HashingEmbedder(), size=2)
    first = e.embed(["alpha", "beta"])
    again = e.embed(["alpha", "beta"])
    np.testing.assert_array_equal(first, again)
    again[0] = 0.0  # mutating a result must not poison the cache
    np.testing.assert_array_equal(e.embed(["alpha"])[0], first[0])
    e.embed(["gamma", "delta", "epsilon"])  # evicts
    assert len(e._cache) == 2
    np.testing.assert_array_equal(e.embed(["alpha", "beta"]), first)
    np.testing.assert_array_equal(e.embed(["alpha"]), HashingEmbedder().embed(["alpha"]))
    np.testing.assert_array_equal(e.embed(["alpha"]), CachedEmbedder(HashingEmbedder(), size=0).embed(["alpha"]))


def test_cache_embeds_the_misses_of_a_call_once_and_in_order() -> None:
    calls: list[list[str]] = []

    class Counting:
        name, dim = "counting", 8

        def embed(self, texts: list[str]) -> np.ndarray:
            calls.append(list(texts))
            return HashingEmbedder(dim=8).embed(texts)

    e = CachedEmbedder(Counting(), size=10)
    out = e.embed(["a", "b", "a", "c"])
    assert calls == [["a", "b", "c"]]
    np.testing.assert_array_equal(out, HashingEmbedder(dim=8).embed(["a", "b", "a", "c"]))
    e.embed(["c", "d"])
    assert calls[-1] == ["d"]


def test_make_embedder() -> None:
    made = make_embedder("hashing")
    assert isinstance(made, CachedEmbedder) and isinstance(made.inner, HashingEmbedder)
    assert make_embedder("hashing-v2", dim=128).dim == 128
    with pytest.raises(InvalidArgument) as exc:
        make_embedder("word2vec")
    assert exc.value.field == "embedder" and "hashing" in exc.value.problem
