"""Sentence splitting and chunking keep offsets exact and split where a reader would."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from hkqa.chunking import chunk_document, split_sentences
from hkqa.ingest import bundled_corpus_paths
from hkqa.types import Document


def _doc(text: str, doc_id: str = "d") -> Document:
    return Document(
        doc_id=doc_id, text=text, content_hash=hashlib.sha256(text.encode()).hexdigest()
    )


def test_offsets_hold_on_the_bundled_corpus() -> None:
    for path in bundled_corpus_paths():
        doc = _doc(path.read_text(encoding="utf-8"), path.stem)
        chunks = chunk_document(doc)
        assert chunks
        for i, c in enumerate(chunks):
            assert doc.text[c.start : c.end] == c.text
            assert c.context_start <= c.start < c.end <= c.context_end
            assert c.position == i
        starts = [c.start for c in chunks]
        assert starts == sorted(starts)


def test_quotation_stays_whole_with_its_attribution() -> None:
    text = (
        "“As we would with any new legislation, we are reviewing the new law. In the past, "
        "we got few requests, but we are pausing,” Microsoft said in a statement. Next one."
    )
    sentences = [s.text for s in split_sentences("d", text)]
    assert sentences[0].endswith("Microsoft said in a statement.")
    assert sentences[1] == "Next one."


def test_abbreviations_and_initials_do_not_end_sentences() -> None:
    text = "U.S. Tech Giants met Mr. Smith on Jan. 5 in Washington. J. Doe was there too."
    assert [s.text for s in split_sentences("d", text)] == [
        "U.S. Tech Giants met Mr. Smith on Jan. 5 in Washington.",
        "J. Doe was there too.",
    ]


def test_headline_lines_and_paragraphs_are_boundaries() -> None:
    text = "A Headline Without A Period\n\nFirst sentence here. Second one follows.\nThird line."
    assert [s.text for s in split_sentences("d", text)] == [
        "A Headline Without A Period",
        "First sentence here.",
        "Second one follows.",
        "Third line.",
    ]


def test_short_sentences_join_the_next_in_a_chunk() -> None:
    doc = _doc("Soon after. Twitter also confirmed it followed suit and paused requests.")
    chunks = chunk_document(doc)
    assert len(chunks) == 1
    assert chunks[0].text == doc.text


def test_chunk_ids_are_content_hashes() -> None:
    a = chunk_document(_doc("Facebook paused its reviews of requests. Twitter did too.", "x"))
    b = chunk_document(_doc("Facebook paused its reviews of requests. Twitter did too.", "x"))
    c = chunk_document(_doc("Facebook paused its reviews of requests. Twitter did not.", "x"))
    assert [x.chunk_id for x in a] == [x.chunk_id for x in b]
    assert a[0].chunk_id == c[0].chunk_id and a[-1].chunk_id != c[-1].chunk_id


_words = st.sampled_from(
    [
        "Facebook",
        "said",
        "“pause”",
        "U.S.",
        "data.",
        "Mr.",
        "requests!",
        "why?",
        "\n",
        "\n\n",
        "“We",
        "never.”",
        "46%",
        "and",
        "it",
        "—",
        "'quoted'",
        '"straight"',
        " ",
        "e.g.",
        "A.",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_words, min_size=0, max_size=60).map(" ".join))
def test_offsets_are_exact_for_any_text(text: str) -> None:
    doc = _doc(text)
    sentences = split_sentences("d", text)
    for s in sentences:
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip() and s.text
    # Sentences do not overlap and cover every non-space character.
    covered = set()
    for s in sentences:
        span = set(range(s.start, s.end))
        assert not covered & span
        covered |= span
    assert all(text[i].isspace() for i in range(len(text)) if i not in covered)
    for c in chunk_document(doc):
        assert text[c.start : c.end] == c.text
