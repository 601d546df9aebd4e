"""The numpy encoder gives sentence-transformers' vectors, falls back to it for models it cannot
run, and keeps torch, transformers, sentence-transformers and llama-index off the query path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hkqa.embed import (
    NumpyBertEmbedder,
    SentenceTransformerEmbedder,
    embed_in_windows,
    fast_encoder_can_load,
    load_embedder,
    resolve_model_path,
)
from hkqa.encoder import BertEncoder, can_load, read_safetensors
from hkqa.errors import EmbeddingModelError
from hkqa.ingest import bundled_corpus_paths

TOLERANCE = 1e-4
HEAVY = ("torch", "sentence_transformers", "transformers", "llama_index")
MODEL = Path(resolve_model_path("all-MiniLM-L6-v2"))

EDGE_CASES = [
    "",
    " ",
    "\t\n \u00a0",
    "a",
    "?",
    "  leading and trailing spaces  ",
    "Apple 蘋果 香港國家安全法 — “quotes”, naïve café, Ünïcödé, emoji 😀🇭🇰, Ελληνικά, русский",
    "\u200b\u200dzero\u200bwidth",
    "[CLS] [SEP] [PAD] [MASK] [UNK]",
    "word " * 1500,  # far past max_seq_length: truncated
    "x" * 3000,  # one enormous token
    "Hong Kong's national security law. " * 40,
]


def corpus_sentences() -> list[str]:
    """Sentences and whole paragraphs of the bundled corpus."""
    out: list[str] = []
    for path in bundled_corpus_paths():
        for paragraph in path.read_text(encoding="utf-8").split("\n"):
            if paragraph.strip():
                out.append(paragraph)
                out.extend(s for s in re.split(r"(?<=[.!?])\s+", paragraph) if s)
    return list(dict.fromkeys(out))


@pytest.fixture(scope="module")
def reference() -> Any:
    """The sentence-transformers model itself, as a user would load it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(MODEL), device="cpu")


@pytest.fixture(scope="module")
def fast() -> NumpyBertEmbedder:
    return NumpyBertEmbedder("all-MiniLM-L6-v2")


def st_vectors(model: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(model.encode(texts, batch_size=32, normalize_embeddings=True))


def test_bundled_model_is_run_by_the_numpy_encoder_automatically() -> None:
    assert can_load(MODEL)
    assert fast_encoder_can_load("all-MiniLM-L6-v2")
    embedder = load_embedder("all-MiniLM-L6-v2")
    assert isinstance(embedder, NumpyBertEmbedder)
    assert embedder.dim == 384


def test_corpus_sentences_match_sentence_transformers(
    reference: Any, fast: NumpyBertEmbedder
) -> None:
    texts = corpus_sentences()
    assert len(texts) > 100
    want = st_vectors(reference, texts)
    got = fast.embed(texts, batch_size=32)
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) < TOLERANCE


@pytest.mark.parametrize("text", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_edge_cases_match_sentence_transformers(
    text: str, reference: Any, fast: NumpyBertEmbedder
) -> None:
    want = st_vectors(reference, [text])[0]
    got = fast.embed_query(text)
    assert float(np.abs(got - want).max()) < TOLERANCE
    assert abs(float(np.linalg.norm(got)) - 1.0) < 1e-5


def test_long_text_is_truncated_at_max_seq_length(reference: Any) -> None:
    encoder = BertEncoder(MODEL)
    assert encoder.max_len == reference.max_seq_length == 256
    ids, mask = encoder.tokenize(["word " * 1500, "short"])
    assert ids.shape == (2, 256)
    assert mask[0].sum() == 256 and mask[1].sum() == 3
    # Whatever follows the 254th word cannot change the vector.
    (a,) = encoder.encode(["word " * 300])
    (b,) = encoder.encode(["word " * 300 + "tail words differ"])
    assert np.array_equal(a, b)


def test_mixed_lengths_in_one_batch_equal_each_text_alone(
    reference: Any, fast: NumpyBertEmbedder
) -> None:
    texts = [EDGE_CASES[9], "a", "", "Twitter paused all data requests.", EDGE_CASES[6]]
    together = fast.embed(texts, batch_size=len(texts))
    alone = np.stack([fast.embed_query(t) for t in texts])
    assert float(np.abs(together - alone).max()) < 1e-5
    assert float(np.abs(together - st_vectors(reference, texts)).max()) < TOLERANCE


def test_token_ids_match_the_reference_tokenizer(reference: Any) -> None:
    texts = EDGE_CASES + corpus_sentences()[:50]
    ids, mask = BertEncoder(MODEL).tokenize(texts)
    want = reference.tokenizer(texts, padding=True, truncation=True, max_length=256)
    assert ids.tolist() == want["input_ids"]
    assert mask.astype(int).tolist() == want["attention_mask"]


def test_safetensors_reader_matches_the_library() -> None:
    from safetensors.numpy import load_file

    mine = read_safetensors(MODEL / "model.safetensors")
    theirs = load_file(str(MODEL / "model.safetensors"))
    floats = {k for k, v in theirs.items() if v.dtype.kind == "f"}
    assert floats <= set(mine)
    for name in floats:
        assert np.array_equal(mine[name], theirs[name]), name


# -- models the numpy encoder cannot run go to sentence-transformers -------------------------


def model_copy(tmp_path: Path, **changes: dict[str, Any]) -> Path:
    """A copy of the bundled model folder (weights linked) with some JSON files changed."""
    folder = tmp_path / "model"
    folder.mkdir()
    for item in MODEL.iterdir():
        if item.is_dir():
            shutil.copytree(item, folder / item.name)
        elif item.suffix == ".json":
            shutil.copy(item, folder / item.name)
        else:
            (folder / item.name).symlink_to(item)
    for name, fields in changes.items():
        path = folder / name.replace("__", "/")
        data = json.loads(path.read_text())
        data.update(fields)
        path.write_text(json.dumps(data))
    return folder


MAX_POOLING = {"pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True}
CLS_POOLING = {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}


def test_unsupported_pooling_falls_back_to_sentence_transformers(
    tmp_path: Path, reference: Any
) -> None:
    folder = model_copy(tmp_path, **{"1_Pooling__config.json": MAX_POOLING})
    assert not can_load(folder)
    assert not fast_encoder_can_load(str(folder))
    embedder = load_embedder(str(folder))
    assert isinstance(embedder, SentenceTransformerEmbedder)
    texts = corpus_sentences()[:8]
    vectors = embedder.embed(texts)
    # Max pooling really is in use: the vectors differ from the mean-pooled model's.
    assert float(np.abs(vectors - st_vectors(reference, texts)).max()) > 0.01
    with pytest.raises(EmbeddingModelError, match="numpy encoder cannot run"):
        load_embedder(str(folder), backend="numpy")


@pytest.mark.parametrize(
    "changes",
    [
        {"config.json": {"hidden_act": "relu"}},
        {"config.json": {"model_type": "roberta"}},
        {"config.json": {"position_embedding_type": "relative_key"}},
        {"sentence_bert_config.json": {"do_lower_case": True}},
        {"modules.json": {}},
    ],
    ids=["relu", "roberta", "relative", "lowercase", "no-modules"],
)
def test_models_it_cannot_reproduce_are_refused(tmp_path: Path, changes: dict[str, Any]) -> None:
    folder = model_copy(tmp_path, **{k: v for k, v in changes.items() if v})
    if "modules.json" in changes:
        (folder / "modules.json").unlink()
    assert not can_load(folder)


def test_cls_pooling_matches_sentence_transformers(tmp_path: Path) -> None:
    folder = model_copy(tmp_path, **{"1_Pooling__config.json": CLS_POOLING})
    assert can_load(folder)
    texts = [*corpus_sentences()[:20], *EDGE_CASES[:4]]
    fast = load_embedder(str(folder))
    slow = load_embedder(str(folder), backend="sentence-transformers")
    assert isinstance(fast, NumpyBertEmbedder)
    assert isinstance(slow, SentenceTransformerEmbedder)
    assert float(np.abs(fast.embed(texts) - slow.embed(texts)).max()) < TOLERANCE


def test_a_missing_model_is_an_embedding_model_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelError):
        load_embedder(str(tmp_path / "no-such-model"))


# -- order, batching and the background encoder ---------------------------------------------


def test_embed_keeps_input_order(fast: NumpyBertEmbedder) -> None:
    texts = ["short", "a much longer sentence about data requests " * 5, "", "mid length text"]
    batched = fast.embed(texts, batch_size=2)
    for row, text in zip(batched, texts, strict=True):
        assert float(np.abs(row - fast.embed_query(text)).max()) < 1e-5


def test_embed_in_windows_yields_each_group_in_order(fast: NumpyBertEmbedder) -> None:
    sentences = corpus_sentences()[:40]
    groups = [sentences[:7], [], sentences[7:8], sentences[8:30], [], sentences[30:]]
    seen: list[int] = []
    got = list(embed_in_windows(fast, groups, batch_size=8, window=10, progress=seen.append))
    assert [len(v) for v in got] == [len(g) for g in groups]
    assert sum(seen) == len(sentences)
    whole = fast.embed(sentences)
    assert float(np.abs(np.vstack(got) - whole).max()) < 1e-5


def test_embed_in_windows_encodes_only_as_far_as_it_is_read(fast: NumpyBertEmbedder) -> None:
    groups = [[f"sentence {i}"] for i in range(30)]
    seen: list[int] = []
    it: Iterator[np.ndarray] = embed_in_windows(fast, groups, window=10, progress=seen.append)
    next(it)
    assert sum(seen) == 10  # one window, not the whole corpus
    assert len(list(it)) == 29 and sum(seen) == 30


# -- the query path imports no heavy library ------------------------------------------------

PROBE = """
import json, sys
from hkqa.cli import main
codes = [main(sys.argv[2:5]), main(sys.argv[5:])]
print(json.dumps({"codes": codes, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_search_and_ask_in_a_fresh_process_import_no_heavy_library(corpus_index: Path) -> None:
    question = "Which firms paused data requests from Hong Kong authorities?"
    env = {**os.environ, "HKQA_INDEX_DIR": str(corpus_index)}
    argv = ["search", question, "--json", "ask", question, "--mode", "extractive", "--json"]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "probe", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    outputs = proc.stdout.strip().splitlines()
    report = json.loads(outputs[-1])
    assert report["codes"] == [0, 0]
    assert '"passages"' in proc.stdout and '"chunk_id"' in proc.stdout  # real results came back
    assert "hkqa" in report["modules"] and "chromadb" in report["modules"]
    loaded = [m for m in HEAVY if m in report["modules"]]
    assert loaded == [], f"the query path imported {loaded}"
