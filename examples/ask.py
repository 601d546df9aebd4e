"""Ask hkqa two questions about the bundled corpus and print the answers with their sources.

Indexes the bundled articles into the directory given as the first argument (a temporary one
when none is given), then asks with the library API. Without an LLM configured the answers are
extractive: verbatim quotes, each with the offsets that prove it.

    python examples/ask.py [INDEX_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# Models load from the installed packages only; set before anything imports huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hkqa.api import Hkqa
from hkqa.config import Settings
from hkqa.types import Answer

QUESTIONS = [
    "Which companies paused processing Hong Kong government requests for user data?",
    "What did Microsoft say about requests from Hong Kong authorities?",
]


def show(answer: Answer) -> None:
    """Print one answer, then each source with where its quote stands in the document."""
    print(f"Q: {answer.question}")
    print(f"   ({answer.mode}, {answer.backend}, {answer.timings_ms.get('total_ms', 0):.0f} ms)")
    print(answer.text)
    if answer.abstained:
        print("Closest passages:")
        for passage in answer.passages[:3]:
            print(f"  - {passage.chunk.doc_id}: {passage.chunk.text[:100]}")
    for citation in answer.citations:
        source = citation.outlet or citation.title or citation.doc_id
        where = f"{citation.doc_id}, chars {citation.start}-{citation.end}"
        if citation.also_reported_by:
            where += f"; also {', '.join(citation.also_reported_by)}"
        print(f"  [{citation.n}] {source} ({where})")
    print()


def main(index_dir: Path) -> int:
    """Index the bundled corpus into `index_dir`, ask the questions and print; return 0."""
    hkqa = Hkqa(Settings(index_dir=index_dir))
    report = hkqa.index()
    print(f"indexed {report.documents} documents ({report.chunks} chunks) in {index_dir}\n")
    for question in QUESTIONS:
        show(hkqa.ask(question))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory(prefix="hkqa-example-") as tmp:
        sys.exit(main(Path(tmp)))
