"""Summaries of a document, a firm and the corpus with the real embedding model over a real
index: every sentence cited verbatim, limits kept, re-reported statements shown once; and the
LLM map-reduce path against a recording OpenAI-compatible fake."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hkqa.api import Hkqa
from hkqa.config import Settings
from hkqa.dedup import near_duplicate_groups
from hkqa.embed import load_embedder
from hkqa.errors import ConfigError, DocumentNotFoundError
from hkqa.firms import FirmLexicon
from hkqa.llm import OpenAICompatibleLLM, llm_name, load_llm
from hkqa.positions import attribute_sentences, is_boilerplate
from hkqa.summarize import candidate_sentences, collapse_duplicates, passages, summarize_documents
from hkqa.table import is_heading
from hkqa.types import Document, Summary
from hkqa.verify import verify_span
from tests.fake_openai import FakeOpenAI

MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture()
def hkqa(corpus_index: Path) -> Hkqa:
    return Hkqa(Settings(index_dir=corpus_index))


@pytest.fixture()
def docs(hkqa: Hkqa) -> dict[str, Document]:
    return {d.doc_id: d for d in hkqa.documents()}


def doc(doc_id: str, text: str, *, date: str | None = None) -> Document:
    return Document(doc_id=doc_id, text=text, date=date, content_hash=doc_id)


def assert_traceable(summary: Summary, docs: dict[str, Document]) -> None:
    """Every sentence cites a verified span, numbered in order, and the text shows them all."""
    assert [int(n) for n in MARKER.findall(summary.text)] == list(
        range(1, len(summary.sentences) + 1)
    )
    for n, sentence in enumerate(summary.sentences, start=1):
        c = sentence.citation
        text = docs[c.doc_id].text
        assert c.n == n and c.verified
        assert text[c.start : c.end] == c.quote
        assert verify_span(text, c.start, c.end, c.quote)
        if sentence.verbatim:
            assert sentence.text == c.quote
        assert f"{' '.join(sentence.text.split())} [{n}]" in summary.text


def test_a_document_summary_quotes_its_sentences_in_order(
    hkqa: Hkqa, docs: dict[str, Document]
) -> None:
    for doc_id in docs:
        summary = hkqa.summarize(doc_id=doc_id, use_llm=False)
        assert (summary.scope, summary.target, summary.backend) == (
            "document",
            doc_id,
            "extractive",
        )
        assert 1 <= len(summary.sentences) <= 5
        assert_traceable(summary, docs)
        starts = [s.citation.start for s in summary.sentences]
        assert starts == sorted(starts)
        for s in summary.sentences:
            assert s.citation.doc_id == doc_id
            # No headline, credit or navigation line.
            assert not is_heading(s.citation.quote) and not is_boilerplate(s.citation.quote)


def test_the_corpus_summary_spans_documents_by_date_then_position(
    hkqa: Hkqa, docs: dict[str, Document]
) -> None:
    summary = hkqa.summarize(max_sentences=8, use_llm=False)
    assert (summary.scope, summary.target) == ("corpus", None)
    assert len(summary.sentences) == 8
    assert_traceable(summary, docs)
    keys = [
        (docs[s.citation.doc_id].date or "9999-99-99", s.citation.doc_id, s.citation.start)
        for s in summary.sentences
    ]
    assert keys == sorted(keys)
    assert len({s.citation.doc_id for s in summary.sentences}) >= 3
    # No statement twice: the sentences are pairwise not near-duplicates.
    groups = near_duplicate_groups(
        (str(i), s.citation.doc_id, s.citation.quote) for i, s in enumerate(summary.sentences)
    )
    assert len(set(groups.values())) == len(summary.sentences)


def test_a_firm_summary_keeps_to_sentences_about_the_firm(
    hkqa: Hkqa, docs: dict[str, Document]
) -> None:
    lexicon = hkqa.lexicon
    about: dict[str, set[tuple[str, int]]] = {}
    for firm in ["Microsoft", "Twitter", "Facebook", "Signal"]:
        family = {firm, *lexicon.subsidiaries(firm)}
        about[firm] = {
            (d.doc_id, a.start)
            for d in docs.values()
            for a in attribute_sentences(d, lexicon)
            if family & set(a.actors)
        }
        summary = hkqa.summarize(firm=firm.lower(), max_sentences=6, use_llm=False)
        assert (summary.scope, summary.target) == ("firm", firm)
        assert summary.sentences
        assert_traceable(summary, docs)
        for s in summary.sentences:
            assert (s.citation.doc_id, s.citation.start) in about[firm]


def test_a_statement_reported_twice_appears_once_citing_both(
    hkqa: Hkqa, docs: dict[str, Document]
) -> None:
    summary = hkqa.summarize(firm="Microsoft", max_sentences=10, use_llm=False)
    twice = [s for s in summary.sentences if s.citation.also_reported_by]
    assert twice
    for s in twice:
        for other in s.citation.also_reported_by:
            assert other != s.citation.doc_id
            # The other document carries a near-duplicate of the quoted statement.
            other_sentences = [
                (f"o{i}", other, a.text)
                for i, a in enumerate(attribute_sentences(docs[other], hkqa.lexicon))
            ]
            groups = near_duplicate_groups(
                [("q", s.citation.doc_id, s.citation.quote), *other_sentences]
            )
            assert any(groups[k] == groups["q"] for k, _, _ in other_sentences)
    quoted_docs = [{s.citation.doc_id, *s.citation.also_reported_by} for s in summary.sentences]
    assert sum("000_282a9d03a81762b7" in d and "001_b066ead0872681a0" in d for d in quoted_docs)


def test_near_duplicates_collapse_to_the_earliest_source() -> None:
    statement = (
        "Reddit said it has suspended the processing of user data requests from the Hong Kong "
        "police pending a review of the new law."
    )
    documents = [
        doc("late", f"Markets fell sharply on Monday in Hong Kong. {statement}", date="2020-07-09"),
        doc(
            "early", f"{statement} Analysts were not surprised by the decision.", date="2020-07-07"
        ),
    ]
    kept = collapse_duplicates(candidate_sentences(documents, FirmLexicon.load()))
    reddit = [c for c in kept if "Reddit" in c.text]
    assert len(reddit) == 1
    assert (reddit[0].doc.doc_id, reddit[0].also) == ("early", ["late"])
    summary = summarize_documents(documents, FirmLexicon.load(), load_embedder(), max_sentences=5)
    quotes = [s.citation.quote for s in summary.sentences]
    assert quotes.count(statement) == 1
    assert len(summary.sentences) == 3


def test_headlines_credits_and_navigation_are_never_summarised() -> None:
    text = (
        "Tech Giants Pause Data Requests\n\n"
        "Photo: Jane Doe/Agency Images\n\n"
        "Reddit said it has paused all processing of data requests from the police.\n\n"
        "Also read: Reddit pauses data requests from the police in Hong Kong today.\n\n"
        "The city has seen protests for months, and more are planned.\n\n"
        "< back    top ^\n\nTo Top\n"
    )
    summary = summarize_documents(
        [doc("d", text)], FirmLexicon.load(), load_embedder(), max_sentences=20
    )
    assert [s.citation.quote for s in summary.sentences] == [
        "Reddit said it has paused all processing of data requests from the police.",
        "The city has seen protests for months, and more are planned.",
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(max_sentences=st.integers(1, 9), max_words=st.one_of(st.none(), st.integers(1, 150)))
def test_limits_are_kept(corpus_index: Path, max_sentences: int, max_words: int | None) -> None:
    app = Hkqa(Settings(index_dir=corpus_index))
    docs = {d.doc_id: d for d in app.documents()}
    summary = app.summarize(max_sentences=max_sentences, max_words=max_words, use_llm=False)
    assert 1 <= len(summary.sentences) <= max_sentences
    assert_traceable(summary, docs)
    if max_words is not None:
        assert sum(len(s.citation.quote.split()) for s in summary.sentences) <= max_words


def test_too_few_words_for_any_sentence_gives_a_verbatim_start(
    hkqa: Hkqa, docs: dict[str, Document]
) -> None:
    summary = hkqa.summarize(max_words=4, use_llm=False)
    [sentence] = summary.sentences
    assert len(sentence.citation.quote.split()) == 4
    assert not sentence.verbatim and sentence.text.endswith("…")
    assert_traceable(summary, docs)


def test_a_firm_never_named_gives_an_empty_summary_saying_so(hkqa: Hkqa) -> None:
    summary = hkqa.summarize(firm="Amazon", use_llm=False)
    assert summary.sentences == [] and summary.scope == "firm" and summary.target == "Amazon"
    assert "No statement about Amazon" in summary.text


def test_unknown_targets_raise_what_to_do(hkqa: Hkqa) -> None:
    with pytest.raises(DocumentNotFoundError):
        hkqa.summarize(doc_id="no-such-doc", use_llm=False)
    with pytest.raises(ConfigError) as info:
        hkqa.summarize(firm="Nokiaa", use_llm=False)
    assert info.value.hint and "firms" in info.value.hint
    with pytest.raises(ConfigError):
        hkqa.summarize(firm="Zoom", doc_id="002_2f36fb4789c50924", use_llm=False)
    with pytest.raises(ConfigError):
        hkqa.summarize(max_sentences=0, use_llm=False)


def test_json_round_trips(hkqa: Hkqa) -> None:
    summary = hkqa.summarize(firm="Twitter", use_llm=False)
    assert Summary.model_validate_json(summary.model_dump_json()) == summary


# -- the LLM path, against a recording fake server ----------------------------------------------

DOC = "003_c5fcbf731a1d4602"


def fake_llm(fake: FakeOpenAI, context_window: int) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(
        base_url=fake.base_url, model="fake-model", max_tokens=128, context_window=context_window
    )


def reply(*sentences: tuple[str, int]) -> str:
    return json.dumps({"sentences": [{"text": t, "source": s} for t, s in sentences]})


GOOD = "Four firms said they had “paused” their processing of requests for consumer knowledge."
MADE_UP = "Signal said it “handed every message to the police” last year."


def test_llm_map_reduce_covers_every_passage_and_drops_unverified_quotes(
    corpus_index: Path, docs: dict[str, Document]
) -> None:
    with FakeOpenAI() as fake:
        for _ in range(30):
            fake.enqueue(reply((GOOD, 1), (MADE_UP, 1)))
        app = Hkqa(Settings(index_dir=corpus_index), llm=fake_llm(fake, 700))
        summary = app.summarize(doc_id=DOC, max_sentences=3, use_llm=True)
        requests = fake.chat_requests
    prompts = [r.body["messages"][-1]["content"] for r in requests]
    maps = [p for p in prompts if "<passage" in p]
    assert len(maps) >= 2 and len(prompts) == len(maps) + 1
    # The last call reduces the notes the map calls returned.
    assert "<note" in prompts[-1] and GOOD in prompts[-1]
    for request in requests:
        assert request.body["response_format"] == {"type": "json_object"}
    # Every summarisable sentence of the document was shown to exactly one map call.
    for c in candidate_sentences([docs[DOC]], FirmLexicon.load()):
        assert sum(c.text in p for p in maps) == 1, c.text
    assert summary.backend == "openai:fake-model" and summary.fallback is None
    assert [s.text for s in summary.sentences] == [GOOD]
    assert summary.dropped == 1
    [sentence] = summary.sentences
    assert not sentence.verbatim and "“paused”" in sentence.citation.quote
    assert_traceable(summary, docs)


def test_llm_single_batch_needs_no_reduce(corpus_index: Path, docs: dict[str, Document]) -> None:
    with FakeOpenAI() as fake:
        fake.enqueue(reply((GOOD, 1)))
        app = Hkqa(Settings(index_dir=corpus_index), llm=fake_llm(fake, 8192))
        summary = app.summarize(doc_id=DOC, use_llm=True)
        assert len(fake.chat_requests) == 1
        prompt = fake.chat_requests[0].body["messages"][-1]["content"]
    shown = passages(candidate_sentences([docs[DOC]], FirmLexicon.load()))
    assert all(f'<passage number="{p.number}">' in prompt for p in shown)
    assert [s.text for s in summary.sentences] == [GOOD]


def test_an_unusable_llm_reply_falls_back_to_the_extractive_summary(
    corpus_index: Path, docs: dict[str, Document]
) -> None:
    with FakeOpenAI() as fake:
        fake.enqueue("I cannot summarise this.")
        app = Hkqa(Settings(index_dir=corpus_index), llm=fake_llm(fake, 8192))
        summary = app.summarize(doc_id=DOC, use_llm=True)
    extractive = Hkqa(Settings(index_dir=corpus_index)).summarize(doc_id=DOC, use_llm=False)
    assert summary.backend == "extractive" and summary.fallback
    assert summary.sentences == extractive.sentences
    assert_traceable(summary, docs)


# -- the real bundled GGUF through llama-cpp ----------------------------------------------------


@pytest.mark.llm
def test_bundled_model_summary_is_traceable_or_falls_back(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    llm = load_llm(
        Settings(
            index_dir=tmp_path_factory.mktemp("gguf"),
            llm_model_path="bundled",
            llm_n_ctx=2048,
            llm_max_tokens=200,
        )
    )
    document = doc(
        "user",
        "Reddit said on Monday that it has paused all processing of data requests from the "
        "Hong Kong police. The city has seen protests for months, and more are planned.",
    )
    summary = summarize_documents(
        [document],
        FirmLexicon.load(),
        load_embedder(),
        scope_doc=document.doc_id,
        max_sentences=2,
        llm=llm,
    )
    assert summary.sentences
    assert_traceable(summary, {"user": document})
    if summary.fallback is None:
        assert summary.backend == llm_name(llm) and len(summary.sentences) <= 2
    else:
        assert summary.backend == "extractive"
