"""A user's folder full of junk, indexed end to end through the `hkqa index` command.

Every bad file is reported by path with its reason, the good ones are indexed, and the exit
status says whether anything was skipped (3) or not (0). Tests run as root, who can read any
file, so the command runs without the capability to override file permissions (setpriv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hkqa.api import Hkqa
from hkqa.cli import EXIT_SKIPPED, main
from hkqa.config import Settings

GOOD = {
    "good.txt": "Facebook paused the processing of data requests from Hong Kong authorities.\n",
    "with space.txt": "Google said it had paused production on new data requests.\n",
    "ünïcödé 中文.txt": "微信 WeChat said nothing about the requests from Hong Kong police.\n",
    'it\'s "quoted".md': "# Quoted heading\n\nMicrosoft said it was reviewing the new law.\n",
    "new\nline.txt": "LinkedIn said it had received no request from Hong Kong.\n",
    "tab\tand 'single'.txt": "Telegram said it would not process any data requests.\n",
}
LATIN1 = "Le café de Hong Kong: Telegram a refusé de coopérer avec la police.\n"
CP1252 = b"Signal said \x93no\x94 \x96 it keeps no data about its users.\r\n"
HUGE_BYTES = 50_000_000


def _drop_root(argv: list[str]) -> list[str]:
    """Prefix `argv` so that root runs it without the power to read unreadable files."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot test unreadable files")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", *argv]


def _junk_folder(root: Path) -> dict[str, str]:
    """Fill `root` with good and bad files; return {bad path: expected reason}."""
    for name, text in GOOD.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "latin1.txt").write_bytes(LATIN1.encode("latin-1"))
    (root / "cp1252.txt").write_bytes(CP1252)
    bad = {
        "empty.txt": (b"", "empty file"),
        "blank.md": (b"  \n\t \n\n", "empty file (whitespace only)"),
        "binary.txt": (b"\x00\x01PK\x03\x04" * 200, "binary file"),
        "controls.txt": (bytes(range(1, 9)) * 50, "binary file"),
        "slides.pdf": (b"%PDF-1.4", "unsupported file type '.pdf'"),
        "notes.docx": (b"PK\x03\x04", "unsupported file type '.docx'"),
        "Makefile": (b"all:\n", "unsupported file type (no extension)"),
        "secret.txt": (b"Twitter paused all data requests.\n", "permission denied"),
    }
    for name, (data, _) in bad.items():
        (root / name).write_bytes(data)
    (root / "secret.txt").chmod(0)
    with (root / "huge.txt").open("wb") as fh:
        line = b"Zoom said it would comply with the law in every market it serves.\n"
        fh.write(line * (HUGE_BYTES // len(line) + 1))
    (root / "loop").symlink_to(".", target_is_directory=True)
    (root / "self.txt").symlink_to("self.txt")
    (root / "dangling.txt").symlink_to("gone.txt")
    os.mkfifo(root / "pipe.txt")
    reasons = {str(root / name): reason for name, (_, reason) in bad.items()}
    reasons |= {
        str(root / "huge.txt"): "larger than 20000000 bytes",
        str(root / "loop"): "symlink loop",
        str(root / "self.txt"): "symlink loop",
        str(root / "dangling.txt"): "broken symlink",
        str(root / "pipe.txt"): "not a regular file",
    }
    return reasons


@pytest.mark.slow
def test_junk_folder_through_the_command(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    expected = _junk_folder(docs)
    index_dir = tmp_path / "idx"
    started = time.monotonic()
    proc = subprocess.run(
        _drop_root(
            [sys.executable, "-m", "hkqa.cli", "index", str(docs), "--index", str(index_dir)]
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert "Traceback" not in proc.stderr
    assert proc.returncode == EXIT_SKIPPED, proc.stderr
    assert elapsed < 120, f"indexing a junk folder took {elapsed:.0f}s"
    assert "indexed 8 new" in proc.stdout
    for path, reason in expected.items():
        assert f"skipped {path}: {reason}" in proc.stderr, (path, proc.stderr)
    skipped_lines = [line for line in proc.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped_lines) == len(expected)

    h = Hkqa(Settings(index_dir=index_dir))
    docs_by_id = {d.doc_id: d for d in h.documents()}
    want_ids = {Path(name).stem for name in GOOD} | {"latin1", "cp1252"}
    assert set(docs_by_id) == want_ids
    assert docs_by_id["latin1"].text == LATIN1
    assert docs_by_id["cp1252"].text == "Signal said “no” – it keeps no data about its users.\n"
    for name, text in GOOD.items():
        assert docs_by_id[Path(name).stem].text == text
    hit = h.search("LinkedIn received no request", k=1).passages[0]
    assert hit.chunk.doc_id == "new\nline"

    # The same junk again: nothing re-embedded, still exit 3; without the junk: exit 0.
    code = main(["index", str(docs), "--index", str(index_dir), "--quiet", "--json"])
    assert code == EXIT_SKIPPED
    for path in expected:
        p = Path(path)
        if p.is_symlink() or p.exists():
            p.unlink()
    assert main(["index", str(docs), "--index", str(index_dir), "--quiet"]) == 0


def test_a_huge_file_is_skipped_without_being_read(tmp_path: Path) -> None:
    """Skipping by size looks at the size only: a sparse 8 GB file is skipped at once."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.txt").write_text("Apple said it had not received any requests.\n")
    with (folder / "enormous.txt").open("wb") as fh:
        fh.truncate(8 * 1024**3)
    h = Hkqa(Settings(index_dir=tmp_path / "idx"))
    started = time.monotonic()
    report = h.index([folder])
    assert time.monotonic() - started < 60
    assert report.added == ["ok"]
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("enormous.txt", "larger than 20000000 bytes")
    ]


def test_a_folder_with_nothing_readable_is_an_error_naming_each_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(b"%PDF")
    (folder / "b.txt").write_bytes(b"")
    code = main(["index", str(folder), "--index", str(tmp_path / "idx"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("hkqa: error: no readable document")
    assert f"{folder / 'a.pdf'}: unsupported file type '.pdf'" in err
    assert f"{folder / 'b.txt'}: empty file" in err
    assert "hint: " in err and "Traceback" not in err
