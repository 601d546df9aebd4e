"""Scores hkqa (or the by-hand LlamaIndex baseline) against a gold file of questions and answers.

The pieces, in the order they run:

- `gold.load_gold` reads and validates a JSONL gold file into `GoldItem`s, naming every bad line.
- `run_eval` asks each question and records what came back as an `Outcome`
  (`outcome_from_answer` for hkqa, `outcome_from_baseline` for the baseline).
- `metrics.score` turns gold items and outcomes into an `EvalReport`, with the pure metric
  functions there (`hit_rank`, `hit_at`, `mean_reciprocal_rank`, `groups_satisfied`, ...).

The gold and metric names are re-exported here, where they were first importable from.
Every metric is computed over the questions it applies to and reported with that count; a metric
with nothing to apply to is None, never 0. For the `llamaindex-default` retriever, the "answer" is
the top-1 retrieved node's text, the citations are the top-k nodes (node text as the quote) and
it never abstains: what a pipeline built by hand without an LLM would show.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, cast, get_args

from hkqa.errors import ConfigError, HkqaError
from hkqa.gold import GoldItem, bundled_gold_path, load_gold
from hkqa.metrics import (
    AbstentionMetrics,
    AnswerMetrics,
    CitationCheck,
    CitationMetrics,
    Counts,
    EvalConfig,
    EvalReport,
    FailureKind,
    LatencyMetrics,
    Outcome,
    QuestionFailure,
    RetrievalMetrics,
    citation_correct,
    groups_satisfied,
    hit_at,
    hit_rank,
    is_verbatim,
    mean_reciprocal_rank,
    percentile,
    score,
)
from hkqa.types import Answer, Document, SearchResult

if TYPE_CHECKING:
    from hkqa.baseline import BaselineHit, LlamaIndexBaseline
    from hkqa.config import Settings

Retriever = Literal["hybrid", "dense", "bm25"]
EvalRetriever = Literal["hybrid", "dense", "bm25", "llamaindex-default"]
EvalMode = Literal["auto", "extractive", "llm"]
BASELINE = "llamaindex-default"
RETRIEVAL_DEPTH = 5  # hit@5 needs five results, whatever k the answers use

__all__ = [
    "BASELINE",
    "QA",
    "RETRIEVAL_DEPTH",
    "AbstentionMetrics",
    "AnswerMetrics",
    "CitationCheck",
    "CitationMetrics",
    "Counts",
    "EvalConfig",
    "EvalMode",
    "EvalReport",
    "EvalRetriever",
    "FailureKind",
    "GoldItem",
    "LatencyMetrics",
    "Outcome",
    "QuestionFailure",
    "RetrievalMetrics",
    "Retriever",
    "bundled_gold_path",
    "citation_correct",
    "groups_satisfied",
    "hit_at",
    "hit_rank",
    "is_verbatim",
    "load_gold",
    "mean_reciprocal_rank",
    "outcome_from_answer",
    "outcome_from_baseline",
    "percentile",
    "report_json",
    "run_eval",
    "score",
]


# --------------------------------------------------------------------------- outcomes


def _retrieved(search: SearchResult) -> list[list[str]]:
    return [[p.chunk.doc_id, *p.also_reported_by] for p in search.passages]


def outcome_from_answer(
    item_id: str,
    search: SearchResult,
    answer: Answer,
    doc_text: Callable[[str], str | None],
    latency_ms: float | None,
) -> Outcome:
    """The `Outcome` of one hkqa question; `doc_text(doc_id)` gives a source's text or None."""
    return Outcome(
        id=item_id,
        retrieved=_retrieved(search),
        answer_text=answer.text,
        abstained=answer.abstained,
        citations=[
            CitationCheck(
                doc_id=c.doc_id,
                also_reported_by=list(c.also_reported_by),
                quote=c.quote,
                start=c.start,
                end=c.end,
                verbatim=is_verbatim(doc_text(c.doc_id), c.quote, c.start, c.end),
            )
            for c in answer.citations
        ],
        latency_ms=latency_ms,
    )


def outcome_from_baseline(
    item_id: str,
    hits: Sequence[BaselineHit],
    k: int,
    doc_text: Callable[[str], str | None],
    latency_ms: float | None,
) -> Outcome:
    """The baseline's `Outcome`: top-1 node text as the answer, top-k nodes as citations."""
    shown = list(hits[:k])
    return Outcome(
        id=item_id,
        retrieved=[[h.doc_id] for h in hits],
        answer_text=shown[0].text if shown else "",
        abstained=False,
        citations=[
            CitationCheck(
                doc_id=h.doc_id,
                quote=h.text,
                start=h.start,
                end=h.end,
                verbatim=is_verbatim(doc_text(h.doc_id), h.text, h.start, h.end),
            )
            for h in shown
        ],
        latency_ms=latency_ms,
    )


# --------------------------------------------------------------------------- runner


class QA(Protocol):
    """What `run_eval` needs from the system under test; `hkqa.api.Hkqa` provides it."""

    settings: Settings

    def search(
        self, question: str, *, k: int | None = None, retriever: Retriever = "hybrid"
    ) -> SearchResult: ...

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: EvalMode | None = None,
        retriever: Retriever = "hybrid",
    ) -> Answer: ...

    def document(self, doc_id: str) -> Document: ...

    def documents(self) -> list[Document]: ...


def _hkqa_retriever(name: str) -> Retriever:
    for known in get_args(Retriever):
        if name == known:
            return cast(Retriever, known)
    choices = ", ".join([*get_args(Retriever), BASELINE])
    raise ConfigError(f"unknown retriever {name!r}", hint=f"choose one of {choices}")


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def run_eval(
    gold: Sequence[GoldItem] | Path,
    *,
    hkqa: QA,
    mode: EvalMode = "extractive",
    retriever: EvalRetriever = "hybrid",
    k: int = 5,
    documents: Sequence[Document] | None = None,
    baseline: LlamaIndexBaseline | None = None,
    settings: Settings | None = None,
) -> EvalReport:
    """Ask every gold question and score what came back; the one call behind `hkqa eval`.

    For hkqa's own retrievers each question is searched (top max(k, 5), for the retrieval
    metrics) and asked (`ask(k=k, mode=mode)`, whose wall time is the latency). For
    `retriever="llamaindex-default"` a `LlamaIndexBaseline` (built from `settings`, default
    `hkqa.settings`, unless one is given) indexes the corpus and retrieves instead; its
    latency is the retrieval's wall time. The corpus is `documents`, default `hkqa.documents()`.
    A question that raises is recorded as a failure with its exception text, not re-raised.
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}", hint="pass k=5 or another positive k")
    own: Retriever | None = None if retriever == BASELINE else _hkqa_retriever(retriever)
    gold_file: str | None = None
    if isinstance(gold, Path):
        gold_file = str(gold)
        items = load_gold(gold)
    else:
        items = list(gold)
    docs = list(documents) if documents is not None else hkqa.documents()
    depth = max(k, RETRIEVAL_DEPTH)
    texts: dict[str, str | None] = {d.doc_id: d.text for d in docs}

    def doc_text(doc_id: str) -> str | None:
        if doc_id not in texts:
            try:
                texts[doc_id] = hkqa.document(doc_id).text
            except HkqaError:
                texts[doc_id] = None
        return texts[doc_id]

    outcomes: list[Outcome] = []
    if own is None:
        runner = _baseline_runner(docs, baseline, settings or hkqa.settings)
        answer_from = (
            f"top-1 retrieved node text, no LLM ({runner.node_count} nodes from {len(docs)} "
            "documents); citations are the top-k nodes; never abstains"
        )
        for item in items:
            try:
                t0 = time.perf_counter()
                hits = runner.retrieve_hits(item.question, depth)
                ms = (time.perf_counter() - t0) * 1000.0
                outcomes.append(outcome_from_baseline(item.id, hits, k, doc_text, ms))
            except Exception as exc:  # a failing question is a result, not a crash
                outcomes.append(Outcome(id=item.id, error=_error_text(exc)))
    else:
        answer_from = f"hkqa ask, mode={mode}"
        for item in items:
            found: SearchResult | None = None
            try:
                found = hkqa.search(item.question, k=depth, retriever=own)
                t0 = time.perf_counter()
                answer = hkqa.ask(item.question, k=k, mode=mode, retriever=own)
                ms = (time.perf_counter() - t0) * 1000.0
                outcomes.append(outcome_from_answer(item.id, found, answer, doc_text, ms))
            except Exception as exc:  # a failing question is a result, not a crash
                # When only the answer failed, the retrieval metrics still see the search.
                retrieved = [] if found is None else _retrieved(found)
                outcomes.append(Outcome(id=item.id, retrieved=retrieved, error=_error_text(exc)))

    config = EvalConfig(
        retriever=retriever,
        mode=None if retriever == BASELINE else mode,
        k=k,
        retrieval_depth=depth,
        gold_file=gold_file,
        corpus_docs=len(docs),
        answer_from=answer_from,
        missing_sources=sorted({s for i in items for s in i.sources} - {d.doc_id for d in docs}),
    )
    return score(items, outcomes, config)


def _baseline_runner(
    docs: list[Document], baseline: LlamaIndexBaseline | None, settings: Settings
) -> LlamaIndexBaseline:
    if baseline is None:
        from hkqa.baseline import LlamaIndexBaseline

        baseline = LlamaIndexBaseline(settings)
    baseline.build(docs)
    return baseline


def report_json(report: EvalReport) -> str:
    """The report as one JSON object (metric keys like "hit@1" as named); what `--json` prints."""
    return report.model_dump_json(indent=2)
