"""The `hkqa` command: output, JSON contract, exit codes, and errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hkqa.cli import EXIT_SKIPPED, main
from hkqa.types import SearchResult


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_prints_ranked_passages_with_provenance(
    capsys: pytest.CaptureFixture[str], corpus_index: Path
) -> None:
    code, out, _ = run(
        capsys,
        "search",
        "Which firms complied with Beijing?",
        "-k",
        "2",
        "--index",
        str(corpus_index),
    )
    assert code == 0
    assert out.startswith("1. [")
    assert "\n2. [" in out and "\n3. [" not in out
    assert "outlet: " in out and "date: " in out and "chars " in out


def test_search_json_is_the_pydantic_model(
    capsys: pytest.CaptureFixture[str], corpus_index: Path
) -> None:
    code, out, _ = run(
        capsys,
        "search",
        "Signal user data",
        "--json",
        "--firm",
        "Signal",
        "--index",
        str(corpus_index),
    )
    assert code == 0
    result = SearchResult.model_validate_json(out)
    assert result.passages and all("Signal" in p.chunk.firms for p in result.passages)


def test_index_reports_skipped_files_and_exit_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Zoom paused the processing of Hong Kong data requests.\n")
    (docs / "b.txt").write_bytes(b"\x00\xff" * 10)
    idx = str(tmp_path / "idx")
    code, out, err = run(capsys, "index", str(docs), "--index", idx, "--quiet")
    assert code == EXIT_SKIPPED
    assert "indexed 1 new" in out
    assert f"skipped {docs / 'b.txt'}: " in err
    (docs / "b.txt").unlink()
    code, out, _ = run(capsys, "index", str(docs), "--index", idx, "--json")
    assert code == 0 and json.loads(out)["unchanged"] == ["a"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "  "], "the question is empty"),
        (["search", "x", "--since", "yesterday"], "is not a date"),
        (["search", "x", "--firm", "Nobody Corp"], "unknown firm"),
        (["search", "x", "-k", "0"], "k must be between"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str], corpus_index: Path, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv, "--index", str(corpus_index))
    assert code == 1 and out == ""
    assert err.startswith("hkqa: error: ") and message in err
    assert "Traceback" not in err


def test_missing_index_names_the_fix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "search", "data", "--index", str(tmp_path / "nothing"))
    assert code == 1 and "hkqa index" in err


def test_docs_lists_the_indexed_documents(
    capsys: pytest.CaptureFixture[str], corpus_index: Path
) -> None:
    code, out, _ = run(capsys, "docs", "--json", "--index", str(corpus_index))
    docs = json.loads(out)
    assert code == 0 and len(docs) == 5
    assert {"doc_id", "title", "date", "outlet", "firms"} <= set(docs[0])


def test_console_script_runs_as_a_process(corpus_index: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hkqa.cli",
            "search",
            "Telegram",
            "-k",
            "1",
            "--index",
            str(corpus_index),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1. [") and "Telegram" in proc.stdout
    assert "Loading weights" not in proc.stderr


def test_eval_json_and_report_side_by_side(
    capsys: pytest.CaptureFixture[str], corpus_index: Path, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "eval", "--json", "--index", str(corpus_index))
    assert code == 0
    report = json.loads(out)
    assert {"n", "retrieval", "answer", "citations", "abstention", "latency_ms", "failures"} <= set(
        report
    )
    assert set(report["retrieval"]) == {"hit@1", "hit@3", "hit@5", "mrr"}
    assert report["citations"]["verbatim_rate"] == 1.0
    code, out, _ = run(
        capsys, "eval", "--retriever", "hybrid,llamaindex-default", "--report",
        str(tmp_path / "rep"), "--index", str(corpus_index),
    )
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| ") and "/" in line]
    assert len(rows) == 2 and "llamaindex-default" in rows[1]
    assert (tmp_path / "rep" / "eval_report.md").exists()
    assert (tmp_path / "rep" / "eval_comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
