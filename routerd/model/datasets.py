"""Routing datasets (DESIGN.md, "Routing datasets"): the JSONL form, its reader and writer, converters
from the shared RouterBench and RouteLLM files, and per-agent price models fitted from observed costs.

One request a line::

    {"prompt": "...", "agents": {"<agent>": {"quality": 0..1, "cost": USD, "latency_ms": optional,
     "output_tokens": optional}}, "category": optional, "id": optional,
     "embedding": optional [floats], "embedder": with embedding}

``quality`` may be null or absent on a line (unknown there), but every agent needs a quality on some
line. ``cost`` is required (finite, >= 0). ``output_tokens`` (optional, an integer >= 0) lets a price
model separate input from output prices. Any other key is an error, so a misspelt key ("qualtiy") is
not silently dropped. Agent names follow routerd's name rules (``validate_name``), which admit names
as the datasets spell them (``meta/llama-2-70b-chat``, ``zero-one-ai/Yi-34B-Chat``).

Every problem is ``InvalidArgument(f"{path}:{line}", problem)`` naming the line (1-based); problems
of the whole file (no records, an agent with no quality anywhere) name the path.

The fingerprint of a dataset is the sha256 of its canonical JSONL (keys sorted, no spaces, numbers
as Python prints floats, agents absent from a line left out): the same content gives the same
fingerprint however the file was spelt (``1`` or ``1.0``, key order, spacing).

Price models: routerd estimates a request's cost on an agent as
``tokens_in/1000·per_1k_input + typical_output_tokens/1000·per_1k_output + per_call`` (plus
per_second × latency, unused here) with ``tokens_in = ceil(len(text)/4)`` (``routerd.engine.router``).
``fit_price_model`` fits those numbers to observed costs by non-negative least squares, on the same
token estimate, so that routerd's own arithmetic reproduces the fit: with output tokens known,
``cost ≈ a·tokens_in + c·tokens_out + d`` and ``typical_output_tokens`` the mean output length (cost is
linear, so the mean output gives the mean cost); without, ``cost ≈ a·tokens_in + b`` with b as per_call.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import itertools
import json
import math
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from routerd.domain import CostModel
from routerd.engine.validation import (
    PRICE_MAX,
    TEXT_MAX,
    TYPICAL_OUTPUT_TOKENS_MAX,
    parse_json,
    shown,
    validate_name,
)
from routerd.errors import InvalidArgument

RECORD_KEYS = ("prompt", "agents", "category", "id", "embedding", "embedder")
AGENT_KEYS = ("quality", "cost", "latency_ms", "output_tokens")
CATEGORY_MAX = 256
ID_MAX = 256
OUTPUT_TOKENS_MAX = 10_000_000


def input_tokens(text: str) -> int:
    """routerd's estimate of a prompt's input tokens (``routerd.engine.router``): about four
    characters a token."""
    return math.ceil(len(text) / 4)


# -- records ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AgentResult:
    """One agent's result on one request. ``quality`` None: unknown on this request."""

    quality: float | None
    cost: float
    latency_ms: float | None = None
    output_tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cost": self.cost}
        if self.quality is not None:
            out["quality"] = self.quality
        if self.latency_ms is not None:
            out["latency_ms"] = self.latency_ms
        if self.output_tokens is not None:
            out["output_tokens"] = self.output_tokens
        return out


@dataclass(frozen=True, slots=True)
class Record:
    """One line of a routing dataset."""

    prompt: str
    agents: Mapping[str, AgentResult]
    category: str | None = None
    id: str | None = None
    embedding: tuple[float, ...] | None = None
    embedder: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt": self.prompt, "agents": {n: r.to_json() for n, r in self.agents.items()}}
        if self.category is not None:
            out["category"] = self.category
        if self.id is not None:
            out["id"] = self.id
        if self.embedding is not None:
            out["embedding"] = list(self.embedding)
            out["embedder"] = self.embedder
        return out


def record_json(record: Record) -> str:
    """The record as one canonical JSON line (no trailing newline)."""
    return json.dumps(record.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def write_jsonl(records: Iterable[Record], out: TextIO) -> int:
    """Write ``records`` one canonical line each; returns how many were written."""
    n = 0
    for r in records:
        out.write(record_json(r))
        out.write("\n")
        n += 1
    return n


def _number(value: Any, where: str, what: str, lo: float, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(where, f"{what} must be a number, got {shown(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidArgument(where, f"{what} must be finite, got {shown(value)}")
    if v < lo or (hi is not None and v > hi):
        rng = f"in [{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
        raise InvalidArgument(where, f"{what} must be {rng}, got {v:g}")
    return v + 0.0  # -0.0 is 0


def _text(value: Any, where: str, what: str, maximum: int) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(where, f"{what} must be text, got {shown(value)}")
    if not value:
        raise InvalidArgument(where, f"{what} must not be empty")
    if len(value) > maximum:
        raise InvalidArgument(where, f"{what} is {len(value)} characters; at most {maximum}")
    return value


def validate_record(obj: Any, where: str) -> Record:
    """``obj`` (parsed JSON) as a ``Record``, or ``InvalidArgument(where, problem)``."""
    if not isinstance(obj, dict):
        raise InvalidArgument(where, f"must be a JSON object, got {type(obj).__name__}")
    unknown = [k for k in obj if k not in RECORD_KEYS]
    if unknown:
        raise InvalidArgument(where, f"unknown key {shown(unknown[0])}; valid: {', '.join(RECORD_KEYS)}")
    if "prompt" not in obj:
        raise InvalidArgument(where, "has no \"prompt\"")
    prompt = _text(obj["prompt"], where, "prompt", TEXT_MAX)
    agents_obj = obj.get("agents")
    if not isinstance(agents_obj, dict) or not agents_obj:
        raise InvalidArgument(where, "\"agents\" must be a non-empty object of agent name -> result")
    agents: dict[str, AgentResult] = {}
    for name, res in agents_obj.items():
        try:
            validate_name(name, "agent")
        except InvalidArgument as e:
            raise InvalidArgument(where, f"agent name {e.problem}") from None
        what = f"agents[{name!r}]"
        if not isinstance(res, dict):
            raise InvalidArgument(where, f"{what} must be an object with quality and cost, got {shown(res)}")
        bad = [k for k in res if k not in AGENT_KEYS]
        if bad:
            raise InvalidArgument(where, f"{what} has unknown key {shown(bad[0])}; valid: {', '.join(AGENT_KEYS)}")
        if "cost" not in res:
            raise InvalidArgument(where, f"{what} has no cost")
        q = res.get("quality")
        quality = None if q is None else _number(q, where, f"{what}.quality", 0.0, 1.0)
        cost = _number(res["cost"], where, f"{what}.cost", 0.0)
        lat = res.get("latency_ms")
        latency = None if lat is None else _number(lat, where, f"{what}.latency_ms", 0.0)
        out_tok = res.get("output_tokens")
        if out_tok is not None and (isinstance(out_tok, bool) or not isinstance(out_tok, int)
                                    or not 0 <= out_tok <= OUTPUT_TOKENS_MAX):
            raise InvalidArgument(where, f"{what}.output_tokens must be an integer in [0, {OUTPUT_TOKENS_MAX}], "
                                         f"got {shown(out_tok)}")
        agents[name] = AgentResult(quality, cost, latency, out_tok)
    category = obj.get("category")
    if category is not None:
        category = _text(category, where, "category", CATEGORY_MAX)
    rid = obj.get("id")
    if rid is not None:
        rid = _text(rid, where, "id", ID_MAX)
    embedding = obj.get("embedding")
    embedder = obj.get("embedder")
    vec: tuple[float, ...] | None = None
    if embedding is not None:
        if not isinstance(embedding, list) or not embedding:
            raise InvalidArgument(where, "embedding must be a non-empty list of numbers")
        vec = tuple(_number(v, where, f"embedding[{i}]", -math.inf) for i, v in enumerate(embedding))
        if embedder is None:
            raise InvalidArgument(where, "an embedding needs \"embedder\", the name of the embedder that made it")
        embedder = _text(embedder, where, "embedder", 128)
    elif embedder is not None:
        raise InvalidArgument(where, "\"embedder\" is given without an embedding")
    return Record(prompt, agents, category, rid, vec, embedder)


def iter_records(source: str | Path | TextIO, name: str | None = None) -> Iterator[Record]:
    """Stream the records of a routing-dataset JSONL file (a path, or an open text file named ``name``),
    validating each line: an empty or malformed line is ``InvalidArgument(f"{name}:{line}", problem)``."""
    if isinstance(source, str | Path):
        with open(source, encoding="utf-8") as f:
            yield from iter_records(f, str(source) if name is None else name)
        return
    label = name if name is not None else getattr(source, "name", "<stream>")
    for lineno, raw in enumerate(source, start=1):
        where = f"{label}:{lineno}"
        text = raw.rstrip("\r\n")
        if not text.strip():
            raise InvalidArgument(where, "empty line (a routing dataset has one JSON object on every line)")
        yield validate_record(parse_json(text, where), where)


# -- the dataset -----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RoutingDataset:
    """A routing dataset as arrays: n requests × A agents (agents in order of first appearance).

    ``quality``, ``cost``, ``latency_ms`` and ``output_tokens`` are (n, A) float64 with NaN where a line
    does not give the value (``cost`` is NaN exactly where the agent is absent from the line)."""

    prompts: tuple[str, ...]
    agents: tuple[str, ...]
    quality: np.ndarray
    cost: np.ndarray
    latency_ms: np.ndarray
    output_tokens: np.ndarray
    categories: tuple[str | None, ...]
    ids: tuple[str | None, ...]
    embeddings: np.ndarray | None = None  # (n, d) float32 when every line carries one
    embedder: str | None = None
    source: str = "<records>"
    _fingerprint: list[str] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.prompts)

    @classmethod
    def from_records(cls, records: Iterable[Record], source: str = "<records>") -> RoutingDataset:
        """Collect records; raises ``InvalidArgument`` for an empty dataset, an agent with no quality
        value, or embeddings that are not on every line, of one embedder and one dimension."""
        prompts: list[str] = []
        cats: list[str | None] = []
        ids: list[str | None] = []
        rows: list[Mapping[str, AgentResult]] = []
        index: dict[str, int] = {}
        vectors: list[tuple[float, ...]] = []
        embedder: str | None = None
        for i, r in enumerate(records):
            if i == 0:
                embedder = r.embedder
            elif (r.embedding is None) != (embedder is None):
                raise InvalidArgument(f"{source}:{i + 1}", "embeddings must be given on every line or on none")
            if r.embedding is not None:
                if r.embedder != embedder:
                    raise InvalidArgument(f"{source}:{i + 1}", f"embedder {r.embedder!r} differs from the first "
                                                               f"line's {embedder!r}")
                if vectors and len(r.embedding) != len(vectors[0]):
                    raise InvalidArgument(f"{source}:{i + 1}", f"embedding has {len(r.embedding)} dimensions, "
                                                               f"the first line's {len(vectors[0])}")
                vectors.append(r.embedding)
            prompts.append(r.prompt)
            cats.append(r.category)
            ids.append(r.id)
            rows.append(r.agents)
            for name in r.agents:
                index.setdefault(name, len(index))
        if not prompts:
            raise InvalidArgument(source, "has no records")
        n, a = len(prompts), len(index)
        q, c, lat, out = (np.full((n, a), np.nan) for _ in range(4))
        for i, agents in enumerate(rows):
            for name, res in agents.items():
                j = index[name]
                c[i, j] = res.cost
                if res.quality is not None:
                    q[i, j] = res.quality
                if res.latency_ms is not None:
                    lat[i, j] = res.latency_ms
                if res.output_tokens is not None:
                    out[i, j] = res.output_tokens
        names = tuple(index)
        missing = [names[j] for j in range(a) if np.isnan(q[:, j]).all()]
        if missing:
            raise InvalidArgument(source, f"agent {missing[0]!r} has no quality value on any line"
                                          + (f" (nor {', '.join(map(repr, missing[1:]))})" if missing[1:] else ""))
        emb = np.asarray(vectors, dtype=np.float32) if vectors else None
        return cls(tuple(prompts), names, q, c, lat, out, tuple(cats), tuple(ids), emb, embedder, source)

    def records(self) -> Iterator[Record]:
        for i in range(len(self)):
            agents = {}
            for j, name in enumerate(self.agents):
                if np.isnan(self.cost[i, j]):
                    continue
                q, lat, out = self.quality[i, j], self.latency_ms[i, j], self.output_tokens[i, j]
                agents[name] = AgentResult(None if np.isnan(q) else float(q), float(self.cost[i, j]),
                                           None if np.isnan(lat) else float(lat), None if np.isnan(out) else int(out))
            emb = None if self.embeddings is None else tuple(float(v) for v in self.embeddings[i])
            yield Record(self.prompts[i], agents, self.categories[i], self.ids[i], emb,
                         self.embedder if emb is not None else None)

    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the canonical JSONL (see the module docstring)."""
        if not self._fingerprint:
            h = hashlib.sha256()
            for r in self.records():
                h.update(record_json(r).encode())
                h.update(b"\n")
            self._fingerprint.append(f"sha256:{h.hexdigest()}")
        return self._fingerprint[0]

    def subset(self, rows: Sequence[int] | np.ndarray) -> RoutingDataset:
        """The dataset of the given rows (indices or a boolean mask), in that order."""
        idx = np.arange(len(self))[np.asarray(rows)] if np.asarray(rows).dtype == bool else np.asarray(rows, int)
        return RoutingDataset(
            tuple(self.prompts[i] for i in idx), self.agents, self.quality[idx], self.cost[idx],
            self.latency_ms[idx], self.output_tokens[idx], tuple(self.categories[i] for i in idx),
            tuple(self.ids[i] for i in idx), None if self.embeddings is None else self.embeddings[idx],
            self.embedder, self.source)

    def input_tokens(self) -> np.ndarray:
        """(n,) routerd's input-token estimate of each prompt."""
        return np.array([input_tokens(p) for p in self.prompts], dtype=np.float64)

    def complete(self) -> np.ndarray:
        """(n,) True where every agent has a quality and a cost (what an evaluation needs)."""
        return np.asarray(~(np.isnan(self.quality) | np.isnan(self.cost)).any(axis=1))

    def mean_quality(self) -> dict[str, float]:
        """Each agent's mean quality over the lines that give one (a registration's quality prior)."""
        return {n: float(np.nanmean(self.quality[:, j])) for j, n in enumerate(self.agents)}

    def check_embedder(self, name: str, dim: int) -> None:
        """Raise ``InvalidArgument`` unless the dataset's embeddings (if any) are ``name``'s, ``dim`` wide."""
        if self.embeddings is None:
            return
        if self.embedder != name or self.embeddings.shape[1] != dim:
            raise InvalidArgument(
                self.source, f"the dataset's embeddings are {self.embedder!r} ({self.embeddings.shape[1]} "
                             f"dimensions); this model uses {name!r} ({dim}): re-embed or drop them")


def read_dataset(path: str | Path) -> RoutingDataset:
    """Read and validate a routing-dataset JSONL file (see ``iter_records``)."""
    return RoutingDataset.from_records(iter_records(path), str(path))


def write_dataset(dataset: RoutingDataset, path: str | Path) -> int:
    with open(path, "w", encoding="utf-8") as f:
        return write_jsonl(dataset.records(), f)


# -- converters ------------------------------------------------------------------------------------

def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line the row starts on, row) for a CSV with a header; responses can be long."""
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        start = 2
        for row in reader:
            yield start, row
            start = reader.line_num + 1


def _turns(cell: str, where: str, what: str) -> list[str]:
    """A Python-list literal of strings (RouterBench's prompt and response cells), parsed without
    evaluating code (``ast.literal_eval`` accepts literals only)."""
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise InvalidArgument(where, f"{what} is not a Python list literal of strings: {shown(cell)}") from None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise InvalidArgument(where, f"{what} is not a list of strings: {shown(cell)}")
    return list(value)


def _score(cell: str, where: str, what: str) -> float:
    s = cell.strip()
    if s == "" or s.lower() == "nan":
        return 0.0  # RouterBench's unscored rows count as wrong (data/README.md)
    try:
        v = float(s)
    except ValueError:
        raise InvalidArgument(where, f"{what} is not a number: {shown(cell)}") from None
    if not 0.0 <= v <= 1.0:
        raise InvalidArgument(where, f"{what} must be in [0, 1], got {v:g}")
    return v + 0.0


def convert_routerbench(paths: Iterable[str | Path], *, turn_separator: str = "\n\n") -> Iterator[Record]:
    """Records from RouterBench CSVs (the shared ``routerbench/*.csv``).

    Columns: ``prompt`` (a Python-list literal of user turns, joined with ``turn_separator``: every
    turn was sent, a two-turn row costs twice a one-turn one), ``eval_name`` (the category),
    ``sample_id`` (the id), and per model ``<model>`` (score 0/1; empty or NaN is 0),
    ``<model>|total_cost`` (USD) and, when present, ``<model>|model_response`` (its output tokens
    are estimated as routerd estimates input tokens, ceil(len/4), for the price models)."""
    for p in paths:
        path = Path(p)
        for line, row in _csv_rows(path):
            where = f"{path}:{line}"
            for col in ("prompt", "eval_name"):
                if col not in row:
                    raise InvalidArgument(str(path), f"has no column {col!r} (is it a RouterBench file?)")
            models = [k for k in row if k and "|" not in k and f"{k}|total_cost" in row]
            if not models:
                raise InvalidArgument(str(path), "has no <model> and <model>|total_cost columns")
            prompt = turn_separator.join(_turns(row["prompt"], where, "prompt"))
            agents: dict[str, AgentResult] = {}
            for m in models:
                cost_cell = row[f"{m}|total_cost"]
                try:
                    cost = float(cost_cell)
                except ValueError:
                    raise InvalidArgument(where, f"{m}|total_cost is not a number: {shown(cost_cell)}") from None
                out_tokens = None
                resp = row.get(f"{m}|model_response")
                if resp:
                    try:
                        out_tokens = input_tokens("".join(_turns(resp, where, "response")))
                    except InvalidArgument:
                        out_tokens = None  # a response we cannot read only loses the output-length hint
                agents[m] = AgentResult(_score(row[m], where, m), cost, None, out_tokens)
            obj = Record(prompt, agents, row["eval_name"] or None, row.get("sample_id") or None).to_json()
            yield validate_record(obj, where)


# USD per 1k tokens (input, output). gpt-4-1106-preview: OpenAI's list price ($10/M in, $30/M out);
# Mixtral-8x7B-Instruct: Together AI's list price ($0.60/M either way), the price RouterBench's own
# mixtral costs imply.
ROUTELLM_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4-1106-preview": (0.01, 0.03),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.0006, 0.0006),
}
ROUTELLM_FEW_SHOT = 5
ROUTELLM_PREFIX_MAX_TOKENS = 1536
ROUTELLM_OUTPUT_TOKENS = 1


def _contaminated(paths: Sequence[Path], given: str | Path | None) -> tuple[set[str], Path | None]:
    if given is not None:
        where = Path(given)
    else:
        candidates = [d / "contaminated_prompts.jsonl" for p in paths for d in (p.parent, p.parent.parent)]
        found = [c for c in dict.fromkeys(candidates) if c.is_file()]
        if not found:
            return set(), None
        where = found[0]
    out: set[str] = set()
    with open(where, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            obj = parse_json(raw, f"{where}:{lineno}")
            if not isinstance(obj, dict) or not isinstance(obj.get("eval_prompt"), str):
                raise InvalidArgument(f"{where}:{lineno}", "must be an object with an \"eval_prompt\" string")
            out.add(obj["eval_prompt"])
    return out, where


def convert_routellm(paths: Iterable[str | Path], *, prices: Mapping[str, tuple[float, float]] | None = None,
                     few_shot: int = ROUTELLM_FEW_SHOT, output_tokens: int = ROUTELLM_OUTPUT_TOKENS,
                     exclude_contaminated: bool = True, contaminated: str | Path | None = None) -> Iterator[Record]:
    """Records from RouteLLM's MMLU response CSVs (the shared ``routellm/mmlu/responses/*.csv``; a
    directory stands for its CSVs). Columns: ``prompt`` and one column per model, ``True``/``False``
    (quality 1/0). The category is the file's subject (``mmlu_anatomy.csv`` → ``anatomy``); the id is
    ``<subject>:<row>``.

    Costs are not in the files; they are priced as the models were called. RouteLLM sent each question
    after a ``few_shot``-example prefix of the subject (at most 1,536 tokens) and generated
    ``output_tokens`` = 1 token (``max_new_tokens=1``), so a request costs
    ``(prefix + ceil(len(prompt)/4))/1000·in + output_tokens/1000·out`` with the prefix estimated as
    ``few_shot`` × the subject's mean question tokens (capped at 1,536) and per-1k prices ``prices``
    (default ``ROUTELLM_PRICES``: list prices, gpt-4-1106-preview $0.01/$0.03, Mixtral $0.0006/$0.0006).
    A model without a price is an error. Only the question is the prompt: the router sees what the
    user asked. With ``exclude_contaminated``, prompts listed as ``eval_prompt`` in
    ``contaminated_prompts.jsonl`` (``contaminated``, else found next to the CSVs or one level up, as in
    the RouteLLM tree) are left out, matched exactly as RouteLLM does."""
    price = dict(ROUTELLM_PRICES if prices is None else prices)
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        files.extend(sorted(path.glob("*.csv")) if path.is_dir() else [path])
    skip, _ = _contaminated(files, contaminated) if exclude_contaminated else (set(), None)
    for path in files:
        rows = list(_csv_rows(path))
        subject = path.stem.removeprefix("mmlu_")
        if not rows:
            continue
        if "prompt" not in rows[0][1]:
            raise InvalidArgument(str(path), "has no column 'prompt' (is it a RouteLLM response file?)")
        models = [k for k in rows[0][1] if k and k != "prompt"]
        for m in models:
            if m not in price:
                raise InvalidArgument(str(path), f"no price for model {m!r}; give prices= (USD per 1k input, output)")
        mean_q = float(np.mean([input_tokens(r["prompt"]) for _, r in rows]))
        prefix = min(ROUTELLM_PREFIX_MAX_TOKENS, round(few_shot * mean_q))
        for k, (line, row) in enumerate(rows):
            where = f"{path}:{line}"
            prompt = row["prompt"]
            if prompt in skip:
                continue
            tin = prefix + input_tokens(prompt)
            agents: dict[str, AgentResult] = {}
            for m in models:
                cell = (row[m] or "").strip()
                if cell not in ("True", "False"):
                    raise InvalidArgument(where, f"{m} must be True or False, got {shown(cell)}")
                p_in, p_out = price[m]
                agents[m] = AgentResult(1.0 if cell == "True" else 0.0,
                                        tin / 1000.0 * p_in + output_tokens / 1000.0 * p_out)
            yield validate_record(Record(prompt, agents, subject, f"{subject}:{k}").to_json(), where)


# -- price models ----------------------------------------------------------------------------------

def nnls(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin ||x·β − y||² subject to β >= 0, exactly, for a few columns: the optimum is the
    unconstrained least-squares solution on its support, so every support is tried (2^p of them)."""
    n, p = x.shape
    if p > 8:
        raise InvalidArgument("x", f"nnls here enumerates supports; {p} columns is too many")
    scale = np.linalg.norm(x, axis=0)
    scale[scale == 0] = 1.0
    xs = x / scale
    best, best_err = np.zeros(p), float(y @ y)
    for k in range(1, p + 1):
        for support in itertools.combinations(range(p), k):
            cols = list(support)
            beta, *_ = np.linalg.lstsq(xs[:, cols], y, rcond=None)
            if (beta < 0).any():
                continue
            r = xs[:, cols] @ beta - y
            err = float(r @ r)
            if err < best_err - 1e-15 * max(best_err, 1e-300):
                best = np.zeros(p)
                best[cols] = beta
                best_err = err
    return np.asarray(best / scale)


@dataclass(frozen=True, slots=True)
class PriceModel:
    """An agent's prices as routerd holds them (``CostModel`` + ``typical_output_tokens``)."""

    agent: str
    per_1k_input_tokens: float
    per_1k_output_tokens: float
    per_call: float
    typical_output_tokens: int
    n: int  # prompts it was fitted on

    def cost_model(self) -> CostModel:
        return CostModel(self.per_1k_input_tokens, self.per_1k_output_tokens, self.per_call, 0.0)

    def estimate(self, tokens_in: np.ndarray) -> np.ndarray:
        """routerd's estimate (``Router._cost`` over ``AgentTable``'s columns), the same arithmetic."""
        base = self.per_call + 0.0 + self.typical_output_tokens / 1000.0 * self.per_1k_output_tokens
        return np.asarray(np.asarray(tokens_in, dtype=np.float64) * (self.per_1k_input_tokens / 1000.0) + base)


def fit_price_model(agent: str, tokens_in: np.ndarray, costs: np.ndarray,
                    tokens_out: np.ndarray | None = None) -> PriceModel:
    """Fit ``agent``'s prices to observed ``costs`` (USD) of prompts of ``tokens_in`` estimated input
    tokens, by non-negative least squares (module docstring). ``tokens_out`` (NaN where unknown) is
    used when known on every costed prompt. NaN costs are skipped."""
    tin = np.asarray(tokens_in, dtype=np.float64)
    c = np.asarray(costs, dtype=np.float64)
    keep = np.isfinite(c)
    if not keep.any():
        raise InvalidArgument(f"agents[{agent!r}]", "has no cost values to fit a price model to")
    tin, c = tin[keep], c[keep]
    tout = None if tokens_out is None else np.asarray(tokens_out, dtype=np.float64)[keep]
    if tout is not None and np.isfinite(tout).all():
        a, rate_out, d = nnls(np.column_stack([tin, tout, np.ones_like(tin)]), c)
        mean_out = float(tout.mean())
        typical = min(int(math.floor(mean_out)), TYPICAL_OUTPUT_TOKENS_MAX)
        # The fraction of a token floor() drops goes to per_call, so the estimate keeps the fitted mean.
        per_call = d + rate_out * (mean_out - typical)
        out1k = 1000.0 * rate_out
    else:
        a, per_call = nnls(np.column_stack([tin, np.ones_like(tin)]), c)
        typical, out1k = 0, 0.0
    return PriceModel(agent, float(min(1000.0 * a, PRICE_MAX)), float(min(out1k, PRICE_MAX)),
                      float(min(per_call, PRICE_MAX)), typical, int(keep.sum()))


def fit_price_models(dataset: RoutingDataset, rows: Sequence[int] | np.ndarray | None = None,
                     use_output_tokens: bool = True) -> dict[str, PriceModel]:
    """A price model per agent, fitted on ``rows`` (default all) of ``dataset``."""
    ds = dataset if rows is None else dataset.subset(rows)
    tin = ds.input_tokens()
    return {name: fit_price_model(name, tin, ds.cost[:, j], ds.output_tokens[:, j] if use_output_tokens else None)
            for j, name in enumerate(ds.agents)}


def estimate_costs(models: Mapping[str, PriceModel], agents: Sequence[str], prompts: Sequence[str]) -> np.ndarray:
    """(n, A) routerd's estimated cost of each prompt on each agent."""
    tin = np.array([input_tokens(p) for p in prompts], dtype=np.float64)
    missing = [a for a in agents if a not in models]
    if missing:
        raise InvalidArgument("agents", f"no price model for {missing[0]!r}")
    return np.column_stack([models[a].estimate(tin) for a in agents]) if agents else np.zeros((len(prompts), 0))


@dataclass(frozen=True, slots=True)
class PriceError:
    """How far estimated costs are from observed ones."""

    mape: float  # mean of |estimate − cost| / cost over prompts with cost > 0
    median_ape: float
    total_relative_error: float  # (Σ estimate − Σ cost) / Σ cost, signed
    n: int


def price_error(estimated: np.ndarray, observed: np.ndarray) -> PriceError:
    est = np.asarray(estimated, dtype=np.float64).ravel()
    obs = np.asarray(observed, dtype=np.float64).ravel()
    keep = np.isfinite(obs) & np.isfinite(est)
    est, obs = est[keep], obs[keep]
    pos = obs > 0
    ape = np.abs(est[pos] - obs[pos]) / obs[pos]
    total = float(obs.sum())
    return PriceError(float(ape.mean()) if ape.size else math.nan, float(np.median(ape)) if ape.size else math.nan,
                      (float(est.sum()) - total) / total if total > 0 else math.nan, int(keep.sum()))
