"""Quality does not move: `hkqa eval --json` (hybrid, extractive) with the numpy encoder (the
default now) vs the sentence-transformers encoder hkqa used before, each over its own fresh
index of the bundled corpus, in one run. Latency fields are dropped before comparing.

    python3 benchmarks/bench_quality.py --work DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT


def strip_latency(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if "latency" not in k and "seconds" not in k}


def with_sentence_transformers(index_dir: Path) -> dict[str, Any]:
    """The pre-change pipeline: sentence-transformers encodes the chunks and the questions."""
    from hkqa.api import Hkqa
    from hkqa.config import Settings
    from hkqa.embed import SentenceTransformerEmbedder
    from hkqa.evaluate import bundled_gold_path, load_gold, report_json, run_eval

    h = Hkqa(Settings(index_dir=index_dir), embedder=SentenceTransformerEmbedder())
    h.index()
    report = run_eval(
        load_gold(bundled_gold_path()), hkqa=h, mode="extractive", retriever="hybrid", k=5
    )
    return json.loads(report_json(report))


def with_cli(index_dir: Path) -> dict[str, Any]:
    """`hkqa index` then `hkqa eval --json`, as a user runs them (numpy encoder by default)."""
    env = {**os.environ, "HKQA_INDEX_DIR": str(index_dir)}
    subprocess.run(["hkqa", "index", "--quiet"], check=True, env=env, cwd=ROOT, capture_output=True)
    proc = subprocess.run(
        ["hkqa", "eval", "--json", "--mode", "extractive", "--retriever", "hybrid"],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    before = with_sentence_transformers(args.work / "st")
    after = with_cli(args.work / "numpy")
    a, b = strip_latency(before), strip_latency(after)
    print(
        json.dumps(
            {
                "equal": a == b,
                "sentence_transformers": before,
                "numpy_encoder_cli": after,
                "differing_keys": sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)),
            }
        )
    )


if __name__ == "__main__":
    main()
