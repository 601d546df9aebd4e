"""The reader's view of the index: chunk texts, metadata, BM25 and the document records they
were read with, cached per generation.

BM25 needs every chunk's text, which lives in Chroma; rather than fetch it on every start,
the table is pickled into `index_dir/cache/` under the generation token of the index run
that wrote it. A reader whose token matches loads the file; otherwise (a newer run, a
missing or damaged file) it rebuilds the table from the collection. While a run is under
way, readers keep the last clean table, and quote from the documents pinned with it, so a
reader sees the state before the run or after it, never a mix of the two.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from hkqa.bm25 import BM25
from hkqa.store import PARTIAL, Store
from hkqa.types import Document

CACHE_DIR = "cache"
_PICKLE_PROTOCOL = 5
# Bump when ChunkTable changes shape, so older cache files are rebuilt rather than loaded.
TABLE_VERSION = 3
_DIRTY = "dirty"


class ChunkTable:
    """All chunks of the index as parallel lists, with BM25 and the arrays filters need."""

    def __init__(
        self,
        ids: list[str],
        texts: list[str],
        metas: list[dict[str, Any]],
        generation: str = "",
        documents: dict[str, Document] | None = None,
    ) -> None:
        self.ids = ids
        self.texts = texts
        self.metas = metas
        self.generation = generation
        # The document records the chunks were read with: what a reader quotes from.
        self.documents = documents if documents is not None else {}
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
        """Build the table from every chunk the collection holds, in a stable order; its
        generation is 'dirty' unless the index stayed at one clean generation throughout."""
        before = store.generation()
        documents = store.stored_documents()
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        for page_ids, page_texts, page_metas, _ in store.iter_chunk_records():
            ids.extend(page_ids)
            texts.extend(page_texts)
            metas.extend(_slim(m) for m in page_metas)
        order = sorted(range(len(ids)), key=lambda i: (metas[i]["doc_id"], metas[i]["start"]))
        after = store.generation()
        return cls(
            [ids[i] for i in order],
            [texts[i] for i in order],
            [metas[i] for i in order],
            after if after == before else _DIRTY,
            documents,
        )

    def consistent_with_documents(self) -> ChunkTable:
        """Return the table without the chunks whose document record is missing or of
        another version (what an index run under way or killed leaves), labelled as
        partial; every row kept points into the text of its document in `documents`."""
        keep = [
            i
            for i, (doc_id, meta) in enumerate(zip(self.doc_ids, self.metas, strict=True))
            if doc_id in self.documents
            and self.documents[doc_id].content_hash == meta.get("doc_hash")
        ]
        if len(keep) == len(self.ids):
            table = ChunkTable.__new__(ChunkTable)
            table.__dict__.update(self.__dict__)
        else:
            table = ChunkTable(
                [self.ids[i] for i in keep],
                [self.texts[i] for i in keep],
                [self.metas[i] for i in keep],
                documents=self.documents,
            )
        table.generation = PARTIAL
        table.swept = 0
        return table

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
    """Write the table for its generation and drop older ones, unless a newer generation was
    written meanwhile; atomic by rename, safe with several processes saving at once."""
    if Store.is_dirty(table.generation):
        return
    folder = cache_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / _table_name(table.generation)
    tmp = folder / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with tmp.open("wb") as fh:
            pickle.dump(table, fh, protocol=_PICKLE_PROTOCOL)
        tmp.replace(target)
    except OSError:
        tmp.unlink(missing_ok=True)
        return  # a read-only or full disk costs a rebuild next time, nothing more
    if store.generation() != table.generation:
        return
    for old in folder.iterdir():
        if old != target and _is_stale(old):
            old.unlink(missing_ok=True)


def _table_name(generation: str) -> str:
    return f"table-v{TABLE_VERSION}-{generation}.pkl"


def _is_stale(path: Path) -> bool:
    """True for another generation's table, and for a temp file its writer left behind."""
    if path.name.startswith("table-") and path.suffix == ".pkl":
        return True
    if path.name.startswith(".table-") and path.suffix == ".tmp":
        pid = path.name.split(".")[-3]
        if not pid.isdigit():
            return True
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False
    return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _load_cached(path: Path, generation: str | None) -> ChunkTable | None:
    """Return the table pickled at `path` (of `generation` when given), or None when it is
    missing, truncated, garbage or of another shape: the caller rebuilds it then."""
    try:
        with path.open("rb") as fh:
            table = pickle.load(fh)
    except Exception:  # a damaged cache file can fail in any way unpickling can
        return None
    if not isinstance(table, ChunkTable) or Store.is_dirty(table.generation):
        return None
    if generation is not None and table.generation != generation:
        return None
    return table


def load_table(store: Store) -> ChunkTable:
    """Return the chunk table for the index's current generation, from cache when possible,
    and pin its documents on `store`, so that what a reader quotes is what it ranked.

    While an index run is under way (or after one was killed), return the last clean table:
    the reader keeps the state before the run. Without one, return the chunks stored so far
    whose document record is written and of the same version."""
    table = _current_table(store)
    store.pin(table.documents)
    return table


def _current_table(store: Store) -> ChunkTable:
    generation = store.generation()
    folder = cache_dir(store)
    if not Store.is_dirty(generation):
        cached = _load_cached(folder / _table_name(generation), generation)
        if cached is not None:
            return cached
        table = ChunkTable.from_store(store)
        save_table(table, store)
        if not Store.is_dirty(table.generation):
            return table
        # A run began while the table was read: fall through to the state before it.
    candidates = sorted(folder.glob(f"table-v{TABLE_VERSION}-*.pkl"), key=_mtime, reverse=True)
    last = next((t for p in candidates if (t := _load_cached(p, None)) is not None), None)
    if last is not None:
        last.generation = PARTIAL
        return last
    return ChunkTable.from_store(store).consistent_with_documents()
