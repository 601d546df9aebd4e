"""Cold start: `hkqa ask` as a fresh process vs the LlamaIndex-by-hand script, alternating.

Both run against the same existing index (the bundled corpus), N runs each, one after the
other in turn; wall time and peak RSS of each whole process. Then the top passages of
`hkqa search --retriever dense --all-duplicates` are compared with the script's node ids.

    python3 benchmarks/bench_cold.py --index DIR [--runs 5]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, load_average, summary_ms

QUESTIONS = [
    "Which firms paused data requests from Hong Kong authorities?",
    "What did Signal say about user data?",
    "Did Zoom change its policy after the national security law?",
    "What did TikTok do in Hong Kong?",
    "Why did Google stop processing requests?",
]


def run_process(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a whole process; return (wall seconds, peak RSS MiB, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, out


RAW_NEIGHBOURS = """
import json, sys
from hkqa.api import Hkqa
h = Hkqa()
q, k = sys.argv[1], int(sys.argv[2])
print(json.dumps([cid for cid, _ in h.store().query(h.embedder.embed_query(q), k)]))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "HKQA_INDEX_DIR": args.index, "HF_HUB_OFFLINE": "1"}
    hkqa = shutil.which("hkqa") or "hkqa"
    script = str(ROOT / "benchmarks" / "llamaindex_by_hand.py")
    walls: dict[str, list[float]] = {"hkqa_ask": [], "llamaindex_by_hand": []}
    rss: dict[str, list[float]] = {"hkqa_ask": [], "llamaindex_by_hand": []}
    load_before = load_average()
    for i in range(args.runs):
        q = QUESTIONS[i % len(QUESTIONS)]
        for name, argv in (
            ("hkqa_ask", [hkqa, "ask", q, "-k", str(args.k)]),
            ("llamaindex_by_hand", [sys.executable, script, args.index, q, "-k", str(args.k)]),
        ):
            wall, peak, _ = run_process(argv, env)
            walls[name].append(wall)
            rss[name].append(peak)
    # Same top passages? hkqa's dense ranking vs the script's nodes, per question.
    overlap = []
    for q in QUESTIONS:
        _, _, out = run_process(
            [
                hkqa,
                "search",
                q,
                "--retriever",
                "dense",
                "--all-duplicates",
                "--json",
                "-k",
                str(args.k),
            ],
            env,
        )
        ours = [p["chunk"]["chunk_id"] for p in json.loads(out)["passages"]]
        _, _, out = run_process([sys.executable, script, args.index, q, "-k", str(args.k)], env)
        theirs = json.loads(out.strip().splitlines()[-1])["ids"]
        _, _, out = run_process([sys.executable, "-c", RAW_NEIGHBOURS, q, str(args.k)], env)
        raw = json.loads(out.strip().splitlines()[-1])
        overlap.append(
            {
                "question": q,
                "k": args.k,
                # hkqa's encoder + store, no query expansion or boosts: must equal the script.
                "raw_neighbours_same_order": raw == theirs,
                # `hkqa search --retriever dense`: firm/heading boosts and alias expansion on top.
                "cli_dense_same_order": ours == theirs,
                "cli_dense_shared": len(set(ours) & set(theirs)),
            }
        )
    hk, li = summary_ms(walls["hkqa_ask"]), summary_ms(walls["llamaindex_by_hand"])
    print(
        json.dumps(
            {
                "runs": args.runs,
                "hkqa_ask_ms": hk,
                "llamaindex_by_hand_ms": li,
                "ratio_p50": round(hk["p50"] / li["p50"], 3),
                "hkqa_rss_mb": round(max(rss["hkqa_ask"]), 1),
                "llamaindex_rss_mb": round(max(rss["llamaindex_by_hand"]), 1),
                "overlap": overlap,
                "load_average_before": load_before,
                "load_average_after": load_average(),
            }
        )
    )


if __name__ == "__main__":
    main()
