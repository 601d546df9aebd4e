"""The Chroma vector store alone at scale: N stored vectors (random unit vectors, not text —
the cost of the store does not depend on what the vectors mean), insert time, then query
latency for hkqa's candidate count (top 50), with the process's peak memory.

    python3 benchmarks/bench_chroma.py --n 1000000 --path DIR [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, peak_rss_mb, summary_ms

DIM = 384
BATCH = 5000


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--candidates", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb
    from chromadb.config import Settings

    shutil.rmtree(args.path, ignore_errors=True)
    client = chromadb.PersistentClient(
        path=str(args.path), settings=Settings(anonymized_telemetry=False)
    )
    col = client.get_or_create_collection(
        "bench", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )
    rng = np.random.default_rng(7)
    load_before = load_average()
    t = time.perf_counter()
    for start in range(0, args.n, BATCH):
        n = min(BATCH, args.n - start)
        col.add(
            ids=[f"c{i}" for i in range(start, start + n)],
            embeddings=unit_vectors(rng, n),
            metadatas=[{"doc_id": f"d{i // 20}"} for i in range(start, start + n)],
        )
    insert_s = time.perf_counter() - t
    queries = unit_vectors(rng, args.queries)
    col.query(query_embeddings=[queries[0].tolist()], n_results=args.candidates)
    times = []
    for q in queries:
        t = time.perf_counter()
        got = col.query(
            query_embeddings=[q.tolist()], n_results=args.candidates, include=["distances"]
        )
        times.append(time.perf_counter() - t)
        assert len(got["ids"][0]) == args.candidates
    print(
        json.dumps(
            {
                "vectors": col.count(),
                "insert_s": round(insert_s, 1),
                "inserts_per_s": round(args.n / insert_s),
                "query_top50_ms": summary_ms(times),
                "peak_rss_mb": peak_rss_mb(),
                "load_average_before": load_before,
                "load_average_after": load_average(),
            }
        )
    )


if __name__ == "__main__":
    main()
