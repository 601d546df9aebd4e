"""A BERT sentence encoder in plain numpy: the same vectors as sentence-transformers, at a
fraction of its start-up cost.

It reads a sentence-transformers folder (Transformer -> mean or CLS Pooling -> Normalize) whose
transformer is a BERT with absolute positions and GELU, such as the bundled all-MiniLM-L6-v2:
weights from `model.safetensors` (memory-mapped, parsed here), tokens from `tokenizer.json`
through the `tokenizers` library, and the forward pass in float32 numpy. Importing it costs
numpy and tokenizers only — no torch, transformers or sentence-transformers — so a fresh
`hkqa search` starts in a fraction of the time. `can_load` says whether a folder is one it
reproduces exactly; anything else goes to sentence-transformers.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_POOLING_FLAGS = (
    "pooling_mode_cls_token",
    "pooling_mode_mean_tokens",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)
# Coefficients of erf(x) ≈ 1 - poly(t)·exp(-x²), t = 1/(1 + p·x) (Abramowitz & Stegun 7.1.26,
# absolute error below 1.5e-7), for the exact (erf) GELU that BERT uses.
# The argument is x/√2 and the result is halved, so both are folded into the constants.
_ERF_P_HALF_SQRT = np.float32(0.3275911 / math.sqrt(2))
_ERF_A_HALF = tuple(
    np.float32(a / 2) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_ONE, _HALF, _MINUS_HALF = np.float32(1.0), np.float32(0.5), np.float32(-0.5)


class UnsupportedModelError(ValueError):
    """The folder is not a model this encoder reproduces exactly; use sentence-transformers."""


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Return the tensors of a .safetensors file as read-only arrays mapped from the file."""
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(header_len))
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in _DTYPES:
            continue
        begin, end = info["data_offsets"]
        out[name] = raw[begin:end].view(_DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(f"cannot read {path.name}: {exc}") from exc


def _pooling_mode(folder: Path, modules: list[dict[str, Any]]) -> str:
    """Return 'mean' or 'cls' from the Pooling module's config."""
    pooling = next(m for m in modules if m.get("type") == _POOLING)
    config = _read_json(folder / pooling.get("path", "") / "config.json")
    on = [flag for flag in _POOLING_FLAGS if config.get(flag)]
    if on == ["pooling_mode_mean_tokens"]:
        return "mean"
    if on == ["pooling_mode_cls_token"]:
        return "cls"
    raise UnsupportedModelError(f"pooling {on or 'none'} is not mean or CLS pooling")


def inspect_model(folder: Path) -> dict[str, Any]:
    """Return what the encoder needs to know of a sentence-transformers folder; raise
    UnsupportedModelError when it is not a BERT it reproduces exactly."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UnsupportedModelError(f"{folder} is not a local model folder")
    modules = _read_json(folder / "modules.json")
    types = [m.get("type") for m in modules]
    if types not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
        raise UnsupportedModelError(f"modules {types} are not Transformer, Pooling[, Normalize]")
    if modules[0].get("path", "") not in ("", "."):
        raise UnsupportedModelError("the transformer lives in a sub-folder")
    config = _read_json(folder / "config.json")
    wanted = {
        "model_type": "bert",
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
    }
    for key, value in wanted.items():
        if config.get(key, value) != value:
            raise UnsupportedModelError(f"{key} is {config.get(key)!r}, not {value!r}")
    st_config = _read_json(folder / "sentence_bert_config.json")
    if st_config.get("do_lower_case"):
        raise UnsupportedModelError("sentence_bert_config asks for lower-casing")
    for name in ("model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            raise UnsupportedModelError(f"no {name}")
    max_len = int(st_config.get("max_seq_length") or config["max_position_embeddings"])
    return {
        "hidden": int(config["hidden_size"]),
        "heads": int(config["num_attention_heads"]),
        "layers": int(config["num_hidden_layers"]),
        "eps": float(config.get("layer_norm_eps", 1e-12)),
        "max_len": min(max_len, int(config["max_position_embeddings"])),
        "pooling": _pooling_mode(folder, modules),
        "pad_id": int(config.get("pad_token_id") or 0),
    }


def can_load(folder: str | Path) -> bool:
    """True when `folder` is a model this encoder reproduces exactly (else use
    sentence-transformers); reads only small config files."""
    try:
        inspect_model(Path(folder))
    except (UnsupportedModelError, KeyError, TypeError, ValueError):
        return False
    return True


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    x = x - mean
    var = np.mean(np.square(x), axis=-1, keepdims=True)
    x *= 1.0 / np.sqrt(var + eps)
    x *= weight
    x += bias
    return x


def _gelu(x: np.ndarray, block: int = 64) -> np.ndarray:
    """Exact GELU, x·Φ(x) with Φ(x) = (1 + erf(x/√2))/2, in place, a few rows at a time so the
    twenty-odd passes stay in cache."""
    rows = x.shape[0]
    t = np.empty((min(block, rows), x.shape[1]), dtype=np.float32)
    u = np.empty_like(t)
    z = np.empty_like(t)
    for start in range(0, rows, block):
        xb = x[start : start + block]
        n = xb.shape[0]
        tb, ub, zb = t[:n], u[:n], z[:n]
        np.abs(xb, out=tb)
        tb *= _ERF_P_HALF_SQRT
        tb += _ONE
        np.reciprocal(tb, out=tb)
        np.multiply(tb, _ERF_A_HALF[4], out=ub)
        for a in _ERF_A_HALF[3::-1]:
            ub += a
            ub *= tb
        np.square(xb, out=zb)
        zb *= _MINUS_HALF
        np.exp(zb, out=zb)
        ub *= zb  # (1 - erf(|x|/√2)) / 2
        np.subtract(_HALF, ub, out=ub)
        np.copysign(ub, xb, out=ub)
        ub += _HALF  # Φ(x)
        xb *= ub
    return x


class BertEncoder:
    """Encodes texts with a BERT sentence-transformers folder in numpy; `encode` returns the
    pooled float32 vectors (not normalised: `Embedder.embed` does that for every backend)."""

    def __init__(self, folder: str | Path) -> None:
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        info = inspect_model(self.folder)
        self.hidden = info["hidden"]
        self.heads = info["heads"]
        self.eps = info["eps"]
        self.max_len = info["max_len"]
        self.pooling = info["pooling"]
        self.dim = self.hidden
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_len)
        self._load_weights(info["layers"])

    def _load_weights(self, layers: int) -> None:
        raw = read_safetensors(self.folder / "model.safetensors")
        prefix = next(
            (p for p in ("", "bert.", "model.") if f"{p}embeddings.word_embeddings.weight" in raw),
            None,
        )
        if prefix is None:
            raise UnsupportedModelError("model.safetensors holds no BERT embeddings")

        def get(name: str) -> np.ndarray:
            arr = raw[prefix + name]
            return arr if arr.dtype == np.float32 else arr.astype(np.float32)

        def linear(name: str) -> tuple[np.ndarray, np.ndarray]:
            # Stored (out, in); `.T` is a view that BLAS multiplies without copying.
            return get(f"{name}.weight").T, get(f"{name}.bias")

        self.word = get("embeddings.word_embeddings.weight")
        self.position = get("embeddings.position_embeddings.weight")
        self.token_type = np.array(get("embeddings.token_type_embeddings.weight")[0])
        self.emb_ln = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(layers):
            p = f"encoder.layer.{i}."
            q_w, q_b = linear(p + "attention.self.query")
            k_w, k_b = linear(p + "attention.self.key")
            v_w, v_b = linear(p + "attention.self.value")
            self.layers.append(
                {
                    # Query, key and value in one product.
                    "qkv": (
                        np.ascontiguousarray(np.concatenate([q_w, k_w, v_w], axis=1)),
                        np.concatenate([q_b, k_b, v_b]),
                    ),
                    "attn_out": linear(p + "attention.output.dense"),
                    "attn_ln": (
                        get(p + "attention.output.LayerNorm.weight"),
                        get(p + "attention.output.LayerNorm.bias"),
                    ),
                    "inter": linear(p + "intermediate.dense"),
                    "out": linear(p + "output.dense"),
                    "out_ln": (
                        get(p + "output.LayerNorm.weight"),
                        get(p + "output.LayerNorm.bias"),
                    ),
                }
            )

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return (input ids, attention mask), padded to the longest text of the batch."""
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.float32)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1.0
        return ids, mask

    def encode(self, texts: list[str]) -> np.ndarray:
        """Return one pooled float32 vector per text, as sentence-transformers computes it."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids, mask = self.tokenize(texts)
        return self.pool(self.forward(ids, mask), mask)

    def pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Return the sentence vectors of a batch's hidden states: the mean of its tokens
        (padding excluded) or its CLS token, as the model's Pooling config says."""
        if self.pooling == "cls":
            return np.ascontiguousarray(hidden[:, 0, :])
        summed = np.einsum("bld,bl->bd", hidden, mask)
        counts = np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        return (summed / counts).astype(np.float32, copy=False)

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Return the last hidden states (batch, length, hidden) of the transformer."""
        batch, length = ids.shape
        heads, size = self.heads, self.hidden // self.heads
        x = self.word[ids] + self.position[:length] + self.token_type
        x = _layer_norm(x.reshape(batch * length, self.hidden), *self.emb_ln, self.eps)
        # Padding is masked with the float32 minimum, as transformers does.
        bias = ((np.float32(1.0) - mask) * np.finfo(np.float32).min)[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(size))
        for layer in self.layers:
            qkv = x @ layer["qkv"][0]
            qkv += layer["qkv"][1]
            qkv = qkv.reshape(batch, length, 3, heads, size).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, self.hidden)
            attn = context @ layer["attn_out"][0]
            attn += layer["attn_out"][1]
            attn += x
            x = _layer_norm(attn, *layer["attn_ln"], self.eps)
            inter = x @ layer["inter"][0]
            inter += layer["inter"][1]
            inter = _gelu(inter)
            out = inter @ layer["out"][0]
            out += layer["out"][1]
            out += x
            x = _layer_norm(out, *layer["out_ln"], self.eps)
        return x.reshape(batch, length, self.hidden)
