"""Server mode at the command line: a Chroma server down or unreachable is a clear message
within 5 s, and a reader that outlives a server stop says so, then recovers on restart.

tests/test_server.py covers the library side (unreachable server, restart between queries)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hkqa.api import Hkqa
from hkqa.cli import main
from hkqa.config import Settings
from hkqa.errors import StoreConnectionError
from hkqa.ingest import bundled_corpus_paths
from tests.chroma_server import ChromaServer, free_port

pytestmark = pytest.mark.server
QUESTION = "Which firms paused data requests?"


@pytest.mark.parametrize("command", ["search", "ask", "index", "docs"])
def test_unreachable_server_is_a_message_within_5s(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    argv = {"search": [QUESTION], "ask": [QUESTION], "index": ["--quiet"], "docs": []}[command]
    started = time.monotonic()
    code = main([command, *argv, "--chroma-url", url, "--index", str(tmp_path / "cache")])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith(f"hkqa: error: cannot reach the Chroma server at {url}")
    assert "hint: start one with `chroma run" in err and "Traceback" not in err
    assert elapsed < 5 + (10 if command in ("index", "ask") else 0)  # + loading the model


def test_a_url_that_is_not_a_url_is_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["search", QUESTION, "--chroma-url", "ftp://x", "--index", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "is not an http(s) URL" in err and "Traceback" not in err


@pytest.mark.slow
def test_server_stopping_under_a_live_reader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = ChromaServer(tmp_path / "data").start()
    try:
        settings = Settings(chroma_url=srv.url, index_dir=tmp_path / "cache", collection="rel")
        Hkqa(settings).index(bundled_corpus_paths()[:2])
        reader = Hkqa(settings)
        before = [p.chunk.chunk_id for p in reader.search(QUESTION).passages]
        srv.stop()
        started = time.monotonic()
        with pytest.raises(StoreConnectionError) as err:
            reader.search(QUESTION)
        assert time.monotonic() - started < 5
        assert "Chroma server" in str(err.value) and err.value.hint
        code = main(["search", QUESTION, "--chroma-url", srv.url, "--collection", "rel"])
        assert code == 1 and "cannot reach the Chroma server" in capsys.readouterr().err
        srv.start()
        assert [p.chunk.chunk_id for p in reader.search(QUESTION).passages] == before
    finally:
        srv.stop()
