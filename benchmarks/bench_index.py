"""Indexing throughput: `Hkqa.index` of a folder of articles vs the raw encoders on exactly
the chunk texts hkqa embeds, in the same process, one after the other.

The raw figures are the encoding alone (model already loaded): sentence-transformers'
`SentenceTransformer.encode(texts)` at its default batch size of 32 — what a by-hand pipeline
runs (benchmarks/bench_batch.py times other sizes) — and hkqa's own numpy encoder at its
default batch size. The hkqa figure is the whole `Hkqa.index` call into a fresh
index: reading, chunking, firm tagging, encoding, Chroma writes, near-duplicate grouping and
the reader cache.

    python3 benchmarks/bench_index.py --articles DIR --index NEW_DIR [--no-raw]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, peak_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--no-raw", action="store_true", help="hkqa only (large corpora)")
    parser.add_argument("--batch-size", type=int, help="hkqa's (default: its encoder's own)")
    parser.add_argument("--st-batch-size", type=int, default=32, help="sentence-transformers'")
    args = parser.parse_args()

    from hkqa.api import Hkqa
    from hkqa.config import Settings
    from hkqa.embed import load_embedder, resolve_model_path
    from hkqa.indexing import prepare_chunks
    from hkqa.ingest import load_documents

    out: dict[str, object] = {"load_average_before": load_average()}
    embedder = load_embedder()
    h = Hkqa(Settings(index_dir=args.index, embed_batch_size=args.batch_size), embedder=embedder)
    files = sorted(args.articles.glob("*.txt"))
    t = time.perf_counter()
    docs = load_documents(files, lexicon=h.lexicon, max_bytes=h.settings.max_file_bytes).documents
    texts = [c.text for d in docs for c in prepare_chunks(d, h.lexicon)]
    out["read_and_chunk_s"] = round(time.perf_counter() - t, 2)
    out["batch_sizes"] = {
        "hkqa": args.batch_size or embedder.batch_size,
        "sentence_transformers": args.st_batch_size,
    }
    out["documents"] = len(docs)
    out["chunk_texts"] = len(texts)
    out["chars"] = sum(len(x) for x in texts)

    if not args.no_raw:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2"), device="cpu")
        st.encode(texts[:64], batch_size=64)
        embedder.embed(texts[:64])
        t = time.perf_counter()
        st.encode(texts, batch_size=args.st_batch_size, convert_to_numpy=True)
        out["raw_sentence_transformers_s"] = round(time.perf_counter() - t, 2)

    shutil.rmtree(args.index, ignore_errors=True)
    t = time.perf_counter()
    report = h.index([args.articles])
    hkqa_s = time.perf_counter() - t
    out["hkqa_index_s"] = round(hkqa_s, 2)
    out["hkqa_chunks_in_index"] = report.chunks
    out["hkqa_chunks_per_s"] = round(report.chunks_added / hkqa_s, 1)
    out["hkqa_phases_s"] = {k: round(v, 2) for k, v in report.phases.items()}

    if not args.no_raw:
        t = time.perf_counter()
        embedder.embed(texts, batch_size=args.batch_size)
        out["raw_hkqa_encoder_s"] = round(time.perf_counter() - t, 2)
        raw_st = float(out["raw_sentence_transformers_s"])  # type: ignore[arg-type]
        raw_np = float(out["raw_hkqa_encoder_s"])  # type: ignore[arg-type]
        out["ratio_hkqa_index_to_raw_st"] = round(hkqa_s / raw_st, 3)
        out["ratio_hkqa_index_to_raw_hkqa_encoder"] = round(hkqa_s / raw_np, 3)
    out["peak_rss_mb"] = peak_rss_mb()
    out["load_average_after"] = load_average()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
