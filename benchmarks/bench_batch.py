"""Encoding time by batch size: hkqa's numpy encoder and sentence-transformers on the same chunk
texts, in one process, sizes and encoders alternating, each the fastest of `--repeats` rounds —
what `NumpyBertEmbedder.batch_size` is chosen from.

    python3 benchmarks/bench_batch.py --articles DIR [--chunks 1500] [--sizes 8,16,32,64]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=Path, required=True)
    parser.add_argument("--chunks", type=int, default=1500, help="chunk texts encoded")
    parser.add_argument("--sizes", default="8,16,32,64")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    from hkqa.config import Settings
    from hkqa.embed import load_embedder, resolve_model_path
    from hkqa.firms import FirmLexicon
    from hkqa.indexing import prepare_chunks
    from hkqa.ingest import load_documents

    lexicon = FirmLexicon.load()
    files = sorted(args.articles.glob("*.txt"))
    docs = load_documents(files, lexicon=lexicon, max_bytes=Settings().max_file_bytes).documents
    texts = [c.text for d in docs for c in prepare_chunks(d, lexicon)][: args.chunks]
    numpy_encoder = load_embedder()
    st = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2"), device="cpu")
    numpy_encoder.embed(texts[:64])
    st.encode(texts[:64])
    sizes = [int(s) for s in args.sizes.split(",")]
    out: dict[str, object] = {
        "chunks": len(texts),
        "repeats": args.repeats,
        "load_average_before": load_average(),
    }
    numpy_s: dict[int, float] = {}
    st_s: dict[int, float] = {}
    for _ in range(args.repeats):
        for size in sizes:
            t = time.perf_counter()
            numpy_encoder.embed(texts, batch_size=size)
            numpy_s[size] = round(min(numpy_s.get(size, 1e9), time.perf_counter() - t), 2)
            t = time.perf_counter()
            st.encode(texts, batch_size=size, convert_to_numpy=True)
            st_s[size] = round(min(st_s.get(size, 1e9), time.perf_counter() - t), 2)
    out["numpy_encoder_s"] = numpy_s
    out["sentence_transformers_s"] = st_s
    out["load_average_after"] = load_average()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
