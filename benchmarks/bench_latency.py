"""Warm latency of retrieval (`Hkqa.search`, hybrid) and of a full extractive answer
(`Hkqa.ask(mode="extractive")`) over many questions, with the process's peak memory.

    python3 benchmarks/bench_latency.py --index DIR [--chroma-url URL] \
        [--questions gold | --questions-from ARTICLES_DIR] [--n 200] [--no-ask]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, peak_rss_mb, questions_from, summary_ms


def gold_questions() -> list[str]:
    from hkqa.evaluate import bundled_gold_path

    lines = Path(bundled_gold_path()).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", required=True)
    parser.add_argument("--chroma-url")
    parser.add_argument("--questions-from", type=Path, help="articles to draw questions from")
    parser.add_argument("--n", type=int, default=200, help="questions asked (cycled)")
    parser.add_argument("--no-ask", action="store_true", help="retrieval only")
    args = parser.parse_args()

    from hkqa.api import Hkqa
    from hkqa.config import Settings

    started = time.perf_counter()
    settings = Settings(index_dir=Path(args.index), chroma_url=args.chroma_url)
    h = Hkqa(settings)
    questions = questions_from(args.questions_from, args.n) if args.questions_from else None
    questions = questions or gold_questions()
    # Warm: the chunk table, the encoder and the store are loaded once, as in the REPL.
    h.search(questions[0])
    if not args.no_ask:
        h.ask(questions[0], mode="extractive")
    warm_s = time.perf_counter() - started
    chunks = len(h.table().ids)

    search_s: list[float] = []
    ask_s: list[float] = []
    parts: dict[str, list[float]] = {}
    for i in range(args.n):
        q = questions[i % len(questions)]
        t = time.perf_counter()
        result = h.search(q)
        search_s.append(time.perf_counter() - t)
        for key, value in result.timings_ms.items():
            parts.setdefault(key, []).append(value)
        if not args.no_ask:
            t = time.perf_counter()
            h.ask(q, mode="extractive")
            ask_s.append(time.perf_counter() - t)
    # Questions naming a firm also take the firm-boost path of the ranking and, when answered,
    # gather every chunk naming the firm as evidence.
    firm_s: list[float] = []
    firm_ask_s: list[float] = []
    for i in range(min(args.n, 50)):
        q = f"What did Google say: {questions[i % len(questions)]}"
        t = time.perf_counter()
        h.search(q)
        firm_s.append(time.perf_counter() - t)
        if not args.no_ask:
            t = time.perf_counter()
            h.ask(q, mode="extractive")
            firm_ask_s.append(time.perf_counter() - t)
    out = {
        "chunks": chunks,
        "search_naming_a_firm_ms": summary_ms(firm_s),
        "ask_naming_a_firm_ms": summary_ms(firm_ask_s) if firm_ask_s else None,
        "server": bool(args.chroma_url),
        "questions": len(set(questions)),
        "load_and_warm_s": round(warm_s, 2),
        "search_ms": summary_ms(search_s),
        "ask_extractive_ms": summary_ms(ask_s) if ask_s else None,
        "search_parts_p50_ms": {k: round(statistics.median(v), 2) for k, v in parts.items()},
        "peak_rss_mb": peak_rss_mb(),
        "load_average": load_average(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
