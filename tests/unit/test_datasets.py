"""Routing datasets: the JSONL reader's validation (line numbers), writer and fingerprint, the RouterBench
and RouteLLM converters on small hand-written CSVs and on the shared files, and the price models."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from routerd.engine.engine import Engine
from routerd.engine.query import RouteQuery
from routerd.engine.validation import validate_name
from routerd.errors import InvalidArgument
from routerd.model.datasets import (
    ROUTELLM_PRICES,
    RoutingDataset,
    convert_routellm,
    convert_routerbench,
    estimate_costs,
    fit_price_model,
    fit_price_models,
    input_tokens,
    iter_records,
    nnls,
    price_error,
    read_dataset,
    write_dataset,
    write_jsonl,
)
from tests.harness.engine import spec

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

GOOD = {"prompt": "What is 2+2?", "agents": {"meta/llama-2-70b-chat": {"quality": 1, "cost": 0.0002},
                                             "zero-one-ai/Yi-34B-Chat": {"quality": 0.5, "cost": 0.0003,
                                                                         "latency_ms": 120}},
        "category": "math"}


def write_lines(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "d.jsonl"
    p.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return p


def error_of(tmp_path: Path, lines: list[str]) -> InvalidArgument:
    p = write_lines(tmp_path, lines)
    with pytest.raises(InvalidArgument) as e:
        read_dataset(p)
    return e.value


# -- reader ----------------------------------------------------------------------------------------

def test_agent_names_as_the_datasets_spell_them_are_valid() -> None:
    for name in ("meta/llama-2-70b-chat", "zero-one-ai/Yi-34B-Chat", "WizardLM/WizardLM-13B-V1.2",
                 "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"):
        assert validate_name(name) == name


def test_reads_a_good_file(tmp_path: Path) -> None:
    ds = read_dataset(write_lines(tmp_path, [json.dumps(GOOD), json.dumps({
        "prompt": "Say hi", "agents": {"zero-one-ai/Yi-34B-Chat": {"quality": None, "cost": 0.0},
                                       "meta/llama-2-70b-chat": {"cost": 0.1}}})]))
    assert ds.agents == ("meta/llama-2-70b-chat", "zero-one-ai/Yi-34B-Chat")
    assert ds.quality[0].tolist() == [1.0, 0.5]
    assert np.isnan(ds.quality[1]).all()
    assert ds.cost.tolist() == [[0.0002, 0.0003], [0.1, 0.0]]
    assert ds.latency_ms[0, 1] == 120 and np.isnan(ds.latency_ms[0, 0])
    assert ds.categories == ("math", None)
    assert ds.complete().tolist() == [True, False]
    assert ds.mean_quality() == {"meta/llama-2-70b-chat": 1.0, "zero-one-ai/Yi-34B-Chat": 0.5}


@pytest.mark.parametrize(("line", "problem"), [
    ("", "empty line"),
    ("   ", "empty line"),
    ("{not json", "is not valid JSON"),
    ('{"prompt": "x", "agents": {"a": {"quality": NaN, "cost": 1}}}', "NaN"),
    ('{"prompt": "x", "agents": {"a": {"quality": 1, "cost": Infinity}}}', "NaN or Infinity"),
    ('[1, 2]', "must be a JSON object"),
    ('{"agents": {"a": {"quality": 1, "cost": 1}}}', 'no "prompt"'),
    ('{"prompt": "", "agents": {"a": {"quality": 1, "cost": 1}}}', "prompt must not be empty"),
    ('{"prompt": "x", "agents": {}}', "non-empty object"),
    ('{"prompt": "x", "agents": {"a": {"quality": 1.5, "cost": 1}}}', "quality must be in [0, 1], got 1.5"),
    ('{"prompt": "x", "agents": {"a": {"quality": -0.1, "cost": 1}}}', "quality must be in [0, 1]"),
    ('{"prompt": "x", "agents": {"a": {"quality": "high", "cost": 1}}}', "quality must be a number"),
    ('{"prompt": "x", "agents": {"a": {"quality": 1, "cost": -1}}}', "cost must be >= 0, got -1"),
    ('{"prompt": "x", "agents": {"a": {"quality": 1, "cost": 1e999}}}', "out of range"),
    ('{"prompt": "x", "agents": {"a": {"quality": 1}}}', "has no cost"),
    ('{"prompt": "x", "agents": {"a": {"quality": 1, "cost": 1, "qualtiy": 1}}}', "unknown key 'qualtiy'"),
    ('{"prompt": "x", "agents": {"bad name!": {"quality": 1, "cost": 1}}}', "agent name"),
    ('{"prompt": "x", "agents": {"a": {"quality": 1, "cost": 1}}, "extra": 1}', "unknown key 'extra'"),
    ('{"prompt": "x", "agents": {"a": {"quality": 1, "cost": 1, "output_tokens": 1.5}}}', "output_tokens"),
    ('{"prompt": "x", "agents": {"a": {"quality": 1, "cost": 1}}, "embedding": [0.1]}', 'needs "embedder"'),
    ('{"prompt": "x", "agents": {"a": {"quality": 1, "cost": 1}, "a": {"quality": 0, "cost": 1}}}', "duplicate key"),
])
def test_a_bad_line_is_named_with_its_number(tmp_path: Path, line: str, problem: str) -> None:
    e = error_of(tmp_path, [json.dumps(GOOD), line, json.dumps(GOOD)])
    assert e.field == f"{tmp_path / 'd.jsonl'}:2"
    assert problem in e.problem, e.problem


def test_an_agent_with_no_quality_anywhere(tmp_path: Path) -> None:
    e = error_of(tmp_path, [json.dumps({"prompt": "x", "agents": {"a": {"quality": 1, "cost": 1},
                                                                  "ghost": {"cost": 1}}}),
                            json.dumps({"prompt": "y", "agents": {"ghost": {"quality": None, "cost": 2}}})])
    assert e.field == str(tmp_path / "d.jsonl")
    assert "agent 'ghost' has no quality value on any line" in e.problem


def test_an_empty_file_and_a_file_of_blank_lines(tmp_path: Path) -> None:
    assert "has no records" in error_of(tmp_path, []).problem
    e = error_of(tmp_path, [json.dumps(GOOD), json.dumps(GOOD), ""])
    assert e.field.endswith(":3") and "empty line" in e.problem


def test_the_reader_streams(tmp_path: Path) -> None:
    """Lines before a bad one are yielded before the error is raised."""
    p = write_lines(tmp_path, [json.dumps(GOOD), "oops"])
    it = iter_records(p)
    assert next(it).prompt == "What is 2+2?"
    with pytest.raises(InvalidArgument, match=":2"):
        next(it)


def test_embeddings_must_agree(tmp_path: Path) -> None:
    emb = dict(GOOD, embedding=[0.1, 0.2], embedder="hashing-v2")
    ds = read_dataset(write_lines(tmp_path, [json.dumps(emb), json.dumps(emb)]))
    assert ds.embeddings is not None and ds.embeddings.shape == (2, 2) and ds.embedder == "hashing-v2"
    ds.check_embedder("hashing-v2", 2)
    with pytest.raises(InvalidArgument, match="re-embed"):
        ds.check_embedder("all-MiniLM-L6-v2-int8", 384)
    assert "on every line or on none" in error_of(tmp_path, [json.dumps(emb), json.dumps(GOOD)]).problem
    assert "dimensions" in error_of(tmp_path, [json.dumps(emb), json.dumps(dict(emb, embedding=[1.0]))]).problem
    assert "differs" in error_of(tmp_path, [json.dumps(emb), json.dumps(dict(emb, embedder="minilm"))]).problem


def test_write_read_round_trip_and_fingerprint(tmp_path: Path) -> None:
    a = write_lines(tmp_path, [json.dumps(GOOD), json.dumps(dict(GOOD, prompt="second", category=None))])
    ds = read_dataset(a)
    out = tmp_path / "out.jsonl"
    assert write_dataset(ds, out) == 2
    again = read_dataset(out)
    assert again.fingerprint() == ds.fingerprint()
    assert again.fingerprint().startswith("sha256:") and len(again.fingerprint()) == 7 + 64
    np.testing.assert_array_equal(again.cost, ds.cost)
    # Another spelling of the same content: integers as floats, keys reordered, spaces.
    respelt = {"category": "math", "agents": {"zero-one-ai/Yi-34B-Chat": {"latency_ms": 120.0, "cost": 0.0003,
                                                                          "quality": 0.50},
                                              "meta/llama-2-70b-chat": {"cost": 2e-4, "quality": 1.0}},
               "prompt": "What is 2+2?"}
    b = tmp_path / "b.jsonl"
    b.write_text(json.dumps(respelt, indent=None) + "\n" + json.dumps({"prompt": "second", "agents": GOOD["agents"]})
                 + "\n")
    assert read_dataset(b).fingerprint() == ds.fingerprint()
    changed = dict(GOOD, agents={**GOOD["agents"], "meta/llama-2-70b-chat": {"quality": 0.9, "cost": 0.0002}})
    c = write_lines(tmp_path, [json.dumps(changed), json.dumps(dict(GOOD, prompt="second"))])
    assert read_dataset(c).fingerprint() != ds.fingerprint()
    # The subset keeps rows in the given order; write_jsonl writes one canonical line each.
    buf = io.StringIO()
    assert write_jsonl(ds.subset([1, 0]).records(), buf) == 2
    assert json.loads(buf.getvalue().splitlines()[0])["prompt"] == "second"


# -- converters ------------------------------------------------------------------------------------

RB_MODELS = ("gpt-4-1106-preview", "meta/llama-2-70b-chat")


def write_routerbench(path: Path, rows: list[dict[str, str]]) -> None:
    cols = ["", "sample_id", "prompt", "eval_name", *RB_MODELS, *(f"{m}|model_response" for m in RB_MODELS),
            *(f"{m}|total_cost" for m in RB_MODELS), "oracle_model_to_route_to"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})


def rb_row(i: int, prompt: str, scores: tuple[str, str], costs: tuple[str, str], response: str = "['B']") -> dict:
    return {"": str(i), "sample_id": f"arc.{i}", "prompt": prompt, "eval_name": "arc-challenge",
            RB_MODELS[0]: scores[0], RB_MODELS[1]: scores[1], f"{RB_MODELS[0]}|total_cost": costs[0],
            f"{RB_MODELS[1]}|total_cost": costs[1], f"{RB_MODELS[0]}|model_response": response,
            f"{RB_MODELS[1]}|model_response": "['The answer is\\nB, because']", "oracle_model_to_route_to": "x"}


def test_routerbench_converter(tmp_path: Path) -> None:
    p = tmp_path / "arc_challenge_train.csv"
    write_routerbench(p, [
        rb_row(0, "['Which is heavier?\\nA) a\\nB) b\\nAnswer:']", ("1.0", "0.0"), ("0.005", "0.0004")),
        rb_row(1, "['turn one', 'turn two']", ("", "nan"), ("0.01", "0.0008"), response="['A', 'B']"),
    ])
    recs = list(convert_routerbench([p]))
    assert [r.id for r in recs] == ["arc.0", "arc.1"]
    assert recs[0].prompt == "Which is heavier?\nA) a\nB) b\nAnswer:"
    assert recs[1].prompt == "turn one\n\nturn two"
    assert recs[0].category == "arc-challenge"
    g, m = recs[0].agents[RB_MODELS[0]], recs[0].agents[RB_MODELS[1]]
    assert (g.quality, g.cost, g.output_tokens) == (1.0, 0.005, 1)
    assert (m.quality, m.cost, m.output_tokens) == (0.0, 0.0004, math.ceil(len("The answer is\nB, because") / 4))
    assert recs[1].agents[RB_MODELS[0]].quality == 0.0 and recs[1].agents[RB_MODELS[1]].quality == 0.0  # NaN → 0
    assert recs[1].agents[RB_MODELS[0]].output_tokens == 1  # "AB"
    ds = RoutingDataset.from_records(recs)
    assert ds.agents == RB_MODELS and ds.quality.tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_routerbench_bad_cells_name_their_line(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    # The first row's prompt spans three physical lines, so the second row starts on line 5.
    write_routerbench(p, [
        rb_row(0, "['''line one\nline two\nline three''']", ("1", "0"), ("0.1", "0.1")),
        rb_row(1, "__import__('os').system('echo pwned')", ("1", "0"), ("0.1", "0.1")),
    ])
    it = convert_routerbench([p])
    assert next(it).prompt == "line one\nline two\nline three"
    with pytest.raises(InvalidArgument) as e:
        next(it)
    assert e.value.field == f"{p}:5"
    assert "not a Python list literal" in e.value.problem
    write_routerbench(p, [rb_row(0, "['ok']", ("2", "0"), ("0.1", "0.1"))])
    with pytest.raises(InvalidArgument, match=r"x.csv:2.*must be in \[0, 1\]"):
        list(convert_routerbench([p]))
    write_routerbench(p, [rb_row(0, "['ok']", ("1", "0"), ("-0.1", "0.1"))])
    with pytest.raises(InvalidArgument, match="cost must be >= 0"):
        list(convert_routerbench([p]))
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidArgument, match="no column 'prompt'"):
        list(convert_routerbench([p]))


def write_routellm(root: Path, subject: str, rows: list[tuple[str, str, str]]) -> Path:
    d = root / "mmlu" / "responses"
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"mmlu_{subject}.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"])
        w.writerows(rows)
    return d


def test_routellm_converter(tmp_path: Path) -> None:
    q1 = "What is 1+1?\nA. 1\nB. 2\nAnswer:"  # 31 characters: 8 tokens
    q2 = "Which is a \"fish\"?\nA. cod\nB. cat\nAnswer:"
    d = write_routellm(tmp_path, "toy", [(q1, "True", "True"), (q2, "False", "True")])
    (tmp_path / "mmlu" / "contaminated_prompts.jsonl").write_text(
        json.dumps({"train_prompt": "x", "eval_prompt": q2, "train_idx": 1, "eval_idx": 2}) + "\n")
    recs = list(convert_routellm([d]))
    assert [r.prompt for r in recs] == [q1]  # q2 excluded: contaminated
    assert recs[0].category == "toy" and recs[0].id == "toy:0"
    both = list(convert_routellm([d], exclude_contaminated=False))
    assert [r.prompt for r in both] == [q1, q2]
    assert both[1].agents["mistralai/Mixtral-8x7B-Instruct-v0.1"].quality == 0.0
    # Cost by hand: prefix = 5 × the subject's mean question tokens, + the question, 1 output token.
    mean_q = (input_tokens(q1) + input_tokens(q2)) / 2
    tin = round(5 * mean_q) + input_tokens(q1)
    p_in, p_out = ROUTELLM_PRICES["gpt-4-1106-preview"]
    assert both[0].agents["gpt-4-1106-preview"].cost == pytest.approx(tin / 1000 * p_in + 1 / 1000 * p_out)
    cheap = list(convert_routellm([d], few_shot=0, output_tokens=0, exclude_contaminated=False,
                                  prices={"gpt-4-1106-preview": (1.0, 0.0),
                                          "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.5, 0.0)}))
    assert cheap[0].agents["gpt-4-1106-preview"].cost == pytest.approx(input_tokens(q1) / 1000)
    with pytest.raises(InvalidArgument, match="no price for model"):
        list(convert_routellm([d], prices={"gpt-4-1106-preview": (1.0, 1.0)}))
    write_routellm(tmp_path, "bad", [(q1, "yes", "True")])
    with pytest.raises(InvalidArgument, match=r"mmlu_bad.csv:2: .*True or False"):
        list(convert_routellm([d / "mmlu_bad.csv"]))


@pytest.mark.skipif(not (SHARED / "routerbench").is_dir(), reason="the shared data is not checked out here")
def test_the_shared_files_convert() -> None:
    rb = RoutingDataset.from_records(convert_routerbench(sorted((SHARED / "routerbench").glob("*.csv"))))
    assert len(rb) == 1039 + 299 + 887
    assert len(rb.agents) == 11 and "meta/llama-2-70b-chat" in rb.agents and "zero-one-ai/Yi-34B-Chat" in rb.agents
    assert rb.complete().all()
    assert set(rb.categories) == {"arc-challenge", "mbpp", "winogrande"}
    assert set(np.unique(rb.quality)) <= {0.0, 1.0}
    g = rb.agents.index("gpt-4-1106-preview")
    assert 0.85 < rb.quality[:, g].mean() < 0.9
    mmlu = SHARED / "routellm" / "mmlu" / "responses"
    rl = list(convert_routellm([mmlu]))
    assert len(rl) == 14042 - 5
    assert len(list(convert_routellm([mmlu], exclude_contaminated=False))) == 14042


# -- price models ----------------------------------------------------------------------------------

def test_nnls_matches_least_squares_and_clamps() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(1, 100, 50), np.ones(50)])
    y = x @ np.array([0.3, 2.0])
    np.testing.assert_allclose(nnls(x, y), [0.3, 2.0], rtol=1e-10)
    y_neg = x @ np.array([0.3, -5.0])  # the intercept would be negative: it is clamped to 0
    beta = nnls(x, y_neg)
    assert beta[1] == 0.0
    assert beta[0] == pytest.approx(float(x[:, 0] @ y_neg / (x[:, 0] @ x[:, 0])))


def test_price_model_recovers_known_rates() -> None:
    rng = np.random.default_rng(1)
    tin = rng.integers(10, 3000, 400).astype(float)
    tout = rng.integers(0, 600, 400).astype(float)
    cost = tin / 1000 * 0.01 + tout / 1000 * 0.03 + 0.0001
    pm = fit_price_model("gpt-4", tin, cost, tout)
    assert pm.per_1k_input_tokens == pytest.approx(0.01, rel=1e-9)
    assert pm.per_1k_output_tokens == pytest.approx(0.03, rel=1e-9)
    assert pm.typical_output_tokens == int(tout.mean())
    # The estimate is the cost at the mean output length, exactly (floor's remainder is in per_call).
    np.testing.assert_allclose(pm.estimate(tin), tin / 1000 * 0.01 + tout.mean() / 1000 * 0.03 + 0.0001, rtol=1e-9)
    only_in = fit_price_model("gpt-4", tin, tin / 1000 * 0.002 + 0.0005)
    assert (only_in.per_1k_input_tokens, only_in.per_1k_output_tokens, only_in.typical_output_tokens) == \
        (pytest.approx(0.002, rel=1e-9), 0.0, 0)
    assert only_in.per_call == pytest.approx(0.0005, rel=1e-9)
    assert only_in.n == 400
    with pytest.raises(InvalidArgument, match="no cost values"):
        fit_price_model("x", tin, np.full(400, np.nan))


def test_routerd_reproduces_the_fitted_estimate(engine: Engine) -> None:
    pm = fit_price_model("fitted", np.array([10.0, 200.0, 800.0]), np.array([0.001, 0.004, 0.0125]),
                         np.array([30.0, 41.0, 20.0]))
    cm = pm.cost_model()
    engine.registry.register(spec("fitted", per_1k_input=cm.per_1k_input_tokens, per_1k_output=cm.per_1k_output_tokens,
                                  per_call=cm.per_call, typical_output_tokens=pm.typical_output_tokens))
    for text in ("short", "a much longer prompt " * 40):
        d = engine.route(RouteQuery(text=text))
        assert d.estimated_cost == float(pm.estimate(np.array([input_tokens(text)]))[0])


def test_fit_price_models_and_error(tmp_path: Path) -> None:
    lines = [json.dumps({"prompt": "x" * (4 * k), "agents": {
        "a": {"quality": 1, "cost": 0.001 * k + 0.01}, "b": {"quality": 0, "cost": 0.002 * k}}}) for k in range(1, 9)]
    ds = read_dataset(write_lines(tmp_path, lines))
    models = fit_price_models(ds, rows=np.arange(6))
    est = estimate_costs(models, ds.agents, ds.prompts)
    np.testing.assert_allclose(est, ds.cost, rtol=1e-9)  # exact linear costs: recovered on held-out rows too
    e = price_error(np.array([1.1, 1.8, 3.0]), np.array([1.0, 2.0, 3.0]))
    assert e.mape == pytest.approx((0.1 + 0.1 + 0.0) / 3)
    assert e.median_ape == pytest.approx(0.1)
    assert e.total_relative_error == pytest.approx((5.9 - 6.0) / 6.0)
    assert e.n == 3
