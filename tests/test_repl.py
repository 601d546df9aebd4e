"""The REPL, tested by transcript: lines in, exact lines out."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest

from hkqa.api import Hkqa
from hkqa.cli import format_answer
from hkqa.repl import PROMPT, run_repl


def feeder(lines: list[str]) -> Callable[[str], str]:
    it: Iterator[str] = iter(lines)

    def read(prompt: str) -> str:
        assert prompt == PROMPT
        try:
            line = next(it)
        except StopIteration:
            raise EOFError from None
        if line == "<ctrl-c>":
            raise KeyboardInterrupt
        return line

    return read


def transcript(h: Hkqa, lines: list[str]) -> list[str]:
    out = io.StringIO()
    assert run_repl(h, read_line=feeder(lines), out=out, warm=False) == 0
    return out.getvalue().splitlines()


def test_commands_set_state_and_report_it(corpus_hkqa: Hkqa) -> None:
    lines = transcript(
        corpus_hkqa,
        [
            ":k 3",
            ":k zero",
            ":firm whatsapp",
            ":firm Nobody",
            ":since 2020-07-01",
            ":since soon",
            ":until off",
            ":mode extractive",
            ":mode poetic",
            ":sources",
            ":json",
            ":nope",
            "<ctrl-c>",
            ":quit",
            "never read",
        ],
    )
    assert lines[1:] == [
        "k = 3",
        "usage: :k N (a whole number from 1 to 100)",
        "firm = WhatsApp",
        "unknown firm 'Nobody'",
        "since = 2020-07-01",
        "since 'soon' is not a date\nhint: write it as YYYY-MM-DD".splitlines()[0],
        "hint: write it as YYYY-MM-DD",
        "until = off",
        "mode = extractive",
        "usage: :mode auto|extractive|llm",
        "no answer yet",
        "no answer yet",
        "unknown command :nope (try :help)",
        "bye",
    ]


def test_question_prints_the_answer_and_sources(corpus_hkqa: Hkqa) -> None:
    question = "Which firms gave in to Beijing's demands in the past?"
    lines = transcript(corpus_hkqa, [":k 4", question, ":sources"])
    expected = format_answer(corpus_hkqa.ask(question, k=4)).splitlines()
    start = lines.index(expected[0])
    assert lines[start : start + len(expected)] == expected
    sources = lines[start + len(expected) :]
    assert sources[0] in ("Sources:", "Closest passages (they do not answer the question):")
    assert sources[-1] == "bye"


def test_errors_are_reported_and_the_loop_goes_on(corpus_hkqa: Hkqa) -> None:
    lines = transcript(corpus_hkqa, ["x" * 5000, ":k 2"])
    assert lines[1].startswith("error: the question is 5,000 characters long")
    assert "k = 2" in lines


def test_end_of_input_exits_cleanly(corpus_hkqa: Hkqa) -> None:
    assert transcript(corpus_hkqa, [])[-1] == "bye"


def test_real_prompt_session_reads_piped_keys(corpus_hkqa: Hkqa) -> None:
    pytest.importorskip("prompt_toolkit")
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    out = io.StringIO()
    with create_pipe_input() as pipe:
        session: PromptSession[str] = PromptSession(input=pipe, output=DummyOutput())
        pipe.send_text(":k 7\r:mode extractive\r")
        pipe.send_text("\x04")  # Ctrl-D
        code = run_repl(corpus_hkqa, read_line=lambda p: session.prompt(p), out=out, warm=False)
    assert code == 0
    assert out.getvalue().splitlines()[1:] == ["k = 7", "mode = extractive", "bye"]
