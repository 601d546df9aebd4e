"""A damaged, foreign or swapped index directory: detected and reported with how to rebuild,
never silently overwritten; what can be rebuilt from Chroma (the reader cache) is rebuilt.

tests/test_index.py covers a foreign directory, a lost chroma/ and an unreadable marker."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hkqa.api import Hkqa
from hkqa.cli import main
from hkqa.config import Settings
from hkqa.errors import ConfigError, IndexNotFoundError
from hkqa.ingest import bundled_corpus_paths
from hkqa.table import CACHE_DIR, ChunkTable

QUESTION = "Which firms paused data requests from Hong Kong authorities?"


def _ids(h: Hkqa, question: str = QUESTION) -> list[str]:
    return [p.chunk.chunk_id for p in h.search(question, k=5).passages]


@pytest.fixture()
def small_index(tmp_path: Path) -> Path:
    index_dir = tmp_path / "idx"
    Hkqa(Settings(index_dir=index_dir)).index(bundled_corpus_paths()[:2])
    return index_dir


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


# -- the Chroma database ------------------------------------------------------------------


@pytest.mark.slow
def test_garbage_database_is_reported_and_left_alone(
    small_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = small_index / "chroma" / "chroma.sqlite3"
    damaged = b"this is not a database, it was overwritten by a backup tool\n" * 200
    replacement = database.with_name("new.tmp")
    replacement.write_bytes(damaged)
    replacement.replace(database)  # a new file, as a restore or a sync tool leaves it
    for argv in (["search", QUESTION], ["index", "--quiet"]):
        code, err = _cli(capsys, *argv, "--index", str(small_index))
        assert code == 1 and "Traceback" not in err
        assert err.startswith(f"hkqa: error: cannot open the index in {small_index}: ")
        assert "file is not a database" in err
        assert f"hint: if it is damaged, rebuild it: remove {small_index}" in err
    assert database.read_bytes() == damaged


@pytest.mark.slow
def test_database_damaged_in_place_is_reported_by_a_fresh_process(small_index: Path) -> None:
    database = small_index / "chroma" / "chroma.sqlite3"
    size = database.stat().st_size
    with database.open("r+b") as fh:  # keep the 100-byte header, scramble the pages
        fh.seek(100)
        fh.write(os.urandom(size - 100))
    damaged = database.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "hkqa.cli", "search", QUESTION, "--index", str(small_index)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"hkqa: error: cannot open the index in {small_index}")
    assert "rebuild it" in proc.stderr
    assert database.read_bytes() == damaged


def test_an_empty_database_is_not_an_index_to_readers(small_index: Path) -> None:
    database = small_index / "chroma" / "chroma.sqlite3"
    shutil.rmtree(small_index / "cache")
    database.write_bytes(b"")
    with pytest.raises(IndexNotFoundError, match="hkqa index"):
        Hkqa(Settings(index_dir=small_index)).search(QUESTION)
    assert database.read_bytes() == b""  # a reader created no tables in it


# -- the reader cache ---------------------------------------------------------------------


def _cache_files(index_dir: Path) -> list[Path]:
    return sorted((index_dir / CACHE_DIR).rglob("table-*.pkl"))


@pytest.mark.parametrize(
    "damage",
    ["truncated", "garbage", "empty", "another object", "a directory"],
)
def test_damaged_reader_cache_is_rebuilt_silently(small_index: Path, damage: str) -> None:
    expected = _ids(Hkqa(Settings(index_dir=small_index)))
    [cache] = _cache_files(small_index)
    data = cache.read_bytes()
    if damage == "truncated":
        cache.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        cache.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        cache.write_bytes(b"")
    elif damage == "another object":
        cache.write_bytes(pickle.dumps({"ids": ["x"], "generation": "y"}))
    else:
        cache.unlink()
        cache.mkdir()
    h = Hkqa(Settings(index_dir=small_index))
    assert _ids(h) == expected
    assert h.table().ids == ChunkTable.from_store(h.store()).ids
    if damage != "a directory":
        with cache.open("rb") as fh:  # written anew, whole
            assert isinstance(pickle.load(fh), ChunkTable)


def test_leftover_temp_files_of_a_killed_writer_are_swept(small_index: Path) -> None:
    [cache] = _cache_files(small_index)
    leftover = cache.parent / f".{cache.name}.999999999.dead.tmp"
    leftover.write_bytes(b"half a pickle")
    h = Hkqa(Settings(index_dir=small_index))
    h.index(bundled_corpus_paths()[:3])
    assert not leftover.exists()
    assert len(_cache_files(small_index)) == 1


# -- another embedding model --------------------------------------------------------------


@pytest.fixture(scope="module")
def model_128(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real sentence-transformers model that writes 128-dimensional vectors."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Dense
    except ImportError:  # sentence-transformers before 6
        from sentence_transformers.models import Dense

    from hkqa.embed import resolve_model_path

    torch.manual_seed(0)
    base = SentenceTransformer(resolve_model_path("bundled"), device="cpu")
    dense = Dense(in_features=384, out_features=128, activation_function=torch.nn.Identity())
    path = tmp_path_factory.mktemp("model") / "minilm-128"
    SentenceTransformer(modules=[*base, dense], device="cpu").save(str(path))
    return str(path)


def test_searching_with_another_model_names_both(
    small_index: Path, model_128: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(
        capsys, "search", QUESTION, "--index", str(small_index), "--embed-model", model_128
    )
    assert code == 1 and "Traceback" not in err
    assert "was built with the embedding model 'all-MiniLM-L6-v2' (384 dimensions)" in err
    assert f"not '{model_128}' (128 dimensions)" in err
    assert "hint: use --embed-model all-MiniLM-L6-v2" in err
    assert f"remove {small_index} and run `hkqa index --embed-model {model_128}`" in err


def test_indexing_with_another_model_is_refused_before_writing(
    small_index: Path, model_128: str
) -> None:
    before = _ids(Hkqa(Settings(index_dir=small_index)))
    other = Hkqa(Settings(index_dir=small_index, embed_model=model_128))
    with pytest.raises(ConfigError, match="was built with the embedding model") as err:
        other.index(bundled_corpus_paths()[2:3])
    assert err.value.hint and "rebuild it" in err.value.hint
    after = Hkqa(Settings(index_dir=small_index))
    assert _ids(after) == before
    assert sorted(d.doc_id for d in after.documents()) == [
        p.stem for p in bundled_corpus_paths()[:2]
    ]


def test_an_index_built_with_another_model_works_with_it(tmp_path: Path, model_128: str) -> None:
    settings = Settings(index_dir=tmp_path / "idx128", embed_model=model_128)
    Hkqa(settings).index(bundled_corpus_paths()[:1])
    assert Hkqa(settings).search(QUESTION).passages
    with pytest.raises(ConfigError, match=r"\(128 dimensions\), not 'all-MiniLM-L6-v2'"):
        Hkqa(Settings(index_dir=tmp_path / "idx128")).search(QUESTION)


# -- the directory deleted and built anew under a live reader (Chroma 6499) ----------------


@pytest.fixture()
def live(small_index: Path) -> Iterator[tuple[Hkqa, Path]]:
    h = Hkqa(Settings(index_dir=small_index))
    assert _ids(h)
    yield h, small_index


def test_rebuilt_in_this_process_under_a_live_reader(live: tuple[Hkqa, Path]) -> None:
    h, index_dir = live
    shutil.rmtree(index_dir)
    with pytest.raises(IndexNotFoundError):
        h.search(QUESTION)
    builder = Hkqa(Settings(index_dir=index_dir))
    builder.index(bundled_corpus_paths()[2:4])
    want = {p.stem for p in bundled_corpus_paths()[2:4]}
    assert {p.chunk.doc_id for p in h.search(QUESTION, k=10).passages} <= want
    assert {d.doc_id for d in h.documents()} == want
    # And the live reader can write to it, too: no "attempt to write a readonly database".
    h.index(bundled_corpus_paths()[:1])
    assert len(h.documents()) == 3


@pytest.mark.slow
def test_rebuilt_by_another_process_under_a_live_reader(live: tuple[Hkqa, Path]) -> None:
    h, index_dir = live
    shutil.rmtree(index_dir)
    paths = [str(p) for p in bundled_corpus_paths()[3:5]]
    proc = subprocess.run(
        [sys.executable, "-m", "hkqa.cli", "index", *paths, "--index", str(index_dir), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    want = {Path(p).stem for p in paths}
    assert {p.chunk.doc_id for p in h.search(QUESTION, k=10).passages} <= want
    dense = h.search(QUESTION, k=10, retriever="dense").passages
    assert dense and {p.chunk.doc_id for p in dense} <= want
    report = h.index([bundled_corpus_paths()[0]])
    assert report.added == [bundled_corpus_paths()[0].stem]


# -- another process writes while this one holds the index open ----------------------------


@pytest.mark.slow
def test_a_long_lived_reader_sees_another_process_s_run(small_index: Path, tmp_path: Path) -> None:
    h = Hkqa(Settings(index_dir=small_index))
    assert _ids(h)
    folder = tmp_path / "more"
    folder.mkdir()
    fact = "Snapchat said it had quietly stopped answering Hong Kong data requests in June."
    (folder / "snap.txt").write_text(fact + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hkqa.cli",
            "index",
            str(folder),
            "--index",
            str(small_index),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    dense = h.search("Snapchat stopped answering requests", k=3, retriever="dense").passages
    assert dense[0].chunk.text == fact
    # Every stored vector is readable from this process (Chroma's cached copy is not used).
    records = list(h.store().iter_chunk_records(with_embeddings=True))
    assert sum(len(ids) for ids, *_ in records) == len(h.table().ids)
