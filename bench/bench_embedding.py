"""Embedding throughput of the default embedder (all-MiniLM-L6-v2, int8 ONNX on onnxruntime).

For texts of 10, 50 and 200 words: one text a call, and batches of 64 texts a call, in texts/s and
ms/text (median over ``--repeats`` passes, every text distinct, the raw MiniLMEmbedder so the LRU cache
never answers), with the mean token count (after truncation at ``--max-seq-length``) and the share of
the time spent tokenizing. Also the load time: session creation (file read, sha256 check, tokenizer,
onnxruntime session) for a fresh embedder, and for the first one in the process (imports included).

Texts are real requests (clinc150's training utterances when ../shared/data is present, otherwise the
sentences below) strung together and cut to the word count, so vocabulary and token counts are natural.

Run: `OPENBLAS_NUM_THREADS=1 python bench/bench_embedding.py [--threads N] [--json]`. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routerd.model.embedders.minilm import MiniLMEmbedder  # noqa: E402

CLINC = ROOT.parent / "shared" / "data" / "clinc150" / "clinc150_train_val.json"
FALLBACK = [
    "Can you summarise the quarterly report and highlight the main risks for the board?",
    "Translate the following paragraph into Spanish, keeping the formal tone of the original.",
    "Write a Python function that parses a CSV file and returns the rows as dictionaries.",
    "What is the best way to cook salmon so that the skin stays crisp?",
    "My order arrived damaged yesterday and I would like a replacement or a refund.",
    "Explain the difference between a process and a thread to a new engineer.",
    "Book a table for four people on Friday evening somewhere near the station.",
    "The build failed again after the dependency upgrade; please find out which test broke.",
    "How long does it take to drive from Boston to New York when traffic is heavy?",
    "Draft a polite email declining the meeting invitation and proposing another time next week.",
    "Which of our agents handles image generation at the lowest cost per request?",
    "Remind me to renew my passport three months before it expires.",
]
WORDS = (10, 50, 200)
BATCH = 64


def sentence_pool() -> list[str]:
    if CLINC.exists():
        return [t for t, _ in json.loads(CLINC.read_text())["train"]]
    return FALLBACK


def texts_of(words: int, n: int, rng: random.Random, pool: list[str]) -> list[str]:
    """``n`` distinct texts of exactly ``words`` words, made of whole requests joined into a passage."""
    out: set[str] = set()
    while len(out) < n:
        acc: list[str] = []
        while len(acc) < words:
            s = rng.choice(pool)
            acc.extend((s[0].upper() + s[1:] + ("" if s[-1] in ".?!" else ".")).split())
        out.add(" ".join(acc[:words]))
    return sorted(out, key=lambda _: rng.random())


def time_calls(e: MiniLMEmbedder, texts: list[str], per_call: int) -> float:
    """Seconds to embed ``texts`` in calls of ``per_call`` texts."""
    start = time.perf_counter()
    for i in range(0, len(texts), per_call):
        e.embed(texts[i:i + per_call])
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    p.add_argument("--max-seq-length", type=int, default=256)
    p.add_argument("--texts", type=int, default=64, help="distinct texts per size and mode (default 64)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args()

    start = time.perf_counter()
    e = MiniLMEmbedder(max_seq_length=args.max_seq_length, threads=args.threads, batch_size=BATCH)
    first_load = time.perf_counter() - start
    loads = [MiniLMEmbedder(max_seq_length=args.max_seq_length, threads=args.threads).load_seconds
             for _ in range(3)]

    rng = random.Random(11)
    pool = sentence_pool()
    rows = []
    for words in WORDS:
        # fresh texts for every pass and mode: same sizes, never the same strings twice
        passes = [(texts_of(words, args.texts, rng, pool), texts_of(words, args.texts, rng, pool))
                  for _ in range(args.repeats)]
        e.embed(passes[0][0][:8])  # warm-up: first-run allocations of this shape
        single = [time_calls(e, a, 1) / len(a) for a, _ in passes]
        batched = [time_calls(e, b, BATCH) / len(b) for _, b in passes]
        sample = passes[0][0]
        tok_start = time.perf_counter()
        ids = e.tokenize(sample)
        tokenize = (time.perf_counter() - tok_start) / len(sample)
        rows.append({
            "words": words, "tokens": statistics.mean(len(x) for x in ids),
            "one_ms": statistics.median(single) * 1e3, "one_per_s": 1 / statistics.median(single),
            "batch_ms": statistics.median(batched) * 1e3, "batch_per_s": 1 / statistics.median(batched),
            "tokenize_ms": tokenize * 1e3,
        })

    figures = {"embedder": e.name, "threads": args.threads, "max_seq_length": args.max_seq_length,
               "first_load_s": first_load, "load_s_median": statistics.median(loads), "load_s_min": min(loads),
               "rows": rows}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{e.name}, threads={args.threads}, max_seq_length={args.max_seq_length}, "
          f"{args.texts} distinct texts x {args.repeats} passes per cell (median)")
    print(f"load: first in process {first_load * 1e3:.0f} ms (imports included); "
          f"fresh session median {statistics.median(loads) * 1e3:.0f} ms, min {min(loads) * 1e3:.0f} ms")
    print(f"{'words':>5} {'tokens':>6} | {'one: ms/text':>12} {'texts/s':>8} | {'batch 64: ms/text':>17} "
          f"{'texts/s':>8} | {'tokenize ms/text':>16}")
    for r in rows:
        print(f"{r['words']:>5} {r['tokens']:>6.1f} | {r['one_ms']:>12.2f} {r['one_per_s']:>8.1f} | "
              f"{r['batch_ms']:>17.2f} {r['batch_per_s']:>8.1f} | {r['tokenize_ms']:>16.3f}")


if __name__ == "__main__":
    main()
