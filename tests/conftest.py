"""Shared fixtures: every test gets its own index directory, so no test sees another's state."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point HKQA_INDEX_DIR at a fresh temp dir and clear other HKQA_ settings."""
    for name in list(os.environ):
        if name.startswith("HKQA_"):
            monkeypatch.delenv(name)
    index_dir = tmp_path_factory.mktemp("index")
    monkeypatch.setenv("HKQA_INDEX_DIR", str(index_dir))
    yield index_dir


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the bundled corpus, built once per test session; treat it as read-only."""
    from hkqa.api import Hkqa
    from hkqa.config import Settings

    index_dir = tmp_path_factory.mktemp("corpus-index")
    Hkqa(Settings(index_dir=index_dir)).index()
    return index_dir


@pytest.fixture()
def corpus_hkqa(corpus_index: Path) -> object:
    """An `Hkqa` over the shared bundled-corpus index."""
    from hkqa.api import Hkqa
    from hkqa.config import Settings

    return Hkqa(Settings(index_dir=corpus_index))
