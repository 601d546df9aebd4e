"""The public data contract of hkqa: what goes in, what comes out, and what `--json` prints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Document(_Model):
    """One source article: its original text and what was extracted from it."""

    doc_id: str = Field(description="Stable id of the document: its file stem.")
    text: str = Field(description="The original text, decoded; every offset points into it.")
    source: str | None = Field(default=None, description="Path the document was read from.")
    title: str | None = Field(default=None, description="Headline, when one can be told apart.")
    date: str | None = Field(default=None, description="Publication date, ISO yyyy-mm-dd.")
    date_day: int | None = Field(
        default=None, description="Publication date as days since 1970-01-01, for range filters."
    )
    outlet: str | None = Field(default=None, description="Publisher, when the text names it.")
    firms: list[str] = Field(
        default_factory=list, description="Canonical names of the firms the text mentions."
    )
    content_hash: str = Field(description="sha256 of `text`; an unchanged hash is not re-indexed.")


class Sentence(_Model):
    """A sentence of a document, by offsets into the original text."""

    doc_id: str = Field(description="Document the sentence belongs to.")
    start: int = Field(description="Offset of the first character in the document text.")
    end: int = Field(description="Offset one past the last character in the document text.")
    text: str = Field(description="Exactly `document.text[start:end]`.")


class Chunk(_Model):
    """The unit of retrieval: a sentence or two, with its neighbours as context."""

    chunk_id: str = Field(description="Content hash of the document id, offsets and text.")
    doc_id: str = Field(description="Document the chunk belongs to.")
    text: str = Field(description="Exactly `document.text[start:end]`.")
    start: int = Field(description="Offset of the chunk in the document text.")
    end: int = Field(description="End offset of the chunk in the document text.")
    context_start: int = Field(description="Start of the neighbouring sentences shown as context.")
    context_end: int = Field(description="End of the neighbouring sentences shown as context.")
    position: int = Field(description="Index of the chunk within its document, from 0.")
    firms: list[str] = Field(
        default_factory=list, description="Firms named in the chunk, owners included."
    )
    dup_group: str = Field(
        description="Id of its near-duplicate group; equal to `chunk_id` when it has no twin."
    )


class Passage(_Model):
    """A retrieved chunk with where it comes from and how it ranked."""

    rank: int = Field(description="1-based rank in the results.")
    score: float = Field(description="Fused reciprocal-rank score; higher is better.")
    dense_score: float | None = Field(default=None, description="Cosine similarity, if ranked.")
    bm25_score: float | None = Field(default=None, description="BM25 score, if ranked.")
    chunk: Chunk = Field(description="The chunk itself, with offsets.")
    title: str | None = Field(default=None, description="Title of the chunk's document.")
    outlet: str | None = Field(default=None, description="Outlet of the chunk's document.")
    date: str | None = Field(default=None, description="Date of the chunk's document.")
    context: str | None = Field(default=None, description="Neighbouring sentences, verbatim.")
    also_reported_by: list[str] = Field(
        default_factory=list,
        description="Other documents carrying a near-duplicate of this passage.",
    )


class SearchResult(_Model):
    """What `search` returns: ranked passages for one question."""

    question: str = Field(description="The question as asked.")
    passages: list[Passage] = Field(description="Ranked passages, best first.")
    timings_ms: dict[str, float] = Field(
        default_factory=dict, description="Milliseconds spent per step."
    )


class Citation(_Model):
    """A verbatim quote backing an answer, with where it stands in its source."""

    n: int = Field(description="The marker number used in the answer text, [n].")
    doc_id: str = Field(description="Source document.")
    title: str | None = Field(default=None, description="Source title.")
    outlet: str | None = Field(default=None, description="Source outlet.")
    date: str | None = Field(default=None, description="Source publication date.")
    quote: str = Field(description="The quote, exactly `document.text[start:end]`.")
    start: int = Field(description="Start offset of the quote in the source text.")
    end: int = Field(description="End offset of the quote in the source text.")
    verified: bool = Field(description="True when the quote was checked against the source.")
    also_reported_by: list[str] = Field(
        default_factory=list, description="Other documents reporting a near-duplicate."
    )


class Answer(_Model):
    """An answer whose every claim cites a verified quote, or an honest abstention."""

    question: str = Field(description="The question as asked.")
    text: str = Field(description="The answer, with [n] markers pointing at citations.")
    citations: list[Citation] = Field(default_factory=list, description="The quotes cited.")
    abstained: bool = Field(default=False, description="True when the corpus does not answer.")
    abstain_reason: str | None = Field(default=None, description="Why hkqa abstained.")
    mode: Literal["extractive", "llm"] = Field(description="The answering mode that ran.")
    backend: str = Field(description="What produced the text: 'extractive' or the LLM's name.")
    fallback: str | None = Field(
        default=None, description="Set when the LLM answer was replaced by the extractive one."
    )
    dropped_claims: int = Field(
        default=0, description="LLM claims dropped because their quote did not verify."
    )
    passages: list[Passage] = Field(
        default_factory=list, description="The passages the answer was drawn from, or closest."
    )
    timings_ms: dict[str, float] = Field(
        default_factory=dict, description="Milliseconds spent per step."
    )


class SummarySentence(_Model):
    """One sentence of a summary, with the source it is traceable to."""

    text: str = Field(description="The sentence as shown.")
    citation: Citation = Field(description="Where the sentence comes from.")
    verbatim: bool = Field(
        default=True,
        description="True when `text` is the cited quote itself; False for an LLM's rewording.",
    )


class Summary(_Model):
    """A short summary of a document, a firm or the whole corpus."""

    scope: Literal["document", "firm", "corpus"] = Field(description="What was summarised.")
    target: str | None = Field(default=None, description="The doc_id or firm, if any.")
    text: str = Field(description="The summary with [n] markers.")
    sentences: list[SummarySentence] = Field(description="Its sentences, each cited.")
    backend: str = Field(description="'extractive' or the LLM's name.")
    fallback: str | None = Field(
        default=None, description="Set when the LLM summary was replaced by the extractive one."
    )
    dropped: int = Field(
        default=0, description="LLM sentences dropped: no usable source, or a quote that failed."
    )


class FirmPosition(_Model):
    """Where one firm stands, with the verified quotes that show it."""

    firm: str = Field(description="Canonical firm name.")
    owner: str | None = Field(default=None, description="Parent firm, if any.")
    stance: str = Field(description="Stance code from the documented scheme.")
    stance_label: str = Field(description="The stance in words.")
    quotes: list[Citation] = Field(default_factory=list, description="Verified supporting quotes.")
    outlets: list[str] = Field(default_factory=list, description="Distinct outlets reporting it.")
    n_outlets: int = Field(default=0, description="Distinct outlets, near-duplicates counted once.")
    earliest_date: str | None = Field(default=None, description="Earliest date reported.")
    disagreement: str | None = Field(
        default=None, description="How sources disagree about this firm, if they do."
    )
    secondary_stances: list[str] = Field(
        default_factory=list, description="Other stance codes the sources support, e.g. reviewing."
    )
    quote_stances: list[str] = Field(
        default_factory=list, description="The stance code each quote supports, parallel to quotes."
    )
    mentioned_in: list[str] = Field(
        default_factory=list, description="Documents that name the firm, with or without a stance."
    )
    backend: str = Field(
        default="cues", description="'cues' (offline classifier) or the LLM whose label stood."
    )
