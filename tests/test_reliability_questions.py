"""Bad questions through `hkqa search`/`hkqa ask` and the library: a clear message or a
sensible answer (an abstention counts), never a traceback."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hkqa.api import MAX_QUESTION_CHARS, Hkqa
from hkqa.cli import main
from hkqa.errors import QuestionError
from hkqa.types import SearchResult

HAS_ASK = importlib.util.find_spec("hkqa.answer") is not None
LONG = "Which firms paused data requests? " * 3000  # about 100 KB
REFUSED = {
    "empty": ("", "the question is empty"),
    "whitespace": (" \t\n  \r\n", "the question is empty"),
    "controls only": ("\x00\x01\x1b\x7f\u200b", "the question is empty"),
    "100 KB": (LONG, f"the limit is {MAX_QUESTION_CHARS:,}"),
}
ANSWERED = {
    "control characters": "Did \x1b[31mFacebook\x1b[0m\x00 pause\x07 data requests?",
    "Chinese": "臉書有沒有暫停處理香港當局的數據請求？",
    "Arabic": "هل علّقت فيسبوك معالجة طلبات البيانات من سلطات هونغ كونغ؟",
    "emoji": "🙂 did Zoom 🙂 shut accounts? 🙂",
    "punctuation only": "?!?...",
    "shell and SQL": "$(rm -rf /); DROP TABLE chunks; -- --firm x",
    "right-to-left override": "\u202ewho paused requests\u202c",
    "lone surrogate": "Telegram \ud800 data requests",
}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", sorted(REFUSED))
@pytest.mark.parametrize("command", ["search", "ask"])
def test_unusable_question_is_a_message(
    capsys: pytest.CaptureFixture[str], corpus_index: Path, command: str, name: str
) -> None:
    if command == "ask" and not HAS_ASK:
        pytest.skip("hkqa.answer is not there yet")
    question, message = REFUSED[name]
    code, out, err = _run(capsys, command, question, "--index", str(corpus_index))
    assert code == 1 and out == ""
    assert err.startswith("hkqa: error: ") and message in err
    assert "hint: " in err and "Traceback" not in err
    assert len(err) < 500  # the message does not echo a 100 KB question back


@pytest.mark.parametrize("name", sorted(ANSWERED))
def test_odd_question_is_searched(
    capsys: pytest.CaptureFixture[str], corpus_index: Path, name: str
) -> None:
    code, out, err = _run(capsys, "search", ANSWERED[name], "--json", "--index", str(corpus_index))
    assert code == 0, err
    result = SearchResult.model_validate_json(out)
    assert result.passages
    assert all(c.isprintable() for c in result.question)


@pytest.mark.skipif(not HAS_ASK, reason="hkqa.answer is not there yet")
@pytest.mark.parametrize("name", sorted(ANSWERED))
def test_odd_question_is_answered_or_abstained(
    capsys: pytest.CaptureFixture[str], corpus_index: Path, corpus_hkqa: Hkqa, name: str
) -> None:
    code, out, err = _run(capsys, "ask", ANSWERED[name], "--json", "--index", str(corpus_index))
    assert code == 0, err
    answer: dict[str, Any] = json.loads(out)
    assert answer["text"]
    for citation in answer["citations"]:
        doc = corpus_hkqa.document(citation["doc_id"])
        assert doc.text[citation["start"] : citation["end"]] == citation["quote"]


def test_the_library_raises_question_error_not_anything_else(corpus_hkqa: Hkqa) -> None:
    for question, message in REFUSED.values():
        with pytest.raises(QuestionError, match=message.split(";")[0][:20]):
            corpus_hkqa.search(question)
    for bad in (None, b"Facebook data requests", 42):
        with pytest.raises(QuestionError, match="must be text"):
            corpus_hkqa.search(bad)  # type: ignore[arg-type]
    for question in ANSWERED.values():
        assert corpus_hkqa.search(question, k=3).passages


@pytest.mark.slow
def test_real_processes_with_a_100kb_and_a_chinese_question(corpus_index: Path) -> None:
    def hkqa(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hkqa.cli", *argv, "--index", str(corpus_index)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    long = hkqa("search", LONG)
    assert long.returncode == 1 and long.stdout == ""
    assert long.stderr.startswith("hkqa: error: the question is ")
    assert "Traceback" not in long.stderr
    chinese = hkqa("search", ANSWERED["Chinese"], "-k", "2")
    assert chinese.returncode == 0, chinese.stderr
    assert chinese.stdout.startswith("1. [") and "\n2. [" in chinese.stdout
