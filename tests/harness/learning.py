"""Routing data with a known answer, for the learned model's tests: two kinds of request, a cheap
agent that is good at one of them only, and a dear agent that is good at both.

"translate" requests ask to translate a few random words; "proof" requests ask to prove something
about a few random mathematical words. The words differ between kinds (and the hashing embedder
hashes words), so the kind is learnable from the text and nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

WORDS_TRANSLATE = ("house", "garden", "river", "bread", "window", "morning", "friend", "city", "table", "song",
                   "letter", "train", "market", "summer", "coffee", "street", "music", "forest", "school", "dinner")
WORDS_PROOF = ("prime", "integer", "lemma", "matrix", "eigenvalue", "theorem", "polynomial", "graph", "vertex",
               "group", "ring", "field", "manifold", "derivative", "integral", "sequence", "limit", "series",
               "topology", "induction")

CHEAP, DEAR = "cheap-mt", "dear-llm"
CHEAP_COST, DEAR_COST = 0.0001, 0.01  # USD a request
# P(adequate) by (agent, kind)
QUALITY = {(CHEAP, "translate"): 0.95, (CHEAP, "proof"): 0.05, (DEAR, "translate"): 0.9, (DEAR, "proof"): 0.9}


def prompt(kind: str, rng: np.random.Generator) -> str:
    if kind == "translate":
        words = " ".join(rng.choice(WORDS_TRANSLATE, size=5))
        return f"Translate into French: the {words}"
    words = " ".join(rng.choice(WORDS_PROOF, size=5))
    return f"Prove the statement about {words}"


def kinds(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["translate" if x < 0.5 else "proof" for x in rng.random(n)]


def records(n: int, seed: int = 0, *, flip: bool = False) -> list[dict[str, Any]]:
    """Routing-dataset records (DESIGN.md "Routing datasets"). ``flip`` swaps the cheap agent's skills."""
    rng = np.random.default_rng(seed)
    out = []
    for i, kind in enumerate(kinds(n, seed)):
        agents = {}
        for agent, cost in ((CHEAP, CHEAP_COST), (DEAR, DEAR_COST)):
            k = kind if not flip or agent != CHEAP else ("proof" if kind == "translate" else "translate")
            agents[agent] = {"quality": float(rng.random() < QUALITY[(agent, k)]), "cost": cost}
        out.append({"prompt": prompt(kind, rng), "agents": agents, "category": kind, "id": f"{kind}-{i}"})
    return out


def write(path: Path, recs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path
