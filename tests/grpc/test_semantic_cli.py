"""The semantic-route command-line clients (``routerd routes import|list|remove|fit``, ``match``, ``embed``,
``classify``) against a real routerd process with the default embedder (MiniLM), so that paraphrases
match the right route and unrelated requests are out of scope, as they would for an operator.

The routes and requests below are written for these tests (customer-support intents), not taken from
any evaluation data."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.agents import agent
from tests.harness.routerd import Client, RouterdProcess, run_cli

Cli = Callable[..., subprocess.CompletedProcess[str]]

BILLING = ["I was charged twice for my subscription", "how do I update my credit card",
           "I want a refund for last month", "why is my bill so high this month",
           "can I pay my invoice by bank transfer", "cancel my payment plan", "where can I download my receipts"]
ACCOUNT = ["I forgot my password", "reset my password please", "I can't log in to my account", "my account is locked",
           "how do I turn on two-factor authentication", "I never got the verification code",
           "change the email address on my login"]
ORDERS = ["where is my package", "track my order", "my delivery is late", "when will my order arrive",
          "the parcel says delivered but I don't have it", "change the shipping address of my order",
          "has my order shipped yet"]
TECH = ["the app keeps crashing", "the website won't load", "I get an error when I upload a file",
        "the mobile app is very slow", "notifications stopped working", "the page shows a blank screen",
        "sync between my devices is broken"]

ROUTES: list[dict[str, Any]] = [
    {"name": "billing", "description": "payments, invoices, refunds", "target_agent": "billing-bot",
     "priority": 2, "threshold": 0.45, "group": "money", "utterances": BILLING},
    {"name": "account-access", "target_agent": "account-bot", "threshold": 0.45, "group": "account",
     "utterances": ACCOUNT},
    {"name": "order-tracking", "target_agent": "logistics-bot", "group": "orders", "utterances": ORDERS},
    {"name": "tech-support", "utterances": TECH},  # the minimal form: a name and utterances
]

# Paraphrases that share few words with the utterances, and requests no route covers.
IN_SCOPE = [("billing", "you billed me two times this month"),
            ("account-access", "I lost my password and can't get in"),
            ("order-tracking", "where is my shipment right now"), ("order-tracking", "my parcel hasn't arrived"),
            ("tech-support", "the application crashes every time I open it"),
            ("account-access", "unlock my account")]
OUT_OF_SCOPE = ["what is the capital of australia", "recommend a good pasta recipe", "how tall is mount everest"]


def jsonl(path: Path, rows: list[Any], blank_after: int | None = None) -> Path:
    lines = [json.dumps(r) for r in rows]
    if blank_after is not None:
        lines.insert(blank_after, "")
    path.write_text("\n".join(lines) + "\n")
    return path


def json_lines(out: str) -> list[Any]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[RouterdProcess]:
    with RouterdProcess(tmp_path / "routerd", extra_args=("--embedder", "minilm")) as p:
        c = Client(p.target)
        for a in (agent("billing-bot", capabilities=["payments"]), agent("account-bot", capabilities=["identity"]),
                  agent("logistics-bot", capabilities=["shipping", "tracking"])):
            c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=a), timeout=10)
        c.close()
        yield p


@pytest.fixture
def api(proc: RouterdProcess) -> Iterator[Client]:
    c = Client(proc.target)
    yield c
    c.close()


@pytest.fixture
def cli(proc: RouterdProcess) -> Cli:
    return functools.partial(run_cli, proc.target)


@pytest.fixture
def imported(cli: Cli, tmp_path: Path) -> Cli:
    cli("routes", "import", str(jsonl(tmp_path / "routes.jsonl", ROUTES)))
    return cli


def listed(cli: Cli) -> list[dict[str, Any]]:
    return json_lines(cli("routes", "list", "--json").stdout)


def test_import_list_and_remove(cli: Cli, api: Client, tmp_path: Path) -> None:
    f = jsonl(tmp_path / "routes.jsonl", ROUTES, blank_after=2)  # a blank line is skipped
    out = cli("routes", "import", str(f)).stdout.splitlines()
    assert out == ["billing: 7 utterances, threshold 0.450", "account-access: 7 utterances, threshold 0.450",
                   "order-tracking: 7 utterances, threshold 0.500", "tech-support: 7 utterances, threshold 0.500",
                   "imported 4 routes"]
    # Every field of the line format arrived; utterances in order (ListRoutes omits them: GetRoute).
    for spec in ROUTES:
        got = api.routes.GetRoute(pb.GetRouteRequest(name=spec["name"]), timeout=10)
        assert list(got.utterances) == spec["utterances"]
        assert (got.description, got.target_agent, got.priority, got.group) == (
            spec.get("description", ""), spec.get("target_agent", ""), spec.get("priority", 0), spec.get("group", ""))
        assert got.HasField("threshold") == ("threshold" in spec)

    rows = listed(cli)
    assert [r["name"] for r in rows] == ["account-access", "billing", "order-tracking", "tech-support"]
    by = {r["name"]: r for r in rows}
    assert by["billing"]["utterance_count"] == 7 and by["billing"]["effective_threshold"] == 0.45
    assert by["billing"]["target_agent"] == "billing-bot" and by["billing"]["group"] == "money"
    assert by["billing"]["priority"] == 2 and "utterances" not in by["billing"]
    assert by["tech-support"]["effective_threshold"] == 0.5 and "threshold" not in by["tech-support"]
    text = cli("routes", "list").stdout.splitlines()
    assert len(text) == 4 and text[1].split()[0] == "billing"
    assert "utterances=7" in text[1] and "threshold=0.450" in text[1] and "target=billing-bot" in text[1]
    assert "priority=2" in text[1] and "group=money" in text[1]
    assert "target=-" in text[3] and "group=-" in text[3] and "(fitted)" not in text[3]

    # Import again: an existing route is replaced whole (not merged): the new line's fields only.
    created = by["billing"]["created_at"]
    again = [{"name": "billing", "utterances": ["where is my invoice", "pay my invoice"], "priority": 1}]
    assert cli("routes", "import", str(jsonl(tmp_path / "again.jsonl", again))).stdout.splitlines() == [
        "billing: 2 utterances, threshold 0.500", "imported 1 route"]
    got = api.routes.GetRoute(pb.GetRouteRequest(name="billing"), timeout=10)
    assert list(got.utterances) == ["where is my invoice", "pay my invoice"] and got.priority == 1
    assert got.target_agent == "" and got.group == "" and got.description == "" and not got.HasField("threshold")
    billing = {r["name"]: r for r in listed(cli)}["billing"]
    assert billing["created_at"] == created and billing["updated_at"] > created
    assert len(listed(cli)) == 4

    # remove prints the removed route; removing it again is NOT_FOUND naming it.
    gone = json.loads(cli("routes", "remove", "order-tracking", "--json").stdout)
    assert gone["route"]["name"] == "order-tracking" and gone["route"]["utterance_count"] == 7
    assert [r["name"] for r in listed(cli)] == ["account-access", "billing", "tech-support"]
    bad = cli("routes", "remove", "order-tracking", check=False)
    assert bad.returncode == 1 and "NOT_FOUND" in bad.stderr and "order-tracking" in bad.stderr


def test_import_of_a_file_with_a_line_the_client_rejects_imports_nothing(cli: Cli, tmp_path: Path) -> None:
    # A line that is not JSON or not a route is found before any call: nothing is imported, exit 2.
    cases = {"{not json": "not JSON", '{"name": "x", "utterances": ["u"], "utterence": 1}': "unknown keys",
             '["billing"]': "JSON object", '{"name": "x", "utterances": "one string"}': "utterances"}
    for line, problem in cases.items():
        f = tmp_path / "routes.jsonl"
        f.write_text(json.dumps(ROUTES[0]) + "\n\n" + json.dumps(ROUTES[1]) + "\n" + line + "\n")
        bad = cli("routes", "import", str(f), check=False)
        assert bad.returncode == 2, (line, bad.stderr)
        assert f"{f}:4" in bad.stderr and problem in bad.stderr, (line, bad.stderr)
        assert bad.stdout == "" and listed(cli) == []


def test_import_stops_at_the_first_line_routerd_refuses(cli: Cli, api: Client, tmp_path: Path) -> None:
    """A line routerd refuses (unknown target agent, threshold outside [0, 1], no utterances, a bad
    name): exit 1, the error names FILE:LINE and the field; the lines before it are imported (each
    printed, so the operator sees what was), nothing after it is. Importing replaces, so running the
    corrected file again converges."""
    cases = [({"name": "orders", "target_agent": "nobody", "utterances": ORDERS}, "route.target_agent", "nobody"),
             ({"name": "orders", "threshold": 1.5, "utterances": ORDERS}, "route.threshold", ""),
             ({"name": "orders", "utterances": []}, "route.utterances", ""),
             ({"name": "two words", "utterances": ORDERS}, "route.name", "two words")]
    for bad_line, field, named in cases:
        f = jsonl(tmp_path / "routes.jsonl", [ROUTES[0], ROUTES[1], bad_line, ROUTES[3]], blank_after=1)
        bad = cli("routes", "import", str(f), check=False)
        assert bad.returncode == 1, bad.stderr
        assert bad.stderr.startswith(f"error: {f}:4: INVALID_ARGUMENT: {field}"), bad.stderr
        assert named in bad.stderr
        assert bad.stdout.splitlines() == ["billing: 7 utterances, threshold 0.450",
                                           "account-access: 7 utterances, threshold 0.450"]
        assert [r["name"] for r in listed(cli)] == ["account-access", "billing"]
        for name in ("billing", "account-access"):
            api.routes.DeleteRoute(pb.DeleteRouteRequest(name=name), timeout=10)
    fixed = jsonl(tmp_path / "routes.jsonl", ROUTES)
    cli("routes", "import", str(fixed))
    cli("routes", "import", str(fixed))
    assert [r["utterance_count"] for r in listed(cli)] == [7, 7, 7, 7]


def test_match_one_json_object_per_line_in_order(imported: Cli, api: Client, tmp_path: Path) -> None:
    texts = [t for _, t in IN_SCOPE] + OUT_OF_SCOPE
    # Lines as JSON strings and as {"text": ...} objects, alternately, with a blank line skipped.
    rows: list[Any] = [t if i % 2 else {"text": t} for i, t in enumerate(texts)]
    f = jsonl(tmp_path / "requests.jsonl", rows, blank_after=3)
    out = json_lines(imported("match", str(f), "--top-k", "2", "--json").stdout)
    assert len(out) == len(texts)
    targets = {r["name"]: r.get("target_agent", "") for r in ROUTES}
    for (want, text), got in zip(IN_SCOPE, out, strict=False):
        assert set(got) == {"matches"} and 1 <= len(got["matches"]) <= 2, (text, got)
        for m in got["matches"]:
            assert set(m) == {"route", "similarity", "confidence", "target_agent"}
            assert m["target_agent"] == targets[m["route"]] and 0.0 <= m["confidence"] <= 1.0
        assert got["matches"][0]["route"] == want, (text, got)
        sims = [m["similarity"] for m in got["matches"]]
        assert sims == sorted(sims, reverse=True) and sims[0] >= 0.45
    for text, got in zip(OUT_OF_SCOPE, out[len(IN_SCOPE):], strict=True):
        assert got == {"matches": []}, (text, got)
    # The same answers as the API gives for the same requests.
    for text, got in zip(texts, out, strict=True):
        resp = api.router.SemanticRoute(pb.SemanticRouteRequest(query=text, top_k=2), timeout=10)
        assert [(m.route, m.target_agent) for m in resp.matches] == [
            (m["route"], m["target_agent"]) for m in got["matches"]]
        assert [m.similarity for m in resp.matches] == pytest.approx([m["similarity"] for m in got["matches"]])
    # top_k bounds what comes back; without --json each line is the same JSON object.
    one = json_lines(imported("match", str(f), "--top-k", "1", "--json").stdout)
    assert [len(x["matches"]) for x in one] == [1] * len(IN_SCOPE) + [0] * len(OUT_OF_SCOPE)
    assert json_lines(imported("match", str(f), "--top-k", "2").stdout) == out


def test_match_bad_input(imported: Cli, tmp_path: Path) -> None:
    f = tmp_path / "requests.jsonl"
    f.write_text('"track my order"\n{"text": "reset my password"}\n42\n"never reached"\n')
    bad = imported("match", str(f), "--json", check=False)
    # Lines are answered as they are read: the two before the bad one are printed, then the error.
    assert bad.returncode == 2 and f"{f}:3" in bad.stderr and "JSON string or" in bad.stderr, bad.stderr
    assert [x["matches"][0]["route"] for x in json_lines(bad.stdout)] == ["order-tracking", "account-access"]
    bad = imported("match", str(f), "--top-k", "101", check=False)
    assert bad.returncode == 1 and "INVALID_ARGUMENT: top_k" in bad.stderr, bad.stderr
    for top_k in ("0", "-1"):  # refused before any call (gRPC's 0 would mean the default, 3)
        bad = imported("match", str(f), "--top-k", top_k, check=False)
        assert bad.returncode == 2 and "--top-k: must be at least 1" in bad.stderr, bad.stderr
    f.write_text('""\n')
    bad = imported("match", str(f), check=False)
    assert bad.returncode == 1 and "INVALID_ARGUMENT: query" in bad.stderr, bad.stderr


def test_fit_prints_thresholds_and_precision_recall(imported: Cli, tmp_path: Path) -> None:
    examples: list[Any] = [{"text": t, "route": r} for r, t in IN_SCOPE]
    examples += [{"text": "please give me my money back", "route": "billing"},
                 {"text": "my card was billed for something I didn't buy", "route": "billing"},
                 {"text": "the screen goes white when I log in to the web app", "route": "tech-support"},
                 {"text": "the two-step code never arrives", "route": "account-access"}]
    examples += [{"text": t, "route": None} for t in OUT_OF_SCOPE]
    examples += [{"text": "tell me a joke about penguins", "route": None},
                 {"text": "who won the football game yesterday", "route": None}]
    f = jsonl(tmp_path / "labelled.jsonl", examples, blank_after=5)

    dry = imported("routes", "fit", str(f), "--dry-run").stdout.splitlines()
    assert dry[0].split() == ["route", "support", "threshold", "precision", "recall"]
    rows = {line.split()[0]: line.split() for line in dry[1:5]}
    assert set(rows) == {"billing", "account-access", "order-tracking", "tech-support"}
    assert rows["billing"][1] == "3" and rows["billing"][2] == "0.450" and rows["billing"].count("->") == 3
    assert rows["order-tracking"][2] == "0.500"
    assert dry[5].startswith("before: in-scope accuracy ") and dry[6].startswith("after: in-scope accuracy ")
    assert "out-of-scope recall" in dry[5] and "calibration error" in dry[6]
    assert dry[7:] == ["dry run: thresholds unchanged"]
    assert not any(r.get("fitted") for r in listed(imported))

    fit = json.loads(imported("routes", "fit", str(f), "--json").stdout)
    assert fit["applied"] is True and fit["objective"] == "accuracy"
    by = {r["route"]: r for r in fit["routes"]}
    assert set(by) == {"billing", "account-access", "order-tracking", "tech-support"}
    assert {name: r.get("support", 0) for name, r in by.items()} == {
        "billing": 3, "account-access": 3, "order-tracking": 2, "tech-support": 2}
    assert by["billing"]["threshold_before"] == pytest.approx(0.45)
    for r in by.values():
        for k in ("threshold_after", "precision_before", "recall_before", "precision_after", "recall_after"):
            assert 0.0 <= r.get(k, 0.0) <= 1.0, (k, r)
    assert fit["after"]["accuracy"] >= fit["before"]["accuracy"]
    assert fit["after"]["out_of_scope_recall"] == 1.0 and fit["after"]["in_scope_accuracy"] >= 0.9
    # The fitted thresholds are the routes' thresholds now.
    for row in listed(imported):
        assert row["fitted"] is True
        assert row["effective_threshold"] == pytest.approx(by[row["name"]].get("threshold_after", 0.0))
    assert "(fitted)" in imported("routes", "list").stdout


def test_fit_bad_input(imported: Cli, tmp_path: Path) -> None:
    f = tmp_path / "labelled.jsonl"
    f.write_text('{"text": "track my order", "route": "order-tracking"}\n'
                 '{"text": "where is my refund", "route": "refunds"}\n')
    bad = imported("routes", "fit", str(f), check=False)
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr, bad.stderr
    assert "no route named 'refunds'" in bad.stderr and "examples[1].route" in bad.stderr
    assert not any(r.get("fitted") for r in listed(imported))
    for line in ('{"text": 3, "route": null}', '{"route": "billing"}', '{"text": "x", "route": 7}', '"just text"'):
        f.write_text('{"text": "track my order", "route": "order-tracking"}\n' + line + "\n")
        bad = imported("routes", "fit", str(f), check=False)
        assert bad.returncode == 2 and f"{f}:2" in bad.stderr and '{"text": ..., "route": NAME or null}' in bad.stderr


def test_fit_unknown_route_names_the_file_line(imported: Cli, tmp_path: Path) -> None:
    # Like every other line error of the CLI: the operator is pointed at the line, blank lines counted.
    f = tmp_path / "labelled.jsonl"
    f.write_text('{"text": "track my order", "route": "order-tracking"}\n\n'
                 '{"text": "where is my refund", "route": "refunds"}\n')
    bad = imported("routes", "fit", str(f), check=False)
    assert bad.returncode != 0 and f"{f}:3" in bad.stderr and "refunds" in bad.stderr, bad.stderr


def test_embed_vectors_with_the_embedder_identity(cli: Cli, api: Client) -> None:
    texts = ["reset my password please", "I forgot my password", "recommend a good pasta recipe"]
    out = json_lines(cli("embed", *texts).stdout)
    assert [o["text"] for o in out] == texts
    assert {o["embedder"] for o in out} == {"all-MiniLM-L6-v2-int8"} and {o["dim"] for o in out} == {384}
    vecs = np.array([o["vector"] for o in out])
    assert vecs.shape == (3, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    # Meaning, not words: the two password requests are closer to each other than to the recipe.
    assert vecs[0] @ vecs[1] > 0.6 and vecs[0] @ vecs[2] < 0.3
    ref = api.router.Embed(pb.EmbedRequest(texts=texts), timeout=10)
    assert np.allclose(vecs, [list(v.values) for v in ref.vectors], atol=1e-6)
    bad = cli("embed", "ok", "", check=False)
    assert bad.returncode == 1 and "INVALID_ARGUMENT: texts[1]" in bad.stderr, bad.stderr


def test_classify_categories_groups_and_capabilities(imported: Cli) -> None:
    c = json.loads(imported("classify", "where is my shipment right now", "--json").stdout)
    assert c["top_category"] == "order-tracking" and 0.0 < c["confidence"] <= 1.0
    routes = {x["name"]: x["probability"] for x in c["categories"] if x["kind"] == "route"}
    groups = {x["name"]: x["probability"] for x in c["categories"] if x["kind"] == "group"}
    assert max(routes, key=lambda k: routes[k]) == "order-tracking" and routes["order-tracking"] == c["confidence"]
    assert max(groups, key=lambda k: groups[k]) == "orders"
    assert sum(routes.values()) + c.get("out_of_scope_probability", 0.0) == pytest.approx(1.0, abs=1e-6)
    caps = {x["capability"]: x.get("probability", 0.0) for x in c["capabilities"]}
    # Every capability of a route's target agent, the logistics bot's most likely.
    assert set(caps) == {"payments", "identity", "shipping", "tracking"}
    assert caps["shipping"] == caps["tracking"] > max(caps["payments"], caps["identity"])
    text = imported("classify", "where is my shipment right now").stdout
    assert json.loads(text) == c and "\n  " in text  # the same object, indented for reading
    oos = json.loads(imported("classify", "how tall is mount everest", "--json").stdout)
    assert oos.get("top_category", "") == "" and oos["out_of_scope_probability"] > 0.5
    bad = imported("classify", "", check=False)
    assert bad.returncode == 1 and "INVALID_ARGUMENT: text" in bad.stderr, bad.stderr
