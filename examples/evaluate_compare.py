"""Compare hkqa's retrievers with a LlamaIndex pipeline built by hand, on the bundled gold file.

Runs hybrid, dense and bm25 (extractive answers) and the llamaindex-default baseline through
the library API, prints the comparison table and writes a markdown report and a bar chart to
./reports (or the directory given as the first argument).

    python examples/evaluate_compare.py [OUT_DIR]

State goes where HKQA_INDEX_DIR points (default ./index), like the CLI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Models load from the installed packages only; set before anything imports huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hkqa.api import Hkqa
from hkqa.evaluate import EvalRetriever, bundled_gold_path, load_gold, run_eval
from hkqa.report import format_counts, format_table, write_report

CONFIGURATIONS: list[EvalRetriever] = ["hybrid", "dense", "bm25", "llamaindex-default"]


def main(out_dir: Path) -> int:
    """Evaluates every configuration, prints the table and writes the report; returns 0."""
    hkqa = Hkqa()
    hkqa.index()  # the bundled corpus; unchanged documents are not re-indexed
    gold = bundled_gold_path()
    n = len(load_gold(gold))
    documents = hkqa.documents()
    reports = []
    for retriever in CONFIGURATIONS:
        print(f"evaluating {retriever} on {n} questions ...", file=sys.stderr)
        reports.append(
            run_eval(gold, hkqa=hkqa, mode="extractive", retriever=retriever, documents=documents)
        )
    print(format_table(reports))
    print()
    print(format_counts(reports))
    for path in write_report(reports, out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("reports")))
