"""The Chroma side of hkqa: chunk vectors and whole documents, embedded or on a server.

Two collections hold everything, so an embedded index and a `chroma run` server behave the
same: `{name}_chunks` (one record per chunk, its embedding, offsets and filters) and
`{name}_docs` (one record per document: original text and metadata; the record is written
last, so it marks the document as completely indexed). Chunks are written through
llama-index's `ChromaVectorStore`; queries go to the collection directly, which keeps
llama-index out of the query path's start-up time.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from hkqa.config import Settings
from hkqa.errors import (
    DocumentNotFoundError,
    IndexCorruptError,
    IndexNotFoundError,
    StoreConnectionError,
)
from hkqa.types import Chunk, Document

FORMAT_VERSION = 1
MARKER = "hkqa-index.json"
_CHROMA_DIR = "chroma"
_BATCH = 1000
_GENERATION = "hkqa_generation"
_DIRTY = "dirty"
_DOC_FIELDS = ("title", "date", "date_day", "outlet", "source")


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def connect(settings: Settings) -> Any:
    """Return a Chroma client: a server's when `chroma_url` is set, else the embedded one
    under `index_dir`, checking that the directory is an hkqa index and not something else."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb

    if settings.chroma_url:
        return _connect_server(settings.chroma_url, settings.request_timeout)
    index_dir = Path(settings.index_dir)
    check_index_dir(index_dir)
    return chromadb.PersistentClient(path=str(index_dir / _CHROMA_DIR), settings=_chroma_settings())


def _connect_server(url: str, timeout: float) -> Any:
    import chromadb
    import httpx

    parsed = urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        from hkqa.errors import ConfigError

        raise ConfigError(f"--chroma-url {url!r} is not an http(s) URL like http://127.0.0.1:8000")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    base = f"{parsed.scheme}://{parsed.hostname}:{port}"
    # Ask the server directly first: the client's own retries take far longer to give up.
    try:
        httpx.get(f"{base}/api/v2/heartbeat", timeout=timeout).raise_for_status()
    except httpx.HTTPError as exc:
        raise StoreConnectionError(
            f"cannot reach the Chroma server at {base}: {exc}",
            hint=f"start one with `chroma run --path DIR --port {port}`, or drop --chroma-url "
            "to use the embedded index",
        ) from exc
    try:
        return chromadb.HttpClient(
            host=parsed.hostname,
            port=port,
            ssl=parsed.scheme == "https",
            settings=_chroma_settings(),
        )
    except Exception as exc:  # the client raises bare exceptions for connection trouble
        raise StoreConnectionError(f"cannot connect to the Chroma server at {base}: {exc}") from exc


def check_index_dir(index_dir: Path) -> None:
    """Refuse a directory that holds something other than an hkqa index (never overwrite it)."""
    if not index_dir.exists():
        return
    if not index_dir.is_dir():
        raise IndexCorruptError(
            f"index path {index_dir} is a file, not a directory",
            hint="point --index / HKQA_INDEX_DIR at a directory",
        )
    marker = index_dir / MARKER
    if marker.exists():
        try:
            info = json.loads(marker.read_text())
            version = info["format"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(
                f"the index marker {marker} is unreadable ({exc})",
                hint=f"rebuild: remove {index_dir} and run `hkqa index`",
            ) from exc
        if version != FORMAT_VERSION:
            raise IndexCorruptError(
                f"the index in {index_dir} has format {version}, this hkqa reads {FORMAT_VERSION}",
                hint=f"rebuild: remove {index_dir} and run `hkqa index`",
            )
        if not (index_dir / _CHROMA_DIR).is_dir():
            raise IndexCorruptError(
                f"the index in {index_dir} has lost its {_CHROMA_DIR}/ directory",
                hint=f"rebuild: remove {index_dir} and run `hkqa index`",
            )
        return
    foreign = [
        p.name
        for p in index_dir.iterdir()
        if not p.name.startswith(".") and p.name not in ("README.md", "cache", "baseline", "models")
    ]
    if foreign:
        raise IndexCorruptError(
            f"{index_dir} is not an hkqa index (it holds {', '.join(sorted(foreign)[:5])})",
            hint="choose an empty or new directory with --index, or remove what is there",
        )


def write_marker(index_dir: Path, embed_model: str, dim: int) -> None:
    """Mark `index_dir` as an hkqa index of this format and embedding model."""
    index_dir.mkdir(parents=True, exist_ok=True)
    marker = index_dir / MARKER
    if not marker.exists():
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"format": FORMAT_VERSION, "embed_model": embed_model, "dim": dim})
        )
        tmp.replace(marker)


def _chunk_metadata(chunk: Chunk, doc: Document) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "doc_id": doc.doc_id,
        "doc_hash": doc.content_hash,
        "start": chunk.start,
        "end": chunk.end,
        "context_start": chunk.context_start,
        "context_end": chunk.context_end,
        "position": chunk.position,
        "dup_group": chunk.dup_group,
        "dup_docs": "",
        "firms": chunk.firms or [""],
    }
    if doc.date_day is not None:
        meta["date_day"] = doc.date_day
    if doc.outlet:
        meta["outlet"] = doc.outlet
    return meta


def chunk_from_record(cid: str, text: str, meta: dict[str, Any]) -> Chunk:
    """Rebuild a `Chunk` from what the chunks collection stores for it."""
    return Chunk(
        chunk_id=cid,
        doc_id=meta["doc_id"],
        text=text,
        start=meta["start"],
        end=meta["end"],
        context_start=meta["context_start"],
        context_end=meta["context_end"],
        position=meta["position"],
        firms=[f for f in meta.get("firms") or [] if f],
        dup_group=meta.get("dup_group") or cid,
    )


class Store:
    """hkqa's two collections on one Chroma client, with the reads and writes indexing and
    retrieval need."""

    def __init__(self, settings: Settings, *, create: bool = False) -> None:
        self.settings = settings
        self.client = connect(settings)
        self.chunks_name = f"{settings.collection}_chunks"
        self.docs_name = f"{settings.collection}_docs"
        try:
            if create:
                self.chunks = self.client.get_or_create_collection(
                    self.chunks_name,
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=None,
                )
                self.docs = self.client.get_or_create_collection(
                    self.docs_name,
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=None,
                )
            else:
                self.chunks = self.client.get_collection(self.chunks_name, embedding_function=None)
                self.docs = self.client.get_collection(self.docs_name, embedding_function=None)
        except Exception as exc:
            if create:
                raise StoreConnectionError(f"cannot open the index collections: {exc}") from exc
            where = settings.chroma_url or str(settings.index_dir)
            raise IndexNotFoundError(
                f"no hkqa index in {where}",
                hint="build it with `hkqa index` (add --index/--chroma-url to match)",
            ) from exc

    # -- documents -------------------------------------------------------------------------

    def doc_hashes(self) -> dict[str, str]:
        """Return {doc_id: content_hash} of every completely indexed document."""
        got = self.docs.get(include=["metadatas"])
        return {i: m["content_hash"] for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    def document(self, doc_id: str) -> Document:
        """Return a stored document with its original text."""
        docs = self.documents([doc_id])
        if doc_id not in docs:
            raise DocumentNotFoundError(
                f"no document {doc_id!r} in the index", hint="list them with `hkqa docs`"
            )
        return docs[doc_id]

    def documents(self, doc_ids: Iterable[str] | None = None) -> dict[str, Document]:
        """Return stored documents by id (all of them when `doc_ids` is None)."""
        ids = None if doc_ids is None else sorted(set(doc_ids))
        if ids == []:
            return {}
        got = self.docs.get(ids=ids, include=["documents", "metadatas"])
        out = {}
        for did, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
            fields = {k: meta.get(k) for k in _DOC_FIELDS if meta.get(k) not in (None, "")}
            firms = [f for f in meta.get("firms") or [] if f]
            out[did] = Document(
                doc_id=did, text=text, firms=firms, content_hash=meta["content_hash"], **fields
            )
        return out

    def put_document(self, doc: Document, embedding: np.ndarray) -> None:
        """Write a document's record: the last step of indexing it."""
        meta: dict[str, Any] = {
            k: getattr(doc, k) for k in _DOC_FIELDS if getattr(doc, k) is not None
        }
        meta["content_hash"] = doc.content_hash
        meta["firms"] = doc.firms or [""]
        self.docs.upsert(
            ids=[doc.doc_id],
            embeddings=[embedding.tolist()],
            documents=[doc.text],
            metadatas=[meta],
        )

    def delete_document(self, doc_id: str) -> int:
        """Remove a document and its chunks; return how many chunks went."""
        ids = self.chunk_ids(doc_id)
        self.delete_chunks(ids)
        self.docs.delete(ids=[doc_id])
        return len(ids)

    # -- chunks ----------------------------------------------------------------------------

    def chunk_ids(self, doc_id: str | None = None) -> list[str]:
        """Return the ids of a document's chunks (of all chunks when `doc_id` is None)."""
        where = {"doc_id": doc_id} if doc_id is not None else None
        return list(self.chunks.get(where=where, include=[])["ids"])

    def add_chunks(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> int:
        """Write a document's chunks: new ones through llama-index's ChromaVectorStore, ones
        already stored (same content hash) only get the document's new metadata; return how
        many were new."""
        from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode
        from llama_index.vector_stores.chroma import ChromaVectorStore

        existing = set(self.chunks.get(ids=[c.chunk_id for c in chunks], include=[])["ids"])
        kept = [c for c in chunks if c.chunk_id in existing]
        for i in range(0, len(kept), _BATCH):
            page = kept[i : i + _BATCH]
            self.chunks.update(
                ids=[c.chunk_id for c in page], metadatas=[_chunk_metadata(c, doc) for c in page]
            )
        nodes: list[BaseNode] = [
            TextNode(
                id_=c.chunk_id,
                text=c.text,
                embedding=vectors[i].tolist(),
                metadata=_chunk_metadata(c, doc),
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc.doc_id)},
            )
            for i, c in enumerate(chunks)
            if c.chunk_id not in existing
        ]
        if nodes:
            vector_store = ChromaVectorStore(chroma_collection=self.chunks)
            vector_store.flat_metadata = False  # firm lists; Chroma stores them natively
            vector_store.add(nodes)
        return len(nodes)

    def delete_chunks(self, ids: Sequence[str]) -> None:
        """Delete chunks by id, in batches."""
        for i in range(0, len(ids), _BATCH):
            self.chunks.delete(ids=list(ids[i : i + _BATCH]))

    def iter_chunk_records(
        self, *, with_embeddings: bool = False
    ) -> Iterable[tuple[list[str], list[str], list[dict[str, Any]], Any]]:
        """Yield (ids, texts, metadatas, embeddings) pages of every stored chunk."""
        include = ["documents", "metadatas"] + (["embeddings"] if with_embeddings else [])
        offset = 0
        while True:
            got = self.chunks.get(include=include, limit=_BATCH * 5, offset=offset)
            if not got["ids"]:
                return
            yield got["ids"], got["documents"], got["metadatas"], got.get("embeddings")
            offset += len(got["ids"])

    def set_groups(self, updates: dict[str, tuple[str, str]]) -> None:
        """Record near-duplicate groups: {chunk_id: (dup_group, dup_docs)}."""
        items = list(updates.items())
        for i in range(0, len(items), _BATCH):
            page = items[i : i + _BATCH]
            self.chunks.update(
                ids=[cid for cid, _ in page],
                metadatas=[{"dup_group": g, "dup_docs": d} for _, (g, d) in page],
            )

    def query(
        self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """Return up to `n` (chunk_id, cosine similarity) nearest to `vector`, best first."""
        count = self.chunks.count()
        if count == 0:
            return []
        got = self.chunks.query(
            query_embeddings=[vector.tolist()],
            n_results=min(n, count),
            where=where,
            include=["distances"],
        )
        return [
            (cid, 1.0 - float(d)) for cid, d in zip(got["ids"][0], got["distances"][0], strict=True)
        ]

    # -- generation: which state readers' caches belong to ----------------------------------

    def generation(self) -> str:
        """Return the token of the last completed index run ('dirty' while one is under way)."""
        fresh = self.client.get_collection(self.docs_name, embedding_function=None)
        return str((fresh.metadata or {}).get(_GENERATION, ""))

    def _set_generation(self, token: str) -> None:
        fresh = self.client.get_collection(self.docs_name, embedding_function=None)
        meta = dict(fresh.metadata or {})
        meta[_GENERATION] = token
        self.docs.modify(metadata=meta)

    def mark_dirty(self) -> None:
        """Record that a write is under way, so readers do not trust their caches."""
        self._set_generation(_DIRTY)

    def mark_clean(self) -> str:
        """Record a completed write under a fresh token, and return it."""
        token = secrets.token_hex(8)
        self._set_generation(token)
        return token

    @staticmethod
    def is_dirty(generation: str) -> bool:
        """True when `generation` says a write was under way (or never finished)."""
        return generation in ("", _DIRTY)
