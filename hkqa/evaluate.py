"""Scores hkqa (or the by-hand LlamaIndex baseline) against a gold file of questions and answers.

The pieces, in the order they run:

- `load_gold` reads and validates a JSONL gold file into `GoldItem`s, naming every bad line.
- `run_eval` asks each question and records what came back as an `Outcome`
  (`outcome_from_answer` for hkqa, `outcome_from_baseline` for the baseline).
- `score` turns gold items and outcomes into an `EvalReport`, with the pure metric functions
  below (`hit_rank`, `hit_at`, `mean_reciprocal_rank`, `groups_satisfied`, ...).

Every metric is computed over the questions it applies to and reported with that count; a metric
with nothing to apply to is None, never 0. For the `llamaindex-default` retriever, the "answer" is
the top-1 retrieved node's text, the citations are the top-k nodes (node text as the quote) and
it never abstains: what a pipeline built by hand without an LLM would show.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hkqa.errors import ConfigError, GoldFileError, HkqaError
from hkqa.normalize import normalize_for_match
from hkqa.types import Answer, Document, SearchResult

if TYPE_CHECKING:
    from hkqa.baseline import BaselineHit, LlamaIndexBaseline
    from hkqa.config import Settings

Retriever = Literal["hybrid", "dense", "bm25"]
EvalRetriever = Literal["hybrid", "dense", "bm25", "llamaindex-default"]
EvalMode = Literal["auto", "extractive", "llm"]
BASELINE = "llamaindex-default"
RETRIEVAL_DEPTH = 5  # hit@5 needs five results, whatever k the answers use
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


# --------------------------------------------------------------------------- gold file


class GoldItem(_Model):
    """One gold question: whether the corpus answers it, where, and what an answer must say."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(min_length=1, description="Unique id of the question within its file.")
    question: str = Field(description="The question as a user would ask it.")
    answerable: bool = Field(description="True when the corpus answers the question.")
    sources: list[str] = Field(
        description="doc_ids that answer it; empty exactly when the question is unanswerable."
    )
    must: list[list[str]] = Field(
        description=(
            "Key-phrase groups an answer must all satisfy; a group is satisfied when any of its "
            "alternatives occurs in the answer (case- and typography-insensitive). Ignored for "
            "unanswerable questions."
        )
    )
    notes: str | None = Field(default=None, description="Where the answer is, for people.")

    @model_validator(mode="after")
    def _consistent(self) -> GoldItem:
        problems: list[str] = []
        if not self.question.strip():
            problems.append("'question' is empty")
        if any(not s.strip() for s in self.sources):
            problems.append("'sources' has an empty doc_id")
        for i, group in enumerate(self.must):
            if not group:
                problems.append(f"'must' group {i} is empty")
            elif any(not alt.strip() for alt in group):
                problems.append(f"'must' group {i} has an empty alternative")
        if self.answerable and not self.sources:
            problems.append("answerable question has no 'sources'")
        if self.answerable and not self.must:
            problems.append("answerable question has no 'must' groups")
        if not self.answerable and self.sources:
            problems.append("unanswerable question lists 'sources'")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def bundled_gold_path() -> Path:
    """Path of the gold file shipped with hkqa; what `run_eval` scores against by default."""
    return Path(str(resources.files("hkqa.data").joinpath("gold.jsonl")))


def _describe(err: ValidationError) -> list[str]:
    out: list[str] = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"])
        if e["type"] == "missing":
            out.append(f"missing key '{loc}'")
        elif e["type"] == "extra_forbidden":
            out.append(f"unexpected key '{loc}'")
        elif not loc:
            out.append(str(e["msg"]).removeprefix("Value error, "))
        else:
            got = type(e["input"]).__name__
            out.append(f"'{loc}': {e['msg']} (got {got})")
    return out


def load_gold(path: Path) -> list[GoldItem]:
    """The validated questions of a JSONL gold file; raises GoldFileError naming every bad line."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldFileError(
            f"cannot read gold file {path}: {exc}", hint="pass the path of a UTF-8 JSONL file"
        ) from exc
    items: list[GoldItem] = []
    errors: list[str] = []
    first_seen: dict[str, int] = {}
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {lineno}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            errors.append(f"line {lineno}: expected a JSON object, got {type(obj).__name__}")
            continue
        try:
            item = GoldItem.model_validate(obj)
        except ValidationError as exc:
            errors.extend(f"line {lineno}: {msg}" for msg in _describe(exc))
            continue
        if item.id in first_seen:
            errors.append(
                f"line {lineno}: duplicate id {item.id!r} (first on line {first_seen[item.id]})"
            )
            continue
        first_seen[item.id] = lineno
        items.append(item)
    if errors:
        raise GoldFileError(
            f"gold file {path} has {len(errors)} problem(s):\n  " + "\n  ".join(errors),
            hint=(
                "each non-blank line must be one JSON object with keys id, question, answerable, "
                "sources, must (and optionally notes)"
            ),
        )
    if not items:
        raise GoldFileError(f"gold file {path} has no questions", hint="add one JSON object a line")
    return items


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
