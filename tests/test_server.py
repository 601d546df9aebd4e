"""Server mode: the same index and answers against a real `chroma run` on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hkqa.api import Hkqa
from hkqa.config import Settings
from hkqa.errors import StoreConnectionError
from tests.chroma_server import ChromaServer, free_port

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    srv = ChromaServer(tmp_path_factory.mktemp("chroma-server")).start()
    yield srv
    srv.stop()


def test_index_and_search_through_the_server(server: ChromaServer, tmp_path: Path) -> None:
    settings = Settings(chroma_url=server.url, index_dir=tmp_path / "cache", collection="srv1")
    h = Hkqa(settings)
    first = h.index()
    assert len(first.added) == 5 and first.chunks > 50
    again = Hkqa(settings).index()
    assert again.chunks_added == 0 and len(again.unchanged) == 5
    top = Hkqa(settings).search("What share of requests did Facebook give some data for?")
    assert "46%" in top.passages[0].chunk.text
    # Nothing of the index itself lives locally: only the reader cache.
    assert not (tmp_path / "cache" / "chroma").exists()


def test_server_and_embedded_rank_alike(
    server: ChromaServer, corpus_hkqa: Hkqa, tmp_path: Path
) -> None:
    settings = Settings(chroma_url=server.url, index_dir=tmp_path / "cache", collection="srv2")
    remote = Hkqa(settings)
    remote.index()
    for question in ("Which firms complied with Beijing in the past?", "What did Signal say?"):
        local_ids = [p.chunk.chunk_id for p in corpus_hkqa.search(question).passages]
        remote_ids = [p.chunk.chunk_id for p in remote.search(question).passages]
        assert local_ids == remote_ids


def test_unreachable_server_fails_fast_with_a_hint(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(StoreConnectionError) as err:
        Hkqa(Settings(chroma_url=url, index_dir=tmp_path)).search("data requests")
    assert time.monotonic() - started < 5
    assert "chroma run" in (err.value.hint or "")


def test_server_restart_between_queries_is_survived(tmp_path: Path) -> None:
    srv = ChromaServer(tmp_path / "data").start()
    try:
        settings = Settings(chroma_url=srv.url, index_dir=tmp_path / "cache", collection="srv3")
        h = Hkqa(settings)
        h.index()
        before = [p.chunk.chunk_id for p in h.search("Telegram data requests").passages]
        srv.stop()
        srv.start()
        after = [p.chunk.chunk_id for p in h.search("Telegram data requests").passages]
        assert after == before
    finally:
        srv.stop()
