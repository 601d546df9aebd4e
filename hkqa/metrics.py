"""Evaluation metrics: what came back for each question (`Outcome`), the pure metric functions
(`hit_rank`, `hit_at`, `mean_reciprocal_rank`, `groups_satisfied`, ...) and `score`, which turns
gold items and outcomes into an `EvalReport`.

Every metric is computed over the questions it applies to and reported with that count; a metric
with nothing to apply to is None, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hkqa.gold import GoldItem
from hkqa.normalize import normalize_for_match

FailureKind = Literal[
    "retrieval_miss",
    "missing_key_phrases",
    "wrong_abstention",
    "off_source_citation",
    "non_verbatim_quote",
    "error",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- outcomes


class CitationCheck(_Model):
    """A citation that came back, with whether its quote is an exact span of its source."""

    doc_id: str = Field(description="Document cited.")
    also_reported_by: list[str] = Field(
        default_factory=list, description="Other documents carrying a near-duplicate of the quote."
    )
    quote: str = Field(description="The quote shown.")
    start: int | None = Field(description="Claimed start offset; None when none was given.")
    end: int | None = Field(description="Claimed end offset; None when none was given.")
    verbatim: bool = Field(description="True when `document.text[start:end] == quote`.")


class Outcome(_Model):
    """What came back for one question, in the form the metrics read."""

    id: str = Field(description="Id of the gold question.")
    retrieved: list[list[str]] = Field(
        default_factory=list,
        description="Per ranked result, best first: its doc_id, then its near-duplicates' doc_ids.",
    )
    answer_text: str = Field(default="", description="The answer shown.")
    abstained: bool = Field(default=False, description="True when the system declined to answer.")
    citations: list[CitationCheck] = Field(default_factory=list, description="Citations shown.")
    latency_ms: float | None = Field(
        default=None, description="Wall time to answer, retrieval included; None on error."
    )
    error: str | None = Field(default=None, description="Exception text when the question failed.")


def is_verbatim(doc_text: str | None, quote: str, start: int | None, end: int | None) -> bool:
    """True when `quote` is exactly `doc_text[start:end]`; how a shown quote is proven real."""
    if doc_text is None or start is None or end is None:
        return False
    if not 0 <= start <= end <= len(doc_text):
        return False
    return doc_text[start:end] == quote


# --------------------------------------------------------------------------- metrics


def hit_rank(retrieved: Sequence[Sequence[str]], sources: Collection[str]) -> int | None:
    """1-based rank of the first result standing for a gold source, None if none; for hit@k/MRR."""
    gold = set(sources)
    for rank, doc_ids in enumerate(retrieved, start=1):
        if gold.intersection(doc_ids):
            return rank
    return None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def hit_at(ranks: Sequence[int | None], k: int) -> float | None:
    """Fraction of questions with a gold source in the top `k`; None when there are none."""
    return _mean([1.0 if r is not None and r <= k else 0.0 for r in ranks])


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float | None:
    """Mean of 1/rank (0 for a miss) over the questions; None when there are none."""
    return _mean([1.0 / r if r is not None else 0.0 for r in ranks])


def groups_satisfied(text: str, must: Sequence[Sequence[str]]) -> list[bool]:
    """Per must-group, whether any alternative occurs in `text` (case/typography-insensitive)."""
    hay = normalize_for_match(text)
    return [any(normalize_for_match(alt) in hay for alt in group) for group in must]


def citation_correct(citation: CitationCheck, sources: Collection[str]) -> bool:
    """True when a citation points at a gold source, directly or through a near-duplicate."""
    gold = set(sources)
    return citation.doc_id in gold or bool(gold.intersection(citation.also_reported_by))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0-100, linear interpolation) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


# --------------------------------------------------------------------------- report model


class _Aliased(_Model):
    model_config = ConfigDict(
        extra="forbid", serialize_by_alias=True, validate_by_name=True, validate_by_alias=True
    )


class RetrievalMetrics(_Aliased):
    """Document-level retrieval over answerable questions; a near-duplicate copy counts."""

    hit_at_1: float | None = Field(alias="hit@1", description="Gold source ranked first.")
    hit_at_3: float | None = Field(alias="hit@3", description="Gold source in the top 3.")
    hit_at_5: float | None = Field(alias="hit@5", description="Gold source in the top 5.")
    mrr: float | None = Field(description="Mean reciprocal rank of the first gold source.")


class AnswerMetrics(_Model):
    """Answer quality over answerable questions; an abstention counts as wrong."""

    accuracy: float | None = Field(description="Fraction with every must-group satisfied.")
    key_recall: float | None = Field(description="Mean fraction of must-groups satisfied.")


class CitationMetrics(_Model):
    """Whether the citations point at the right documents and quote them exactly."""

    precision: float | None = Field(
        description="Citations of answerable questions that point at a gold source (micro)."
    )
    verbatim_rate: float | None = Field(
        description="Quotes shown (all questions) that are exact spans of their document."
    )


class AbstentionMetrics(_Model):
    """Whether the system declines exactly the questions the corpus does not answer."""

    precision: float | None = Field(description="Abstentions on truly unanswerable questions.")
    recall: float | None = Field(description="Unanswerable questions abstained on.")


class LatencyMetrics(_Model):
    """Wall time per question, retrieval and answering together, in milliseconds."""

    p50: float | None = Field(description="Median.")
    p95: float | None = Field(description="95th percentile (linear interpolation).")


class Counts(_Model):
    """How many questions (or citations) each metric was computed over."""

    retrieval: int = Field(description="Answerable questions with gold sources.")
    answer: int = Field(description="Answerable questions.")
    citation_precision: int = Field(description="Citations on answerable questions.")
    verbatim: int = Field(description="Citations on all questions.")
    abstention_precision: int = Field(description="Questions abstained on.")
    abstention_recall: int = Field(description="Unanswerable questions.")
    latency: int = Field(description="Questions answered without error.")
    errors: int = Field(description="Questions that raised an exception.")


class EvalConfig(_Model):
    """What was evaluated, so two reports can be told apart and compared."""

    retriever: str = Field(description="hybrid, dense, bm25 or llamaindex-default.")
    mode: str | None = Field(description="Answering mode; None for the baseline (no answerer).")
    k: int = Field(description="Passages given to the answerer (baseline: citations shown).")
    retrieval_depth: int = Field(description="Results ranked for the retrieval metrics.")
    gold_file: str | None = Field(description="Gold file scored against, if read from a file.")
    corpus_docs: int | None = Field(description="Documents in the corpus, when known.")
    answer_from: str = Field(description="What the answer metrics read as the answer.")
    missing_sources: list[str] = Field(
        default_factory=list,
        description="Gold sources the corpus does not hold; questions citing them cannot hit.",
    )


class QuestionFailure(_Model):
    """One question that went wrong in some way, with what was expected and what came back."""

    id: str = Field(description="Gold question id.")
    question: str = Field(description="The question.")
    kinds: list[FailureKind] = Field(description="What went wrong, one code per problem.")
    details: list[str] = Field(description="Each problem in words (which phrases, which quotes).")
    expected: str = Field(description="What the gold file expects.")
    got: str = Field(description="What came back (the answer, or the exception).")


class EvalReport(_Model):
    """Every metric of one evaluation run; `model_dump_json()` is what `--json` prints."""

    n: int = Field(description="Questions evaluated.")
    retrieval: RetrievalMetrics = Field(description="hit@1, hit@3, hit@5 and MRR.")
    answer: AnswerMetrics = Field(description="Accuracy and key-phrase recall.")
    citations: CitationMetrics = Field(description="Citation precision and verbatim-quote rate.")
    abstention: AbstentionMetrics = Field(description="Abstention precision and recall.")
    latency_ms: LatencyMetrics = Field(description="Per-question latency percentiles.")
    failures: list[QuestionFailure] = Field(description="Questions with any problem, gold order.")
    counts: Counts = Field(description="How many items each metric is computed over.")
    config: EvalConfig = Field(description="What was evaluated.")


# --------------------------------------------------------------------------- scoring


def _expected(item: GoldItem) -> str:
    if not item.answerable:
        return "abstain (not answerable from the corpus)"
    groups = "; ".join(" | ".join(g) for g in item.must)
    return f"sources {', '.join(item.sources)}; must mention: {groups}"


def _fail(item: GoldItem, out: Outcome) -> QuestionFailure | None:
    if out.error is not None:
        # Its answer counts as wrong (and as not abstaining); its search counts if it ran.
        return QuestionFailure(
            id=item.id,
            question=item.question,
            kinds=["error"],
            details=[out.error],
            expected=_expected(item),
            got=out.error,
        )
    kinds: list[FailureKind] = []
    details: list[str] = []
    if item.answerable and item.sources and hit_rank(out.retrieved, item.sources) is None:
        kinds.append("retrieval_miss")
        got = ", ".join(r[0] for r in out.retrieved) or "nothing"
        details.append(f"no gold source in the top {len(out.retrieved)}: got {got}")
    if item.answerable:
        if out.abstained:
            kinds.append("wrong_abstention")
            details.append("abstained on an answerable question")
        missing = [
            " | ".join(g)
            for g, ok in zip(item.must, groups_satisfied(out.answer_text, item.must), strict=True)
            if not ok or out.abstained
        ]
        if missing:
            kinds.append("missing_key_phrases")
            details.append("missing: " + "; ".join(missing))
        off = [c.doc_id for c in out.citations if not citation_correct(c, item.sources)]
        if off:
            kinds.append("off_source_citation")
            details.append("cited outside the gold sources: " + ", ".join(off))
    elif not out.abstained:
        kinds.append("wrong_abstention")
        details.append("answered a question the corpus does not answer")
    bad = [c for c in out.citations if not c.verbatim]
    if bad:
        kinds.append("non_verbatim_quote")
        details.extend(f"not verbatim in {c.doc_id} [{c.start}:{c.end}]: {c.quote!r}" for c in bad)
    if not kinds:
        return None
    got = f"(abstained) {out.answer_text}".strip() if out.abstained else out.answer_text
    return QuestionFailure(
        id=item.id,
        question=item.question,
        kinds=kinds,
        details=details,
        expected=_expected(item),
        got=got,
    )


def score(gold: Sequence[GoldItem], outcomes: Sequence[Outcome], config: EvalConfig) -> EvalReport:
    """The `EvalReport` of `outcomes` against `gold` (matched by id); pure, so it can be tested."""
    by_id = {o.id: o for o in outcomes}
    missing = [g.id for g in gold if g.id not in by_id]
    if missing:
        raise ValueError(f"no outcome for gold question(s): {', '.join(missing)}")
    pairs = [(g, by_id[g.id]) for g in gold]
    answerable = [(g, o) for g, o in pairs if g.answerable]
    ranks = [hit_rank(o.retrieved, g.sources) for g, o in answerable if g.sources]

    correct, recalls = [], []
    for g, o in answerable:
        sat = [False] * len(g.must) if o.abstained else groups_satisfied(o.answer_text, g.must)
        correct.append(1.0 if sat and all(sat) else 0.0)
        recalls.append(sum(sat) / len(sat) if sat else 0.0)

    cited = [(c, g) for g, o in answerable for c in o.citations]
    all_citations = [c for _, o in pairs for c in o.citations]
    abstained = [g for g, o in pairs if o.abstained]
    unanswerable = [o for g, o in pairs if not g.answerable]
    latencies = [o.latency_ms for _, o in pairs if o.latency_ms is not None]

    return EvalReport(
        n=len(pairs),
        retrieval=RetrievalMetrics.model_validate(
            {
                "hit@1": hit_at(ranks, 1),
                "hit@3": hit_at(ranks, 3),
                "hit@5": hit_at(ranks, 5),
                "mrr": mean_reciprocal_rank(ranks),
            }
        ),
        answer=AnswerMetrics(accuracy=_mean(correct), key_recall=_mean(recalls)),
        citations=CitationMetrics(
            precision=_ratio(sum(citation_correct(c, g.sources) for c, g in cited), len(cited)),
            verbatim_rate=_ratio(sum(c.verbatim for c in all_citations), len(all_citations)),
        ),
        abstention=AbstentionMetrics(
            precision=_ratio(sum(not g.answerable for g in abstained), len(abstained)),
            recall=_ratio(sum(o.abstained for o in unanswerable), len(unanswerable)),
        ),
        latency_ms=LatencyMetrics(p50=percentile(latencies, 50), p95=percentile(latencies, 95)),
        failures=[f for g, o in pairs if (f := _fail(g, o)) is not None],
        counts=Counts(
            retrieval=len(ranks),
            answer=len(answerable),
            citation_precision=len(cited),
            verbatim=len(all_citations),
            abstention_precision=len(abstained),
            abstention_recall=len(unanswerable),
            latency=len(latencies),
            errors=sum(o.error is not None for _, o in pairs),
        ),
        config=config,
    )
