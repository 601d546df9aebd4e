"""Shared helpers of the benchmarks: the machine's description, timing, memory and a scaled
corpus of real English text (the docstrings of the installed Python stdlib and packages)."""

from __future__ import annotations

import ast
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_WORDS = re.compile(r"[A-Za-z]{2,}")
_SENTENCE_END = re.compile(r"[.!?]\s")


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) of `values`, linearly interpolated."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """Return p50, p95, mean, min and max of durations given in seconds, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 2),
        "p95": round(percentile(ms, 95), 2),
        "mean": round(statistics.fmean(ms), 2),
        "min": round(min(ms), 2),
        "max": round(max(ms), 2),
    }


def peak_rss_mb() -> float:
    """Return this process's peak resident memory so far, in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_average() -> str:
    """Return the 1/5/15-minute load averages: how busy the machine was during a run."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, Any]:
    """Return the description of this machine and the package versions that matter."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    packages = {}
    for name in (
        "numpy",
        "tokenizers",
        "torch",
        "sentence-transformers",
        "transformers",
        "chromadb",
        "llama-index-core",
        "llama-index-vector-stores-chroma",
        "llama-index-embeddings-huggingface",
        "threadpoolctl",
    ):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "free_h": free.strip(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }


def run_json(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 7200) -> Any:
    """Run a benchmark step as a fresh process and return the JSON it prints last."""
    proc = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Return (fn's result, its wall time in seconds)."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


# -- a scaled corpus of real English text ------------------------------------------------------


def _english(paragraph: str) -> bool:
    words = paragraph.split()
    if len(words) < 8 or not _SENTENCE_END.search(paragraph + " "):
        return False
    letters = sum(len(w) for w in _WORDS.findall(paragraph))
    code = sum(paragraph.count(c) for c in "=(){}[]<>_/\\|`*#$@")
    return letters >= 0.7 * len(paragraph.replace(" ", "")) and code <= len(words) / 4


def _docstrings(path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError):
        return
    for node in ast.walk(tree):
        if isinstance(
            node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        ) and (doc := ast.get_docstring(node)):
            yield doc


def source_files() -> list[Path]:
    """Return the .py files of the stdlib and site-packages, in a stable order."""
    roots = {Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])}
    files: list[Path] = []
    for root in sorted(roots):
        files.extend(sorted(p for p in root.rglob("*.py") if "test" not in p.parts[-2:][0]))
    return files


def write_articles(folder: Path, target_chars: int) -> dict[str, Any]:
    """Write articles (one per source module: its English docstring paragraphs) as .txt files
    into `folder` until about `target_chars` characters are written; return counts."""
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    written = chars = files = 0
    for path in source_files():
        paragraphs = []
        for doc in _docstrings(path):
            for para in re.split(r"\n\s*\n", doc):
                para = " ".join(para.split())
                if _english(para) and para not in seen:
                    seen.add(para)
                    paragraphs.append(para)
        files += 1
        if len(paragraphs) < 3:
            continue
        text = "\n\n".join(paragraphs) + "\n"
        name = re.sub(r"[^A-Za-z0-9]+", "_", "_".join(path.parts[-3:]))[:120]
        (folder / f"{written:05d}_{name}.txt").write_text(text, encoding="utf-8")
        written += 1
        chars += len(text)
        if chars >= target_chars:
            break
    return {"articles": written, "chars": chars, "source_files_read": files}


def questions_from(folder: Path, n: int, seed: int = 7) -> list[str]:
    """Return `n` questions drawn from the articles' sentences (their first words, turned
    into a question), so that every question has an answer in the corpus."""
    import random

    rng = random.Random(seed)
    files = sorted(folder.glob("*.txt"))
    out: list[str] = []
    while len(out) < n:
        text = rng.choice(files).read_text(encoding="utf-8")
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if 6 <= len(s.split()) <= 40]
        if sentences:
            words = rng.choice(sentences).rstrip(".!?").split()
            out.append("What does it mean that " + " ".join(words[: rng.randint(6, 12)]) + "?")
    return out
