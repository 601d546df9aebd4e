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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np

from hkqa.config import Settings
from hkqa.errors import (
    ConfigError,
    DocumentNotFoundError,
    IndexCorruptError,
    IndexNotFoundError,
    StoreConnectionError,
)
from hkqa.types import Chunk, Document

FORMAT_VERSION = 1
MARKER = "hkqa-index.json"
_CHROMA_DIR = "chroma"
_SQLITE = "chroma.sqlite3"
_BATCH = 1000
_T = TypeVar("_T")
_GENERATION = "hkqa_generation"
_EMBED_MODEL = "hkqa_embed_model"
_EMBED_DIM = "hkqa_embed_dim"
_DIRTY = "dirty"
# The label of a reader's table made while a write was under way: never a generation the
# index reports, so a reader holding one reloads on its next question.
PARTIAL = "partial"
_DOC_FIELDS = ("title", "date", "date_day", "outlet", "source")
_OPTIONAL_CHUNK_FIELDS: dict[str, Any] = {"date_day": None, "outlet": None}


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def connect(settings: Settings, *, fresh: bool = False) -> Any:
    """Return a Chroma client: a server's when `chroma_url` is set, else the embedded one
    under `index_dir`, checking that the directory is an hkqa index and not something else;
    with `fresh`, one that reads the directory anew rather than this process's cached copy."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb

    if settings.chroma_url:
        return _connect_server(settings.chroma_url, settings.request_timeout)
    index_dir = Path(settings.index_dir)
    check_index_dir(index_dir)
    path = index_dir / _CHROMA_DIR
    key = str(path)
    identity = _file_identity(path / _SQLITE)
    if fresh or _opened.get(key, identity) != identity:
        _forget_system(key)
    try:
        client = chromadb.PersistentClient(path=key, settings=_chroma_settings())
    except Exception as exc:  # Chroma raises its own internal errors for a damaged database
        _forget_system(key)
        raise _damaged(index_dir, exc) from exc
    _opened.setdefault(key, _file_identity(path / _SQLITE))
    return client


def _damaged(index_dir: Path, exc: Exception) -> IndexCorruptError:
    return IndexCorruptError(
        f"cannot open the index in {index_dir}: {exc}",
        hint=f"if it is damaged, rebuild it: remove {index_dir} and run `hkqa index` "
        "(else check the directory's permissions and free space)",
    )


# Chroma keeps one client system per directory for the life of the process, with the vector
# index in memory. Two things make that copy wrong:
# - the directory was deleted and built anew: the system still writes to the deleted files
#   and fails with "attempt to write a readonly database" (Chroma issue 6499), so the
#   database file each path was opened on is remembered, and a changed file drops the system;
# - another process wrote to the index: the in-memory vectors do not know its writes (queries
#   miss new chunks and return deleted ones, reading vectors fails with "Error finding id"),
#   so each system's generation is remembered, and a store that sees a newer one reopens.
_opened: dict[str, tuple[int, int] | None] = {}
_synced: dict[str, str] = {}


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _forget_system(key: str) -> None:
    """Make the next client for directory `key` a new Chroma system. The old one is left
    running for the clients that still hold it (each reopens when it sees the change)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    _opened.pop(key, None)
    _synced.pop(key, None)
    SharedSystemClient._identifier_to_system.pop(key, None)
    SharedSystemClient._identifier_to_refcount.pop(key, None)


def _connect_server(url: str, timeout: float) -> Any:
    import chromadb
    import httpx

    parsed = urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
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
        if not p.name.startswith(".")
        and p.name not in ("README.md", "cache", "baseline", "models")
        # An empty chroma/ is what a first run killed before writing the marker leaves.
        and not (p.name == _CHROMA_DIR and p.is_dir() and not any(p.iterdir()))
    ]
    if foreign:
        raise IndexCorruptError(
            f"{index_dir} is not an hkqa index (it holds {', '.join(sorted(foreign)[:5])})",
            hint="choose an empty or new directory with --index, or remove what is there",
        )


def prepare_index_dir(index_dir: Path, embed_model: str) -> None:
    """Make `index_dir` an hkqa index before Chroma writes anything into it, in an order a
    run killed at any point leaves recognisable: chroma/ (empty), then the marker."""
    check_index_dir(index_dir)
    (index_dir / _CHROMA_DIR).mkdir(parents=True, exist_ok=True)
    write_marker(index_dir, embed_model)


def read_marker(index_dir: Path) -> dict[str, Any]:
    """Return what the marker of `index_dir` records ({} when there is none)."""
    try:
        info = json.loads((index_dir / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def write_marker(index_dir: Path, embed_model: str, dim: int | None = None) -> None:
    """Mark `index_dir` as an hkqa index of this format and embedding model (adding the
    dimension once it is known); atomic by rename."""
    index_dir.mkdir(parents=True, exist_ok=True)
    marker = index_dir / MARKER
    info = read_marker(index_dir) if marker.exists() else {}
    if info.get("dim") is not None or (info and dim is None):
        return
    info = {"format": FORMAT_VERSION, "embed_model": embed_model, "dim": dim}
    tmp = index_dir / f".{MARKER}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(info))
    tmp.replace(marker)


def same_model(a: str, b: str) -> bool:
    """True when two embedding model names or paths name the same model."""
    return _canonical_model(a) == _canonical_model(b)


def _canonical_model(name: str) -> str:
    from hkqa.config import BUNDLED_EMBED_MODEL

    if name in (BUNDLED_EMBED_MODEL, f"sentence-transformers/{BUNDLED_EMBED_MODEL}", "bundled"):
        return BUNDLED_EMBED_MODEL
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def _pages(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """Yield `items` in runs of at most _BATCH: what one Chroma call is given."""
    for i in range(0, len(items), _BATCH):
        yield items[i : i + _BATCH]


def _doc_metadata(doc: Document) -> dict[str, Any]:
    meta: dict[str, Any] = {k: getattr(doc, k) for k in _DOC_FIELDS}
    meta["content_hash"] = doc.content_hash
    meta["firms"] = doc.firms or [""]
    return meta


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
        self._pinned: dict[str, Document] | None = None
        self.chunks_name = f"{settings.collection}_chunks"
        self.docs_name = f"{settings.collection}_docs"
        self._key = ""  # the embedded directory; "" on a server
        if not settings.chroma_url:
            self._key = str(Path(settings.index_dir) / _CHROMA_DIR)
        # A writer reads the directory anew: this process's cached copy may predate a run
        # of another process, and writing through it would work from stale vectors.
        self._connect(create, fresh=create)
        # The generation this client's copy of the index reflects; None: what it reads now.
        self._seen: str | None = _synced.get(self._key)
        self._index_meta()

    def _open(self, create: bool) -> None:
        settings = self.settings
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
            from chromadb.errors import NotFoundError

            where = settings.chroma_url or str(settings.index_dir)
            if isinstance(exc, NotFoundError) and not create:
                raise IndexNotFoundError(
                    f"no hkqa index in {where}",
                    hint="build it with `hkqa index` (add --index/--chroma-url to match)",
                ) from exc
            if settings.chroma_url:
                raise StoreConnectionError(
                    f"cannot open the index collections at {where}: {exc}"
                ) from exc
            raise _damaged(Path(settings.index_dir), exc) from exc

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
        """Return documents by id (all of them when `doc_ids` is None): those of the reader's
        snapshot when one is pinned, else the stored records."""
        if self._pinned is not None:
            pinned = self._pinned
            wanted = sorted(pinned) if doc_ids is None else sorted(set(doc_ids))
            return {d: pinned[d] for d in wanted if d in pinned}
        return self.stored_documents(doc_ids)

    def pin(self, documents: dict[str, Document] | None) -> None:
        """Serve `documents` (the snapshot a reader's chunk table was built with) instead of
        the stored records, so that the chunks and texts a reader sees stay of one version
        while an index run rewrites them; None serves the stored records again."""
        self._pinned = documents

    def stored_documents(self, doc_ids: Iterable[str] | None = None) -> dict[str, Document]:
        """Return the stored document records by id (all of them when `doc_ids` is None)."""
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

    def put_documents(self, items: Sequence[tuple[Document, np.ndarray]]) -> None:
        """Write documents' records, each (document, its vector): the last step of indexing
        them, after their chunks."""
        for page in _pages(items):
            # Upsert merges metadata: None removes a field the new version no longer has.
            self.docs.upsert(
                ids=[doc.doc_id for doc, _ in page],
                embeddings=[vector.tolist() for _, vector in page],
                documents=[doc.text for doc, _ in page],
                metadatas=[_doc_metadata(doc) for doc, _ in page],
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

    def add_chunks(self, items: Sequence[tuple[Document, Sequence[Chunk], np.ndarray]]) -> int:
        """Write the chunks of one or more documents, each (document, its chunks, their vectors):
        new ones through llama-index's ChromaVectorStore in one write, ones already stored
        (same content hash) only get their document's new metadata; return how many were new."""
        from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode
        from llama_index.vector_stores.chroma import ChromaVectorStore

        wanted = [c.chunk_id for _, chunks, _ in items for c in chunks]
        existing: set[str] = set()
        for ids in _pages(wanted):
            existing.update(self.chunks.get(ids=list(ids), include=[])["ids"])
        kept = [(c, doc) for doc, chunks, _ in items for c in chunks if c.chunk_id in existing]
        for page in _pages(kept):
            # Update merges metadata: None removes a field the new version no longer has.
            self.chunks.update(
                ids=[c.chunk_id for c, _ in page],
                metadatas=[_OPTIONAL_CHUNK_FIELDS | _chunk_metadata(c, doc) for c, doc in page],
            )
        nodes: list[BaseNode] = [
            TextNode(
                id_=c.chunk_id,
                text=c.text,
                embedding=vectors[i].tolist(),
                metadata=_chunk_metadata(c, doc),
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc.doc_id)},
            )
            for doc, chunks, vectors in items
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
        for page in _pages(ids):
            self.chunks.delete(ids=list(page))

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
        for page in _pages(items):
            self.chunks.update(
                ids=[cid for cid, _ in page],
                metadatas=[{"dup_group": g, "dup_docs": d} for _, (g, d) in page],
            )

    def query(
        self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """Return up to `n` (chunk_id, cosine similarity) nearest to `vector`, best first."""
        built_name, built_dim = self._built_model()
        if built_dim is not None and built_dim != len(vector):
            raise self._model_mismatch(
                built_name, built_dim, self.settings.embed_model, len(vector)
            )
        # Chroma returns fewer than `n` when it holds fewer (none when empty): no count first.
        got = self.chunks.query(
            query_embeddings=[vector.tolist()],
            n_results=n,
            where=where,
            include=["distances"],
        )
        return [
            (cid, 1.0 - float(d)) for cid, d in zip(got["ids"][0], got["distances"][0], strict=True)
        ]

    # -- generation: which state readers' caches belong to ----------------------------------

    def generation(self) -> str:
        """Return the token of the last completed index run ('dirty' while one is under way)."""
        return str(self._index_meta().get(_GENERATION, ""))

    def _index_meta(self) -> dict[str, Any]:
        """Return the docs collection's metadata as stored now, reopening the index first
        when its directory was deleted and built anew since this store opened it."""
        if self._key and self._identity != _file_identity(Path(self._key) / _SQLITE):
            # The directory was deleted (and maybe built anew) since this store opened it.
            self._reopen(fresh=False)
        meta = self._read_index_meta()
        if self._key:
            generation = str(meta.get(_GENERATION, ""))
            if self._seen is None:
                self._seen = _synced[self._key] = generation
            elif generation != self._seen and not self.is_dirty(generation):
                # Another process (or another client) finished a run since this client
                # loaded the index: read it anew.
                self._reopen(fresh=_synced.get(self._key) != generation)
                self._seen = _synced[self._key] = generation
                meta = self._read_index_meta()
        return meta

    def _reopen(self, *, fresh: bool = True) -> None:
        self._connect(False, fresh=fresh)

    def _connect(self, create: bool, *, fresh: bool) -> None:
        settings = self.settings
        if not settings.chroma_url:
            index_dir = Path(settings.index_dir)
            if create:
                prepare_index_dir(index_dir, settings.embed_model)
            else:
                check_index_dir(index_dir)
                database = index_dir / _CHROMA_DIR / _SQLITE
                if not database.is_file() or database.stat().st_size == 0:
                    # A reader never creates a database (nor races a first build making one).
                    raise IndexNotFoundError(
                        f"no hkqa index in {index_dir}",
                        hint="build it with `hkqa index` (add --index/--chroma-url to match)",
                    )
        self.client = connect(settings, fresh=fresh)
        self._open(create)
        self._identity = _file_identity(Path(self._key) / _SQLITE) if self._key else None

    def _read_index_meta(self) -> dict[str, Any]:
        try:
            fresh = self.client.get_collection(self.docs_name, embedding_function=None)
        except Exception as exc:
            if self.settings.chroma_url:
                raise StoreConnectionError(
                    f"the Chroma server at {self.settings.chroma_url} stopped answering: {exc}",
                    hint="check that `chroma run` is still up",
                ) from exc
            raise IndexNotFoundError(
                f"the index in {self.settings.index_dir} went away: {exc}",
                hint="rebuild it with `hkqa index`",
            ) from exc
        return dict(fresh.metadata or {})

    def _set_index_meta(self, **values: Any) -> None:
        meta = self._index_meta()
        meta.update(values)
        self.docs.modify(metadata=meta)

    def _set_generation(self, token: str) -> None:
        self._set_index_meta(**{_GENERATION: token})

    # -- the embedding model the vectors come from ------------------------------------------

    def embed_model(self) -> tuple[str | None, int | None]:
        """Return (name, dimension) of the embedding model the index was built with, when
        recorded (in the collection, or for older embedded indexes in the marker)."""
        meta = self._index_meta()
        name, dim = meta.get(_EMBED_MODEL), meta.get(_EMBED_DIM)
        if name is None and not self.settings.chroma_url:
            info = read_marker(Path(self.settings.index_dir))
            if info.get("dim"):  # else only the model asked for when the index was begun
                name, dim = info.get("embed_model"), info.get("dim")
        return (str(name) if name else None), (int(dim) if dim else None)

    def check_embedder(self, name: str, dim: int, *, record: bool = False) -> None:
        """Raise ConfigError when the index was built with another embedding model than
        `name` (`dim` dimensions); with `record`, note the model in an index that has none."""
        built_name, built_dim = self.embed_model()
        if built_name is None and built_dim is None:
            if record:
                self._set_index_meta(**{_EMBED_MODEL: name, _EMBED_DIM: dim})
            return
        if built_dim not in (None, dim) or not same_model(built_name or name, name):
            raise self._model_mismatch(built_name, built_dim, name, dim)
        if record and self._index_meta().get(_EMBED_MODEL) is None:
            self._set_index_meta(**{_EMBED_MODEL: built_name or name, _EMBED_DIM: dim})

    def _model_mismatch(
        self, built_name: str | None, built_dim: int | None, name: str, dim: int
    ) -> ConfigError:
        where = self.settings.chroma_url or str(self.settings.index_dir)
        built = f"{built_name or 'an unrecorded model'!r}" + (
            f" ({built_dim} dimensions)" if built_dim else ""
        )
        if self.settings.chroma_url:
            rebuild = f"use a new --collection and run `hkqa index --embed-model {name}`"
        else:
            rebuild = f"remove {where} and run `hkqa index --embed-model {name}`"
        return ConfigError(
            f"the index in {where} was built with the embedding model {built}, "
            f"not {name!r} ({dim} dimensions)",
            hint=f"use --embed-model {built_name} (or HKQA_EMBED_MODEL) to read it, or "
            f"rebuild it for {name!r}: {rebuild}",
        )

    def mark_dirty(self) -> None:
        """Record that a write is under way, so readers do not trust their caches."""
        self._set_generation(_DIRTY)

    def mark_clean(self) -> str:
        """Record a completed write under a fresh token, and return it."""
        token = secrets.token_hex(8)
        self._set_generation(token)
        if self._key:
            self._seen = _synced[self._key] = token
        return token

    def _built_model(self) -> tuple[str | None, int | None]:
        if not hasattr(self, "_built"):
            self._built = self.embed_model()
        return self._built

    @staticmethod
    def is_dirty(generation: str) -> bool:
        """True when `generation` says a write was under way (or never finished), or labels
        a reader's table made while one was."""
        return generation in ("", _DIRTY, PARTIAL)
