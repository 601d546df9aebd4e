"""The reader's view of the chunks collection: texts, metadata and BM25, cached per generation.

BM25 needs every chunk's text, which lives in Chroma; rather than fetch it on every start,
the table is pickled into `index_dir/cache/` under the generation token of the index run
that wrote it. A reader whose token matches loads the file; otherwise (a newer run, a
missing or damaged file, a write under way) it rebuilds the table from the collection.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from hkqa.bm25 import BM25
from hkqa.store import Store

CACHE_DIR = "cache"
_PICKLE_PROTOCOL = 5
# Bump when ChunkTable changes shape, so older cache files are rebuilt rather than loaded.
TABLE_VERSION = 2


class ChunkTable:
    """All chunks of the index as parallel lists, with BM25 and the arrays filters need."""

    def __init__(
        self, ids: list[str], texts: list[str], metas: list[dict[str, Any]], generation: str = ""
    ) -> None:
        self.ids = ids
        self.texts = texts
        self.metas = metas
        self.generation = generation
        self.swept = 0
        self.doc_ids = [m["doc_id"] for m in metas]
        self.row_of = {cid: i for i, cid in enumerate(ids)}
        self.bm25 = BM25(texts)
        self.date_day = np.array([m.get("date_day", -(2**31)) for m in metas], dtype=np.int64)
        self.has_date = np.array(["date_day" in m for m in metas], dtype=bool)
        self.firm_sets = [frozenset(f for f in m.get("firms") or () if f) for m in metas]
        # Firms named in the neighbouring chunks: who "it" and "the spokesperson" are.
        self.near_firms = [
            frozenset().union(
                *(
                    self.firm_sets[j]
                    for j in (i - 1, i + 1)
                    if 0 <= j < len(ids) and self.doc_ids[j] == self.doc_ids[i]
                )
            )
            for i in range(len(ids))
        ]
        self.heading = np.array([is_heading(t) for t in texts], dtype=bool)

    @classmethod
    def from_store(cls, store: Store) -> ChunkTable:
        """Build the table from every chunk the collection holds, in a stable order."""
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        for page_ids, page_texts, page_metas, _ in store.iter_chunk_records():
            ids.extend(page_ids)
            texts.extend(page_texts)
            metas.extend(_slim(m) for m in page_metas)
        order = sorted(range(len(ids)), key=lambda i: (metas[i]["doc_id"], metas[i]["start"]))
        return cls(
            [ids[i] for i in order],
            [texts[i] for i in order],
            [metas[i] for i in order],
            store.generation(),
        )

    def mask(
        self,
        *,
        firm: str | None = None,
        since_day: int | None = None,
        until_day: int | None = None,
        outlet: str | None = None,
        doc_ids: set[str] | None = None,
    ) -> np.ndarray | None:
        """Return the boolean mask of rows passing the filters, or None when there are none."""
        if firm is None and since_day is None and until_day is None and not outlet and not doc_ids:
            return None
        keep = np.ones(len(self.ids), dtype=bool)
        if firm is not None:
            keep &= np.array([firm in (m.get("firms") or ()) for m in self.metas], dtype=bool)
        if since_day is not None:
            keep &= self.has_date & (self.date_day >= since_day)
        if until_day is not None:
            keep &= self.has_date & (self.date_day <= until_day)
        if outlet:
            want = outlet.casefold()
            keep &= np.array(
                [(m.get("outlet") or "").casefold() == want for m in self.metas], dtype=bool
            )
        if doc_ids:
            keep &= np.array([d in doc_ids for d in self.doc_ids], dtype=bool)
        return keep


def is_heading(text: str) -> bool:
    """True for headline-like chunks: no closing sentence punctuation."""
    return not text.rstrip().endswith((".", "!", "?", '"', "”", "’", "'", ")"))


def _slim(meta: dict[str, Any]) -> dict[str, Any]:
    """Drop llama-index's serialised node copy; the table needs only hkqa's own fields."""
    return {
        k: v
        for k, v in meta.items()
        if not k.startswith("_") and k not in ("ref_doc_id", "document_id")
    }


def cache_dir(store: Store) -> Path:
    """Return where this index's reader cache lives (per server and collection for a server)."""
    settings = store.settings
    base = Path(settings.index_dir) / CACHE_DIR
    key = f"{settings.chroma_url or 'embedded'}|{settings.collection}"
    return base / hashlib.sha256(key.encode()).hexdigest()[:16]


def save_table(table: ChunkTable, store: Store) -> None:
    """Write the table for its generation, replacing older ones; atomic by rename."""
    if Store.is_dirty(table.generation):
        return
    folder = cache_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"table-v{TABLE_VERSION}-{table.generation}.pkl"
    tmp = target.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(table, fh, protocol=_PICKLE_PROTOCOL)
    tmp.replace(target)
    for old in folder.glob("table-*.pkl"):
        if old != target:
            old.unlink(missing_ok=True)


def load_table(store: Store) -> ChunkTable:
    """Return the chunk table for the index's current generation, from cache when possible."""
    generation = store.generation()
    if not Store.is_dirty(generation):
        path = cache_dir(store) / f"table-v{TABLE_VERSION}-{generation}.pkl"
        try:
            with path.open("rb") as fh:
                table = pickle.load(fh)
            if isinstance(table, ChunkTable) and table.generation == generation:
                return table
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
            pass
    table = ChunkTable.from_store(store)
    save_table(table, store)
    return table
