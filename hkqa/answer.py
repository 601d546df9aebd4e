"""`answer_question`: grounded answers whose every quote is a verified span of its source.

Steps: retrieve a pool of passages (near-duplicates kept apart), analyse the question, score
candidate sentences (`hkqa.extractive`), then answer extractively or with the LLM. Whatever the
mode, every citation passes `verify_span` as the last step before it is shown, and when the
evidence does not answer the question the answer abstains and shows the closest passages.

Modes: `extractive` quotes the sentences that answer; `llm` lets the LLM draft claims, keeps
only those whose quote stands verbatim in the cited passage's document and whose words the
quote or passage supports, and falls back to the extractive answer when none survives; `auto`
is `llm` when an LLM is configured (or was given to `Hkqa`), else `extractive`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hkqa import cues
from hkqa.api import clean_question
from hkqa.bm25 import tokenize
from hkqa.config import Mode
from hkqa.embed import Embedder
from hkqa.errors import ConfigError, LLMError
from hkqa.evidence import (
    POOL_SIZE,
    Candidate,
    CorpusView,
    candidate_rows,
    chunk_vectors,
    collapse_groups,
    corpus_view,
    score_candidates,
)
from hkqa.extractive import Extract, Quote, extract
from hkqa.question import Question, analyse
from hkqa.retrieve import Filters, expand_query, retrieve
from hkqa.store import chunk_from_record
from hkqa.table import ChunkTable
from hkqa.types import Answer, Citation, Document, Passage
from hkqa.verify import find_quote, verify_span

if TYPE_CHECKING:
    from hkqa.api import Hkqa
    from hkqa.retrieve import RetrieverName

Ran = Literal["extractive", "llm"]
EXTRACTIVE = "extractive"
SUPPORT_SHARE = 0.6
"""An LLM claim is shown only if this share of its content words is in its quote or passage."""
NOT_ANSWERED = "The corpus does not answer this question."


@dataclass
class Evidence:
    """Everything answering needs about one question: its analysis and the ranked candidates."""

    question: Question
    view: CorpusView
    ranked: list[Candidate]
    documents: dict[str, Document]
    filtered: bool


def answer_question(
    hkqa: Hkqa,
    question: str,
    *,
    k: int | None = None,
    firm: str | None = None,
    since: str | dt.date | None = None,
    until: str | dt.date | None = None,
    outlet: str | None = None,
    mode: Mode = "auto",
    retriever: RetrieverName = "hybrid",
    on_token: Callable[[str], None] | None = None,
) -> Answer:
    """Return the answer to `question` with verified quotes, or an abstention saying why the
    corpus does not answer it; what `Hkqa.ask` returns."""
    started = time.perf_counter()
    question = clean_question(question)
    k = k or hkqa.settings.k
    ran = resolve_mode(hkqa, mode)
    llm = hkqa.llm if ran == "llm" else None  # a misconfigured LLM fails before any work
    timings: dict[str, float] = {}
    t = time.perf_counter()
    filters = Filters(firm, since, until, outlet).resolved(hkqa.lexicon)
    embedder = QueryMemo(hkqa.embedder)
    table = hkqa.table()  # one generation check: retrieval and evidence read the same state
    pool = retrieve(
        question,
        store=hkqa.store(),
        table=table,
        embedder=embedder,
        lexicon=hkqa.lexicon,
        k=max(POOL_SIZE, k),
        candidates=hkqa.settings.candidates,
        filters=filters,
        retriever=retriever,
        collapse=False,
    )
    evidence = gather_evidence(hkqa, question, pool, filters, embedder=embedder, table=table)
    timings["retrieve_ms"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    found = extract(
        evidence.question,
        evidence.ranked,
        evidence.view,
        max_quotes=hkqa.settings.max_answer_sentences,
        documents=evidence.documents,
    )
    if found.abstain is None and not evidence.ranked:
        found.abstain = NOT_ANSWERED
    if evidence.filtered and not evidence.ranked:
        found.abstain = "No indexed passage matches the filters given."
    if llm is None or found.abstain is not None:
        # Abstaining needs no LLM: the evidence already shows the corpus does not say.
        answer = render_extract(question, found, evidence, k=k, mode=ran, backend=EXTRACTIVE)
    else:
        answer = llm_answer(llm, question, found, evidence, k=k, on_token=on_token)
    timings["answer_ms"] = (time.perf_counter() - t) * 1000
    timings["total_ms"] = (time.perf_counter() - started) * 1000
    return answer.model_copy(update={"timings_ms": timings})


def resolve_mode(hkqa: Hkqa, mode: Mode) -> Ran:
    """Return the mode that will run: `auto` is `llm` only when an LLM is configured or was
    given to `Hkqa`, so the bundled model is never loaded unasked."""
    if mode == "auto":
        return "llm" if hkqa.has_llm else "extractive"
    if mode == "extractive" or mode == "llm":
        return mode
    raise ConfigError(f"unknown mode {mode!r}", hint="use auto, extractive or llm")


class QueryMemo(Embedder):
    """An embedder that embeds each query once: retrieval and answering share the vector."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._memo: dict[str, np.ndarray] = {}

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self.inner._encode(texts)

    def embed_query(self, text: str) -> np.ndarray:
        """Return the query's unit vector, computed on first use."""
        if text not in self._memo:
            self._memo[text] = self.inner.embed_query(text)
        return self._memo[text]


def gather_evidence(
    hkqa: Hkqa,
    question: str,
    pool: Sequence[Passage],
    filters: Filters,
    *,
    embedder: Embedder | None = None,
    table: ChunkTable | None = None,
) -> Evidence:
    """Return the analysed question and its candidate sentences, scored and best first (one per
    near-duplicate group), from the retrieved `pool` and the chunks naming what it is about
    (`table`: the chunk table `pool` came from, when the caller has it)."""
    table = hkqa.table() if table is None else table
    view = corpus_view(table, hkqa.lexicon)
    q = analyse(question, hkqa.lexicon)
    allowed = filters.mask(table)
    rows = candidate_rows(q, pool, view, allowed)
    ranked: list[Candidate] = []
    if rows:
        vector = (embedder or hkqa.embedder).embed_query(expand_query(question, hkqa.lexicon))
        vectors = chunk_vectors(hkqa.store(), view, rows, dim=len(vector))
        ranked = collapse_groups(score_candidates(q, rows, view, vector, vectors), view)
    doc_ids = {c.doc_id for c in ranked}
    documents = hkqa.store().documents(doc_ids) if doc_ids else {}
    filtered = any((filters.firm, filters.since, filters.until, filters.outlet))
    return Evidence(q, view, ranked, documents, filtered)


# --------------------------------------------------------------------------- rendering


def passage_for(
    cand: Candidate, view: CorpusView, documents: dict[str, Document], rank: int
) -> Passage:
    """Return the candidate as a `Passage`, with its document's provenance and context."""
    table = view.table
    chunk = chunk_from_record(table.ids[cand.row], table.texts[cand.row], table.metas[cand.row])
    doc = documents.get(cand.doc_id)
    return Passage(
        rank=rank,
        score=cand.score,
        dense_score=cand.dense,
        bm25_score=None,
        chunk=chunk,
        title=doc.title if doc else None,
        outlet=doc.outlet if doc else None,
        date=doc.date if doc else None,
        context=doc.text[chunk.context_start : chunk.context_end] if doc else None,
        also_reported_by=list(cand.also),
    )


def top_passages(evidence: Evidence, k: int, first: Sequence[int] = ()) -> list[Passage]:
    """Return the passages to show: those of rows `first` (the cited ones), then the best
    candidates, `k` at least."""
    by_row = {c.row: c for c in evidence.ranked}
    order = [by_row[r] for r in dict.fromkeys(first) if r in by_row]
    order += [c for c in evidence.ranked if c.row not in set(first)]
    shown = order[: max(k, len(first))]
    return [
        passage_for(c, evidence.view, evidence.documents, rank)
        for rank, c in enumerate(shown, start=1)
    ]


def citations_for(
    quotes: Sequence[Quote], documents: dict[str, Document]
) -> list[tuple[Quote, Citation]]:
    """Return a verified citation per quote that passes `verify_span`, numbered from 1; a quote
    that fails is dropped, never shown."""
    out: list[tuple[Quote, Citation]] = []
    for quote in quotes:
        doc = documents.get(quote.doc_id)
        if doc is None or not quote.text.strip():
            continue
        if not verify_span(doc.text, quote.start, quote.end, quote.text):
            continue
        out.append(
            (
                quote,
                Citation(
                    n=len(out) + 1,
                    doc_id=doc.doc_id,
                    title=doc.title,
                    outlet=doc.outlet,
                    date=doc.date,
                    quote=quote.text,
                    start=quote.start,
                    end=quote.end,
                    verified=True,
                    also_reported_by=list(quote.also),
                ),
            )
        )
    return out


def source_label(doc_id: str, documents: dict[str, Document]) -> str:
    """Return how a source is named in answer text: its outlet when known, else its doc_id."""
    doc = documents.get(doc_id)
    return doc.outlet if doc is not None and doc.outlet else doc_id


def _also(citation: Citation, documents: dict[str, Document]) -> str:
    if not citation.also_reported_by:
        return ""
    labels = dict.fromkeys(source_label(d, documents) for d in citation.also_reported_by)
    return f" (also reported by {', '.join(labels)})"


def abstention(
    question: str, reason: str, evidence: Evidence, *, k: int, mode: Ran, backend: str
) -> Answer:
    """Return the answer that says the corpus does not answer, with the closest passages."""
    return Answer(
        question=question,
        text=f"{NOT_ANSWERED} {reason}",
        abstained=True,
        abstain_reason=reason,
        mode=mode,
        backend=backend,
        passages=top_passages(evidence, k),
    )


def render_extract(
    question: str,
    found: Extract,
    evidence: Evidence,
    *,
    k: int,
    mode: Ran,
    backend: str,
    fallback: str | None = None,
    dropped: int = 0,
) -> Answer:
    """Return the extractive answer: an optional lead line, then each quote verbatim with its
    [n] marker and the other outlets reporting it."""
    docs = evidence.documents
    if found.abstain is not None:
        answer = abstention(question, found.abstain, evidence, k=k, mode=mode, backend=backend)
        return answer.model_copy(update={"fallback": fallback, "dropped_claims": dropped})
    cited = citations_for(found.quotes, docs)
    if not cited:
        answer = abstention(question, NOT_ANSWERED, evidence, k=k, mode=mode, backend=backend)
        return answer.model_copy(update={"fallback": fallback, "dropped_claims": dropped})
    number = {id(q): c.n for q, c in cited}
    lines = []
    if found.items:
        parts = []
        for label, indices in found.items:
            marks = "".join(
                f"[{number[id(found.quotes[i])]}]" for i in indices if id(found.quotes[i]) in number
            )
            if marks:
                parts.append(f"{label} {marks}")
        if parts:
            lines.append(_join_items(parts) + ".")
    elif found.lead:
        lines.append(found.lead)
    for _, citation in cited:
        lines.append(f"{quoted(citation.quote)} [{citation.n}]{_also(citation, docs)}")
    rows = [q.row for q, _ in cited if q.row is not None]
    return Answer(
        question=question,
        text="\n".join(lines),
        citations=[c for _, c in cited],
        mode=mode,
        backend=backend,
        fallback=fallback,
        dropped_claims=dropped,
        passages=top_passages(evidence, k, rows),
    )


def quoted(text: str) -> str:
    """Return `text` in quotation marks, unless it already opens with one."""
    return text if text[:1] in "“\"‘'«" else f"“{text}”"


def _join_items(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# --------------------------------------------------------------------------- llm mode


def claim_supported(claim_text: str, quote: str, passage_text: str) -> bool:
    """True when the claim says nothing its quote and passage do not: at least SUPPORT_SHARE
    of its content words, and every figure in it, occur there, and it gives no orders.

    A lexical check, so a claim written to obey an instruction planted in a document (words
    the passage does not contain) is dropped, while a paraphrase in the passage's words stays.
    """
    if cues.looks_like_instruction(claim_text):
        return False
    words = set(tokenize(claim_text))
    source = set(tokenize(quote)) | set(tokenize(passage_text))
    numbers = set(cues.quantities(claim_text))
    if numbers and not numbers <= set(cues.quantities(quote + " " + passage_text)):
        return False
    if not words:
        return True
    return len(words & source) / len(words) >= SUPPORT_SHARE


def also_for_span(view: CorpusView, doc_id: str, start: int, end: int) -> list[str]:
    """Return the other documents carrying a near-duplicate of the chunk the span lies in."""
    table = view.table
    for row, meta in enumerate(table.metas):
        if table.doc_ids[row] == doc_id and int(meta["start"]) <= start < int(meta["end"]):
            return [d for d in (meta.get("dup_docs") or "").split("|") if d and d != doc_id]
    return []


def llm_answer(
    llm: Any,
    question: str,
    found: Extract,
    evidence: Evidence,
    *,
    k: int,
    on_token: Callable[[str], None] | None,
) -> Answer:
    """Return the LLM's answer built from its verified, supported claims; the extractive
    answer, with `fallback` saying why, when none survives or the LLM fails mid-answer."""
    from hkqa.drafting import draft_answer
    from hkqa.llm import llm_name

    name = llm_name(llm)
    passages = top_passages(evidence, k)
    try:
        draft = draft_answer(llm, question, passages, on_token=on_token)
    except LLMError as err:
        return render_extract(
            question,
            found,
            evidence,
            k=k,
            mode="llm",
            backend=EXTRACTIVE,
            fallback=f"Showing the extractive answer: the LLM ({name}) failed: {err.message}",
        )
    unverified = draft.dropped_out_of_range
    unsupported = 0
    kept: list[tuple[str, Quote]] = []
    for claim in draft.claims:
        passage = passages[claim.source - 1]
        doc = evidence.documents.get(passage.chunk.doc_id)
        match = None if doc is None else find_quote(claim.quote, doc.text, near=passage.chunk.start)
        if doc is None or match is None or cues.looks_like_instruction(match.quote):
            unverified += 1
            continue
        if not claim_supported(claim.text, match.quote, passage.context or passage.chunk.text):
            unsupported += 1
            continue
        kept.append(
            (
                " ".join(claim.text.split()),
                Quote(
                    doc_id=doc.doc_id,
                    start=match.start,
                    end=match.end,
                    text=match.quote,
                    also=also_for_span(evidence.view, doc.doc_id, match.start, match.end),
                ),
            )
        )
    dropped = unverified + unsupported
    cited = citations_for([quote for _, quote in kept], evidence.documents)
    if not cited:
        if dropped:
            why = (
                f"none of the {dropped} claims of the LLM ({name}) could be shown: "
                f"{unverified} quoted words not found in their source, {unsupported} said more "
                "than their quote supports"
            )
        else:
            why = f"the LLM ({name}) found no answer in the passages"
        return render_extract(
            question,
            found,
            evidence,
            k=k,
            mode="llm",
            backend=EXTRACTIVE,
            fallback=f"Showing the extractive answer: {why}.",
            dropped=dropped,
        )
    lines = []
    numbers: dict[tuple[str, int, int], int] = {}
    citations: list[Citation] = []
    by_quote = {id(q): c for q, c in cited}
    for text, quote in kept:
        citation = by_quote.get(id(quote))
        if citation is None:
            continue
        key = (citation.doc_id, citation.start, citation.end)
        if key not in numbers:
            numbers[key] = len(citations) + 1
            citations.append(citation.model_copy(update={"n": numbers[key]}))
        n = numbers[key]
        also = _also(citation, evidence.documents)
        lines.append(f"{text.rstrip('.')}: {quoted(citation.quote)} [{n}]{also}")
    return Answer(
        question=question,
        text="\n".join(lines),
        citations=citations,
        mode="llm",
        backend=name,
        dropped_claims=dropped,
        passages=passages,
    )
