"""Indexing is idempotent, incremental, reports bad input by name, and refuses foreign dirs."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from hkqa.api import Hkqa
from hkqa.config import Settings
from hkqa.errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    NothingToIndexError,
)
from hkqa.indexing import index_lock
from hkqa.ingest import bundled_corpus_paths

FACEBOOK = "Facebook paused the processing of data requests from Hong Kong authorities.\n"
ZOOM = "Zoom said on Tuesday that it would review the law before answering any request.\n"


def _state(h: Hkqa) -> tuple[list[str], dict[str, str]]:
    store = h.store()
    return sorted(store.chunk_ids()), store.doc_hashes()


def test_reindexing_an_unchanged_corpus_adds_nothing(corpus_hkqa: Hkqa) -> None:
    before = _state(corpus_hkqa)
    report = corpus_hkqa.index()
    assert report.chunks_added == 0 and report.chunks_removed == 0
    assert not report.added and not report.updated
    assert len(report.unchanged) == len(bundled_corpus_paths())
    assert _state(corpus_hkqa) == before


def test_changed_file_replaces_its_chunks_and_sync_removes_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "fb.txt").write_text(FACEBOOK + "It cited human rights.\n")
    (folder / "zoom.txt").write_text(ZOOM)
    h = Hkqa(Settings(index_dir=tmp_path / "idx"))
    first = h.index([folder])
    assert sorted(first.added) == ["fb", "zoom"]
    assert set(first.phases) == {"encode", "write", "refresh"}
    assert all(0 < seconds < first.seconds for seconds in first.phases.values())
    zoom_chunks = h.store().chunk_ids("zoom")

    (folder / "fb.txt").write_text(FACEBOOK + "It cited freedom of expression instead.\n")
    second = h.index([folder])
    assert second.updated == ["fb"] and second.unchanged == ["zoom"]
    assert second.chunks_added == 1 and second.chunks_removed == 1
    texts = [p.chunk.text for p in h.search("freedom of expression", k=5).passages]
    assert "It cited freedom of expression instead." in texts
    assert "It cited human rights." not in texts
    assert h.store().chunk_ids("zoom") == zoom_chunks

    (folder / "zoom.txt").unlink()
    kept = h.index([folder])
    assert kept.removed == [] and h.store().chunk_ids("zoom") == zoom_chunks
    synced = h.index([folder], sync=True)
    assert synced.removed == ["zoom"]
    assert h.store().chunk_ids("zoom") == []
    assert sorted(h.store().doc_hashes()) == ["fb"]


def test_bad_files_are_reported_by_name_and_the_rest_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text(FACEBOOK)
    (folder / "empty.txt").write_text("")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    (folder / "latin.txt").write_bytes("Le café a dit: «pause».\n".encode("latin-1"))
    (folder / "slides.pdf").write_bytes(b"%PDF-1.4")
    h = Hkqa(Settings(index_dir=tmp_path / "idx"))
    report = h.index([folder])
    assert sorted(report.added) == ["good", "latin"]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "slides.pdf"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["binary.txt"]
    assert ".pdf" in reasons["slides.pdf"]
    assert "café" in h.document("latin").text


def test_bad_input_loses_nothing_already_indexed(tmp_path: Path) -> None:
    h = Hkqa(Settings(index_dir=tmp_path / "idx"))
    h.index([bundled_corpus_paths()[0]])
    before = _state(h)
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(NothingToIndexError, match=r"junk\.txt"):
        h.index([junk])
    assert _state(h) == before


def test_foreign_directory_is_refused_not_overwritten(tmp_path: Path) -> None:
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8")
    h = Hkqa(Settings(index_dir=foreign))
    with pytest.raises(IndexCorruptError, match="not an hkqa index"):
        h.index()
    assert [p.name for p in foreign.iterdir()] == ["holiday.jpg"]


def test_damaged_index_is_reported_with_how_to_rebuild(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    h = Hkqa(Settings(index_dir=idx))
    h.index([bundled_corpus_paths()[0]])
    shutil.rmtree(idx / "chroma")
    with pytest.raises(IndexCorruptError, match="rebuild"):
        Hkqa(Settings(index_dir=idx)).search("data requests")
    (idx / "hkqa-index.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="unreadable"):
        Hkqa(Settings(index_dir=idx)).search("data requests")


def test_searching_before_indexing_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="hkqa index"):
        Hkqa(Settings(index_dir=tmp_path / "none")).search("data requests")


def test_second_indexer_waits_then_fails_with_a_hint(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "idx", lock_timeout=0.5)
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with index_lock(settings):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        with pytest.raises(IndexLockedError) as err:
            Hkqa(settings).index([bundled_corpus_paths()[0]])
        assert time.monotonic() - started < 5
        assert err.value.hint and "wait" in err.value.hint
    finally:
        release.set()
        thread.join()


def test_near_duplicates_across_outlets_share_a_group(corpus_hkqa: Hkqa) -> None:
    table = corpus_hkqa.table()
    groups: dict[str, set[str]] = {}
    for meta in table.metas:
        groups.setdefault(meta["dup_group"], set()).add(meta["doc_id"])
    shared = [docs for docs in groups.values() if len(docs) > 1]
    # The Microsoft statement (two outlets) and Twitter's "grave concerns" (two outlets).
    microsoft = [
        m for m, t in zip(table.metas, table.texts, strict=True) if "As we would with any" in t
    ]
    assert len({m["dup_group"] for m in microsoft}) == 1 and len(microsoft) == 2
    assert len(shared) >= 3
