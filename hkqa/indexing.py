"""Indexing: documents in, chunks and vectors into Chroma — idempotent, incremental, crash-safe.

Order of writes, so a run killed at any point is finished by the next one:
0. a new index directory gets an empty chroma/ and its marker before Chroma writes anything
   (`Store(create=True)`), and the run refuses an index of another embedding model;
1. the run marks the index dirty;
2. per batch of changed documents: their new chunks are added (ids are content hashes, so
   re-adding is a no-op), their earlier versions' chunks are deleted, then their records are
   written — a record's content hash is what says its document is done;
3. with `sync`, documents no longer given are removed;
4. chunks whose document record is missing or carries another hash are swept away;
5. near-duplicate groups are recomputed over all chunks, and the reader cache rebuilt;
6. the run marks the index clean under a fresh generation token.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hkqa.chunking import chunk_document
from hkqa.config import Settings
from hkqa.dedup import near_duplicate_groups
from hkqa.embed import Embedder, embed_in_windows
from hkqa.errors import IndexLockedError
from hkqa.firms import FirmLexicon
from hkqa.ingest import Skipped
from hkqa.store import Store, write_marker
from hkqa.table import ChunkTable, save_table
from hkqa.types import Chunk, Document

LOCK_NAME = ".hkqa-index.lock"
WRITE_BATCH = 2048
"""Chunks written to Chroma in one go: one write per many small documents costs less."""


class IndexReport(BaseModel):
    """What an index run did, and what it could not read."""

    model_config = ConfigDict(extra="forbid")

    added: list[str] = Field(
        default_factory=list, description="Documents indexed for the first time."
    )
    updated: list[str] = Field(default_factory=list, description="Documents whose text changed.")
    unchanged: list[str] = Field(default_factory=list, description="Documents already indexed.")
    removed: list[str] = Field(default_factory=list, description="Documents removed by --sync.")
    skipped: list[Skipped] = Field(default_factory=list, description="Files not indexed, and why.")
    chunks_added: int = Field(default=0, description="Chunks embedded and written.")
    chunks_removed: int = Field(default=0, description="Stale or orphaned chunks deleted.")
    documents: int = Field(default=0, description="Documents in the index after the run.")
    chunks: int = Field(default=0, description="Chunks in the index after the run.")
    seconds: float = Field(default=0.0, description="Wall time of the run.")
    phases: dict[str, float] = Field(
        default_factory=dict,
        description="Seconds spent encoding chunks, writing them to Chroma, and refreshing "
        "(sweep, near-duplicate groups, reader cache).",
    )


@contextmanager
def index_lock(settings: Settings) -> Iterator[None]:
    """Hold the writer lock of an index for the duration, waiting `lock_timeout` seconds for
    another indexer to finish before failing with a clear error."""
    from filelock import FileLock, Timeout

    index_dir = Path(settings.index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(
            f"another hkqa index is writing to {index_dir}; waiting up to "
            f"{settings.lock_timeout:g}s for it to finish...",
            file=sys.stderr,
        )
        try:
            lock.acquire(timeout=settings.lock_timeout)
        except Timeout as exc:
            raise IndexLockedError(
                f"another hkqa index is still writing to {index_dir}",
                hint="wait for it to finish (searches keep working meanwhile), or raise "
                "HKQA_LOCK_TIMEOUT",
            ) from exc
    try:
        yield
    finally:
        lock.release()


def prepare_chunks(doc: Document, lexicon: FirmLexicon) -> list[Chunk]:
    """Return a document's chunks with the firms each one names."""
    chunks = chunk_document(doc)
    for chunk in chunks:
        chunk.firms = lexicon.firms_in(chunk.text)
    return chunks


def index_documents(
    documents: Sequence[Document],
    *,
    store: Store,
    embedder: Embedder,
    lexicon: FirmLexicon,
    sync: bool = False,
    progress: bool = False,
    batch_size: int | None = None,
) -> IndexReport:
    """Bring the index in line with `documents`; return what changed. Call it under
    `index_lock`."""
    started = time.perf_counter()
    report = IndexReport()
    settings = store.settings
    store.check_embedder(embedder.name, embedder.dim, record=True)
    if not settings.chroma_url:
        write_marker(Path(settings.index_dir), embedder.name, embedder.dim)
    stored = store.doc_hashes()
    todo = []
    for doc in documents:
        if stored.get(doc.doc_id) == doc.content_hash:
            report.unchanged.append(doc.doc_id)
        else:
            todo.append(doc)
            (report.updated if doc.doc_id in stored else report.added).append(doc.doc_id)
    given = {d.doc_id for d in documents}
    gone = sorted(set(stored) - given) if sync else []
    if not todo and not gone and not store.is_dirty(store.generation()):
        report.documents = len(stored)
        report.chunks = store.chunks.count()
        report.seconds = time.perf_counter() - started
        return report

    store.mark_dirty()
    prepared = [(doc, prepare_chunks(doc, lexicon)) for doc in todo]
    total = sum(len(chunks) for _, chunks in prepared)
    bar = _progress_bar(total, progress)
    try:
        # Many documents' chunks are encoded together: length-sorted batches pad little.
        encoded = embed_in_windows(
            embedder,
            [[c.text for c in chunks] for _, chunks in prepared],
            batch_size=batch_size,
            progress=bar.update,
        )
        pending: list[tuple[Document, list[Chunk], np.ndarray]] = []
        pending_chunks = 0
        report.phases["write"] = 0.0
        started_encoding = time.perf_counter()
        for (doc, chunks), vectors in zip(prepared, encoded, strict=True):
            pending.append((doc, chunks, vectors))
            pending_chunks += len(chunks)
            if pending_chunks >= WRITE_BATCH:
                _write(store, pending, stored, report, embedder.dim)
                pending, pending_chunks = [], 0
        _write(store, pending, stored, report, embedder.dim)
        report.phases["encode"] = _since(started_encoding) - report.phases["write"]
    finally:
        bar.close()
    t = time.perf_counter()
    for doc_id in gone:
        report.chunks_removed += store.delete_document(doc_id)
        report.removed.append(doc_id)
    report.phases["write"] += _since(t)

    t = time.perf_counter()
    table = refresh(store)
    report.phases["refresh"] = _since(t)
    report.chunks_removed += table.swept
    report.documents = len(store.doc_hashes())
    report.chunks = len(table.ids)
    report.seconds = time.perf_counter() - started
    return report


def refresh(store: Store) -> ChunkTable:
    """Sweep orphaned chunks, recompute near-duplicate groups, mark the index clean and write
    the reader cache for the new generation; return the fresh table."""
    hashes = store.doc_hashes()
    table = ChunkTable.from_store(store)
    orphans = [
        cid
        for cid, meta in zip(table.ids, table.metas, strict=True)
        if hashes.get(meta["doc_id"]) != meta.get("doc_hash")
    ]
    if orphans:
        store.delete_chunks(orphans)
        table = ChunkTable.from_store(store)
    groups = near_duplicate_groups(zip(table.ids, table.doc_ids, table.texts, strict=True))
    docs_of: dict[str, set[str]] = {}
    for cid, doc_id in zip(table.ids, table.doc_ids, strict=True):
        docs_of.setdefault(groups[cid], set()).add(doc_id)
    updates = {}
    for row, cid in enumerate(table.ids):
        group = groups[cid]
        dup_docs = "|".join(sorted(docs_of[group])) if len(docs_of[group]) > 1 else ""
        meta = table.metas[row]
        if meta.get("dup_group") != group or meta.get("dup_docs", "") != dup_docs:
            updates[cid] = (group, dup_docs)
            meta["dup_group"], meta["dup_docs"] = group, dup_docs
    store.set_groups(updates)
    table.generation = store.mark_clean()
    table.swept = len(orphans)
    save_table(table, store)
    return table


def _write(
    store: Store,
    items: Sequence[tuple[Document, list[Chunk], np.ndarray]],
    stored: dict[str, str],
    report: IndexReport,
    dim: int,
) -> None:
    """Write some documents: their chunks, then their earlier versions' chunks deleted, then
    their records — so a record always means its chunks are in. Adds the time taken to
    `report.phases["write"]`."""
    if not items:
        return
    started = time.perf_counter()
    report.chunks_added += store.add_chunks(items)
    for doc, chunks, _ in items:
        if doc.doc_id in stored:  # an earlier version's chunks; a killed run's are swept later
            keep = {c.chunk_id for c in chunks}
            stale = [cid for cid in store.chunk_ids(doc.doc_id) if cid not in keep]
            store.delete_chunks(stale)
            report.chunks_removed += len(stale)
    store.put_documents([(doc, _document_vector(vectors, dim)) for doc, _, vectors in items])
    report.phases["write"] += _since(started)


def _since(t: float) -> float:
    return time.perf_counter() - t


def _document_vector(vectors: np.ndarray, dim: int) -> np.ndarray:
    if len(vectors) == 0:
        return np.zeros(dim, dtype=np.float32)
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, show: bool) -> _NoBar:
    if not show or total == 0:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="embedding", unit="chunk", file=sys.stderr)
