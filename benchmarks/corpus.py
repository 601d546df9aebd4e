"""Write a scaled corpus: at least N chunks of real English text as .txt articles in a folder.

Articles are the English docstring paragraphs of the installed Python stdlib and packages, one
article per module, taken in a stable order from a pool built once (cached) and reused.

    python3 benchmarks/corpus.py --chunks 10000 --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_articles

POOL = Path(os.environ.get("HKQA_BENCH_CACHE", "/tmp/hkqa-bench")) / "pool"
POOL_CHARS = 20_000_000


def pool() -> Path:
    """Return the cached pool of articles, building it the first time (minutes)."""
    if not (POOL / ".done").exists():
        shutil.rmtree(POOL, ignore_errors=True)
        info = write_articles(POOL, POOL_CHARS)
        (POOL / ".done").write_text(json.dumps(info))
    return POOL


def make_corpus(chunks: int, out: Path) -> dict[str, int]:
    """Link the first pool articles into `out` until hkqa chunks them into at least `chunks`."""
    from hkqa.chunking import chunk_document
    from hkqa.config import Settings
    from hkqa.errors import IngestError
    from hkqa.firms import FirmLexicon
    from hkqa.ingest import read_document

    lexicon = FirmLexicon.load()
    max_bytes = Settings().max_file_bytes
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    chars = n = total = 0
    for path in sorted(pool().glob("*.txt")):
        if total >= chunks:
            break
        try:
            doc = read_document(path, lexicon=lexicon, max_bytes=max_bytes)
        except IngestError:
            continue  # hkqa skips it (NUL bytes, too large): not an article
        (out / path.name).symlink_to(path)
        chars += path.stat().st_size
        total += len(chunk_document(doc))
        n += 1
    return {"articles": n, "chars": chars, "chunks": total}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(make_corpus(args.chunks, args.out)))


if __name__ == "__main__":
    main()
