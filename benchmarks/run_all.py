"""Run every benchmark, each step as a fresh process, and write BENCHMARKS.md from the results.

    python3 benchmarks/run_all.py                 # everything (about an hour on 2 cores)
    python3 benchmarks/run_all.py --steps cold,repl
    python3 benchmarks/run_all.py --report-only   # rewrite BENCHMARKS.md from results/

Each step's JSON lands in benchmarks/results/STEP.json with the command that produced it, so
BENCHMARKS.md only ever shows measured figures. Not part of the pytest run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, machine, run_json

WORK = Path(os.environ.get("HKQA_BENCH_CACHE", "/tmp/hkqa-bench"))
STEPS = (
    "quality",
    "cold",
    "repl",
    "latency_bundled",
    "index_10k",
    "batch",
    "latency_10k",
    "index_100k",
    "latency_100k",
    "chroma_1m",
    "server_bundled",
    "server_10k",
    "server_100k",
)
SIZES = {"10k": 10_000, "100k": 100_000}


def bundled_index() -> Path:
    """The bundled corpus indexed by `hkqa index` (rebuilt each run)."""
    path = WORK / "idx-bundled"
    if not (path / "hkqa-index.json").exists():
        shutil.rmtree(path, ignore_errors=True)
        env = {**os.environ, "HKQA_INDEX_DIR": str(path)}
        subprocess.run(["hkqa", "index", "--quiet"], check=True, env=env, cwd=ROOT)
    return path


def bench(script: str, *args: str) -> tuple[list[str], Any]:
    argv = [f"benchmarks/{script}", *args]
    return argv, run_json(argv)


def step(name: str) -> tuple[list[str], Any]:
    if name == "quality":
        return bench("bench_quality.py", "--work", str(WORK / "quality"))
    if name == "cold":
        return bench("bench_cold.py", "--index", str(bundled_index()), "--runs", "7")
    if name == "repl":
        return bench("bench_repl.py", "--index", str(bundled_index()), "--runs", "5")
    if name == "latency_bundled":
        return bench("bench_latency.py", "--index", str(bundled_index()), "--n", "201")
    if name.startswith("index_"):
        size = name.split("_")[1]
        articles = WORK / f"corpus-{size}"
        subprocess.run(
            [
                sys.executable,
                "benchmarks/corpus.py",
                "--chunks",
                str(SIZES[size]),
                "--out",
                str(articles),
            ],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        extra = ["--no-raw"] if size == "100k" else []
        return bench(
            "bench_index.py",
            "--articles",
            str(articles),
            "--index",
            str(WORK / f"idx-{size}"),
            *extra,
        )
    if name == "batch":
        return bench("bench_batch.py", "--articles", str(WORK / "corpus-10k"))
    if name.startswith("latency_"):
        size = name.split("_")[1]
        return bench(
            "bench_latency.py",
            "--index",
            str(WORK / f"idx-{size}"),
            "--questions-from",
            str(WORK / f"corpus-{size}"),
            "--n",
            "200",
        )
    if name == "chroma_1m":
        return bench("bench_chroma.py", "--n", "1000000", "--path", str(WORK / "chroma-1m"))
    if name.startswith("server_"):
        return server_step(name.split("_")[1])
    raise SystemExit(f"unknown step {name}")


def server_step(size: str) -> tuple[list[str], Any]:
    """The warm-latency benchmark against `chroma run` serving a copy of the same index."""
    sys.path.insert(0, str(ROOT))
    from tests.chroma_server import ChromaServer

    source = bundled_index() if size == "bundled" else WORK / f"idx-{size}"
    data = WORK / f"server-{size}"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(source / "chroma", data / "chroma")
    cache = WORK / f"server-{size}-cache"
    shutil.rmtree(cache, ignore_errors=True)
    server = ChromaServer(data / "chroma").start()
    try:
        questions = [] if size == "bundled" else ["--questions-from", str(WORK / f"corpus-{size}")]
        return bench(
            "bench_latency.py",
            "--index",
            str(cache),
            "--chroma-url",
            server.url,
            *questions,
            "--n",
            "200" if size != "bundled" else "201",
        )
    finally:
        server.stop()


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        (RESULTS / "machine.json").write_text(json.dumps(machine(), indent=2))
        for name in [s.strip() for s in args.steps.split(",") if s.strip()]:
            print(f"== {name}", file=sys.stderr, flush=True)
            started = time.perf_counter()
            argv, result = step(name)
            record = {
                "command": "python3 " + " ".join(argv),
                "ran_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "step_seconds": round(time.perf_counter() - started, 1),
                "result": result,
            }
            (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2))
            print(json.dumps(result)[:400], file=sys.stderr, flush=True)
    from report import write_report

    write_report(ROOT / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
