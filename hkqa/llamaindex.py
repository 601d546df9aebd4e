"""hkqa's hybrid retrieval as a llama-index `BaseRetriever`, for query engines and evaluators.

from hkqa.llamaindex import HkqaRetriever
from llama_index.core.query_engine import RetrieverQueryEngine
engine = RetrieverQueryEngine.from_args(HkqaRetriever(Hkqa()), llm=my_llm)
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, TextNode

from hkqa.api import Hkqa
from hkqa.types import Passage


def passage_node(passage: Passage) -> NodeWithScore:
    """Return a passage as a llama-index node: chunk text, offsets and provenance metadata."""
    from llama_index.core.schema import RelatedNodeInfo

    c = passage.chunk
    node = TextNode(
        id_=c.chunk_id,
        text=c.text,
        start_char_idx=c.start,
        end_char_idx=c.end,
        metadata={
            "doc_id": c.doc_id,
            "title": passage.title,
            "outlet": passage.outlet,
            "date": passage.date,
            "firms": c.firms,
            "also_reported_by": passage.also_reported_by,
        },
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=c.doc_id)},
    )
    return NodeWithScore(node=node, score=passage.score)


class HkqaRetriever(BaseRetriever):
    """Hybrid BM25 + dense retrieval with filters and near-duplicate collapsing."""

    def __init__(self, hkqa: Hkqa, **search_kwargs: Any) -> None:
        """`search_kwargs` are passed to `Hkqa.search` (k, firm, since, until, outlet, ...)."""
        super().__init__()
        self._hkqa = hkqa
        self._search_kwargs = search_kwargs

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self._hkqa.search(query_bundle.query_str, **self._search_kwargs)
        return [passage_node(p) for p in result.passages]
