"""Time from starting `hkqa repl` to its prompt on a terminal (a pty), N fresh processes.

python3 benchmarks/bench_repl.py --index DIR [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, summary_ms


def main() -> None:
    import pexpect

    parser = argparse.ArgumentParser()
    parser.add_argument("--index", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "HKQA_INDEX_DIR": args.index, "TERM": "xterm"}
    exe = shutil.which("hkqa") or "hkqa"
    to_prompt, to_answer = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        child = pexpect.spawn(exe, ["repl"], env=env, encoding="utf-8", timeout=60)
        child.expect_exact("hkqa>")
        to_prompt.append(time.perf_counter() - started)
        t = time.perf_counter()
        child.sendline("Which firms paused data requests?")
        child.expect_exact("Sources")
        child.expect_exact("hkqa>")
        to_answer.append(time.perf_counter() - t)
        child.sendline(":quit")
        child.expect(pexpect.EOF)
        child.close()
    print(
        json.dumps(
            {
                "start_to_prompt_ms": summary_ms(to_prompt),
                "first_answer_ms": summary_ms(to_answer),
                "load_average": load_average(),
            }
        )
    )


if __name__ == "__main__":
    main()
