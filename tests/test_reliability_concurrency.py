"""Two terminals on one index: indexers take turns or fail fast with a hint, never corrupt it
or hang, and readers keep answering from a consistent state while an index run writes."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hkqa.api import Hkqa
from hkqa.config import Settings
from hkqa.indexing import LOCK_NAME
from hkqa.types import Passage, SearchResult
from scripts.crash_trials import capture_state, write_corpus

pytestmark = pytest.mark.slow

QUESTIONS = [
    "Which firms paused data requests from Hong Kong authorities?",
    "What did Zoom say about the law?",
    "Did Telegram hand over data?",
]


def _hkqa(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hkqa.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _lock_held(index_dir: Path) -> bool:
    path = index_dir / LOCK_NAME
    if not path.exists():
        return False
    with path.open("a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


def _consistent(passage: Passage) -> bool:
    """True when the passage's context (from the stored document) holds its chunk text at
    the chunk's offsets: chunk and document come from the same version."""
    c = passage.chunk
    if passage.context is None:
        return False
    offset = c.start - c.context_start
    return passage.context[offset : offset + len(c.text)] == c.text


@pytest.fixture()
def indexed(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    write_corpus(corpus, articles=40, seed=5, version=1)
    index_dir = tmp_path / "idx"
    Hkqa(Settings(index_dir=index_dir)).index([corpus], sync=True)
    write_corpus(corpus, articles=40, seed=5, version=2)
    return corpus, index_dir


def test_two_indexers_take_turns_or_fail_fast_and_readers_keep_working(
    indexed: tuple[Path, Path],
) -> None:
    corpus, index_dir = indexed
    argv = ["index", str(corpus), "--sync", "--index", str(index_dir), "--quiet"]
    first = _hkqa(*argv)
    deadline = time.monotonic() + 120
    while not _lock_held(index_dir):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first indexer never took the lock"
        time.sleep(0.05)
    impatient = _hkqa(*argv, env={"HKQA_LOCK_TIMEOUT": "0.5"})
    patient = _hkqa(*argv, env={"HKQA_LOCK_TIMEOUT": "300"})

    # Readers meanwhile: an in-process Hkqa and `hkqa search` processes.
    reader = Hkqa(Settings(index_dir=index_dir))
    seen: list[SearchResult] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for q in QUESTIONS:
                try:
                    seen.append(reader.search(q, k=5))
                except BaseException as exc:  # any error is a failure to report
                    errors.append(exc)
                    return

    thread = threading.Thread(target=read)
    thread.start()
    searches = []
    try:
        while first.poll() is None and len(searches) < 6:
            proc = _hkqa("search", QUESTIONS[0], "--json", "--index", str(index_dir))
            out, err = proc.communicate(timeout=120)
            searches.append((proc.returncode, out, err))
        out, err = impatient.communicate(timeout=60)
        assert impatient.returncode == 1, err
        assert "waiting up to 0.5s" in err
        assert "hkqa: error: another hkqa index is still writing to" in err
        assert "hint: wait for it to finish" in err and "Traceback" not in err
        out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        out, err = patient.communicate(timeout=300)
        assert patient.returncode == 0, err
        assert "another hkqa index is writing to" in err and "waiting up to 300s" in err
        assert "0 changed" in out and "0 removed" in out
    finally:
        stop.set()
        thread.join(120)
        for proc in (first, impatient, patient):
            if proc.poll() is None:
                proc.kill()
    assert not thread.is_alive(), "a reader hung"
    assert not errors, errors
    assert searches and all(code == 0 for code, _, _ in searches), searches
    results = seen + [SearchResult.model_validate_json(out) for _, out, _ in searches]
    assert len(seen) >= 3
    broken = [p for r in results for p in r.passages if not _consistent(p)]
    assert not broken, [(p.chunk.doc_id, p.chunk.text[:40]) for p in broken]
    state = capture_state(index_dir)
    assert state["problems"] == []
    assert {d for d in state["docs"] if d.startswith("gen_")} == {
        p.stem for p in corpus.glob("gen_*.txt")
    }
