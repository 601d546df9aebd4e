"""Hybrid retrieval: ranking, filters, alias expansion, near-duplicates, llama-index seam."""

from __future__ import annotations

from pathlib import Path

import pytest

from hkqa.api import Hkqa
from hkqa.config import Settings
from hkqa.errors import ConfigError, QuestionError

DATED = {
    "early.txt": "Published July 6, 2020\n\nAcmeChat paused Hong Kong data requests on Monday.\n",
    "late.txt": "Published September 30, 2020\n\nAcmeChat resumed answering data requests in "
    "September after a review.\n",
    "other.md": "# Wire report\n\nSource: Daily Wire\n\nGoogle paused Hong Kong data requests too, "
    "a spokesperson said.\n",
}


@pytest.fixture(scope="module")
def dated_hkqa(tmp_path_factory: pytest.TempPathFactory) -> Hkqa:
    folder = tmp_path_factory.mktemp("dated")
    for name, text in DATED.items():
        (folder / name).write_text(text)
    h = Hkqa(Settings(index_dir=tmp_path_factory.mktemp("dated-idx")))
    h.index([folder])
    return h


def test_statement_is_found_first(corpus_hkqa: Hkqa) -> None:
    top = corpus_hkqa.search("What percentage of requests did Facebook provide data for?").passages
    assert "46%" in top[0].chunk.text
    top = corpus_hkqa.search("Who chairs the Hong Kong Internet Service Providers Association?")
    assert "little choice but to comply" in top.passages[0].chunk.text


def test_passages_carry_provenance_and_exact_offsets(corpus_hkqa: Hkqa) -> None:
    result = corpus_hkqa.search("Which firms gave in to Beijing's demands in the past?", k=5)
    assert [p.rank for p in result.passages] == [1, 2, 3, 4, 5]
    scores = [p.score for p in result.passages]
    assert scores == sorted(scores, reverse=True)
    for p in result.passages:
        doc = corpus_hkqa.document(p.chunk.doc_id)
        assert doc.text[p.chunk.start : p.chunk.end] == p.chunk.text
        assert p.context and p.chunk.text in p.context
        assert p.title == doc.title and p.outlet == doc.outlet and p.date == doc.date


def test_near_duplicates_collapse_unless_asked(corpus_hkqa: Hkqa) -> None:
    question = "Microsoft reviewing the new law to understand its implications"
    collapsed = corpus_hkqa.search(question, k=10).passages
    groups = [p.chunk.dup_group for p in collapsed]
    assert len(groups) == len(set(groups))
    statement = next(p for p in collapsed if "As we would with any" in p.chunk.text)
    assert statement.also_reported_by  # the other outlet carrying the same statement
    everything = corpus_hkqa.search(question, k=10, collapse=False).passages
    assert sum("As we would with any" in p.chunk.text for p in everything) == 2


def test_firm_filter_uses_aliases_and_ownership(corpus_hkqa: Hkqa) -> None:
    passages = corpus_hkqa.search("data requests", k=20, firm="whatsapp").passages
    assert passages and all("WhatsApp" in p.chunk.firms for p in passages)
    owned = corpus_hkqa.search("data requests", k=50, firm="Facebook").passages
    # A passage naming only WhatsApp counts under its owner.
    assert any("Facebook" not in p.chunk.text and "WhatsApp" in p.chunk.text for p in owned)
    with pytest.raises(ConfigError, match="unknown firm"):
        corpus_hkqa.search("data requests", firm="NoSuchFirm")


def test_alias_in_the_question_finds_the_canonical_firm(corpus_hkqa: Hkqa) -> None:
    passages = corpus_hkqa.search("Why did Meta Platforms pause data requests?", k=3).passages
    assert any("Facebook" in p.chunk.firms for p in passages)


def test_date_and_outlet_filters(dated_hkqa: Hkqa) -> None:
    assert {d.doc_id: d.date for d in dated_hkqa.documents()} == {
        "early": "2020-07-06",
        "late": "2020-09-30",
        "other": None,
    }
    since = dated_hkqa.search("AcmeChat data requests", since="2020-09-01", k=10).passages
    assert {p.chunk.doc_id for p in since} == {"late"}
    until = dated_hkqa.search("AcmeChat data requests", until="2020-07-31", k=10).passages
    assert {p.chunk.doc_id for p in until} == {"early"}
    outlet = dated_hkqa.search("paused data requests", outlet="Daily Wire", k=10).passages
    assert {p.chunk.doc_id for p in outlet} == {"other"}
    with pytest.raises(ConfigError, match="not a date"):
        dated_hkqa.search("AcmeChat", since="last week")


@pytest.mark.parametrize("retriever", ["hybrid", "dense", "bm25"])
def test_each_retriever_ranks_the_statement(corpus_hkqa: Hkqa, retriever: str) -> None:
    result = corpus_hkqa.search(
        "Signal never started turning over user data to the HK police",
        k=3,
        retriever=retriever,  # type: ignore[arg-type]
    )
    assert "never started turning over user data" in result.passages[0].chunk.text


@pytest.mark.parametrize("question", ["", "   \n\t", "\x00\x07"])
def test_empty_questions_are_refused(corpus_hkqa: Hkqa, question: str) -> None:
    with pytest.raises(QuestionError, match="empty"):
        corpus_hkqa.search(question)


def test_oversized_and_odd_questions(corpus_hkqa: Hkqa) -> None:
    with pytest.raises(QuestionError, match="limit"):
        corpus_hkqa.search("why " * 25_000)
    assert corpus_hkqa.search("Twitter\x1b[31m grave\tconcerns\x00").passages
    assert corpus_hkqa.search("香港國安法 Facebook 暂停").passages


def test_llamaindex_retriever_seam(corpus_hkqa: Hkqa, tmp_path: Path) -> None:
    from llama_index.core.base.base_retriever import BaseRetriever

    from hkqa.llamaindex import HkqaRetriever

    retriever = HkqaRetriever(corpus_hkqa, k=3, firm="Signal")
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve("Did Signal hand over user data?")
    assert nodes and all("Signal" in n.node.metadata["firms"] for n in nodes)
    node = nodes[0].node
    doc = corpus_hkqa.document(node.metadata["doc_id"])
    assert doc.text[node.start_char_idx : node.end_char_idx] == node.get_content()
