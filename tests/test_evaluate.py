"""Evaluation: metrics on hand-made cases with known answers, the gold loader, the report writer."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hkqa.config import Settings
from hkqa.errors import ConfigError, GoldFileError
from hkqa.evaluate import (
    CitationCheck,
    EvalConfig,
    EvalReport,
    GoldItem,
    Outcome,
    bundled_gold_path,
    citation_correct,
    groups_satisfied,
    hit_at,
    hit_rank,
    is_verbatim,
    load_gold,
    mean_reciprocal_rank,
    outcome_from_answer,
    outcome_from_baseline,
    percentile,
    report_json,
    run_eval,
    score,
)
from hkqa.report import CHART_NAME, REPORT_NAME, format_table, render_markdown, write_report
from hkqa.types import Answer, Chunk, Citation, Document, Passage, SearchResult

REQUIRED_KEYS = {"n", "retrieval", "answer", "citations", "abstention", "latency_ms", "failures"}
EXTRA_KEYS = {"counts", "config"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _config(retriever: str = "hybrid", mode: str | None = "extractive") -> EvalConfig:
    return EvalConfig(
        retriever=retriever,
        mode=mode,
        k=5,
        retrieval_depth=5,
        gold_file=None,
        corpus_docs=3,
        answer_from="test",
    )


def _gold(
    id: str, answerable: bool = True, sources: list[str] | None = None, must=None
) -> GoldItem:
    return GoldItem(
        id=id,
        question=f"question {id}?",
        answerable=answerable,
        sources=sources if sources is not None else (["a"] if answerable else []),
        must=must if must is not None else ([["yes"]] if answerable else []),
    )


def _cite(doc_id: str, verbatim: bool = True, also: list[str] | None = None) -> CitationCheck:
    return CitationCheck(
        doc_id=doc_id,
        also_reported_by=also or [],
        quote="q",
        start=0,
        end=1,
        verbatim=verbatim,
    )


# --------------------------------------------------------------------------- retrieval


def test_hit_rank_finds_first_gold_source() -> None:
    assert hit_rank([["x"], ["y"], ["a"], ["a"]], ["a", "b"]) == 3
    assert hit_rank([["b"], ["a"]], ["a", "b"]) == 1


def test_hit_rank_counts_a_near_duplicate_copy() -> None:
    # The passage shown is from "x", but it was collapsed from a group that includes "a".
    assert hit_rank([["z"], ["x", "a"]], ["a"]) == 2
    assert hit_rank([["z"], ["x", "c"]], ["a"]) is None


def test_hit_rank_edge_cases() -> None:
    assert hit_rank([], ["a"]) is None  # empty results
    assert hit_rank([["a"]], []) is None  # no gold sources


def test_hit_at_and_mrr_known_values() -> None:
    ranks = [1, 3, None, 2]
    assert hit_at(ranks, 1) == pytest.approx(0.25)
    assert hit_at(ranks, 3) == pytest.approx(0.75)
    assert hit_at(ranks, 5) == pytest.approx(0.75)
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert hit_at([], 1) is None
    assert mean_reciprocal_rank([]) is None
    assert mean_reciprocal_rank([None, None]) == 0.0


# --------------------------------------------------------------------------- answers and quotes


def test_groups_satisfied_is_case_and_typography_insensitive() -> None:
    text = "FACEBOOK said it would “pause”; we don’t have user data."
    must = [["facebook"], ["paused", '"pause"'], ["don't have user data"], ["Telegram"]]
    assert groups_satisfied(text, must) == [True, True, True, False]
    assert groups_satisfied("", [["x"]]) == [False]


def test_citation_correct_through_near_duplicate() -> None:
    assert citation_correct(_cite("a"), ["a"])
    assert citation_correct(_cite("x", also=["a"]), ["a"])
    assert not citation_correct(_cite("x", also=["y"]), ["a"])


def test_is_verbatim_detects_a_non_verbatim_quote() -> None:
    text = "Twitter said it had “grave concerns”."
    start = text.index("grave")
    end = start + len("grave concerns")
    assert is_verbatim(text, "grave concerns", start, end)
    assert not is_verbatim(text, "grave concern", start, end)  # shorter than the span
    assert not is_verbatim(text, "grave concerns", start + 1, end + 1)  # shifted
    assert not is_verbatim(text, '"grave concerns"', start - 1, end + 1)  # straightened quotes
    assert not is_verbatim(text, "x", 10, 5)
    assert not is_verbatim(text, "x", None, None)
    assert not is_verbatim(None, "grave concerns", start, end)  # unknown document


@given(st.text(min_size=1, max_size=200), st.data())
def test_is_verbatim_accepts_exactly_the_spans(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert is_verbatim(text, text[start:end], start, end)
    altered = text[start:end] + "\x00"
    assert not is_verbatim(text, altered, start, end)


@given(st.lists(st.floats(0, 1e5, allow_nan=False), max_size=50), st.sampled_from([50, 95]))
def test_percentile_matches_numpy(values: list[float], q: int) -> None:
    got = percentile(values, q)
    if not values:
        assert got is None
    else:
        assert got == pytest.approx(float(np.percentile(values, q)), rel=1e-9, abs=1e-9)


def test_percentile_known_values() -> None:
    assert percentile([40.0, 10.0, 30.0, 20.0], 50) == pytest.approx(25.0)
    assert percentile([10.0, 20.0, 30.0, 40.0], 95) == pytest.approx(38.5)


# --------------------------------------------------------------------------- outcomes


def _doc(doc_id: str, text: str) -> Document:
    return Document(
        doc_id=doc_id, text=text, content_hash=hashlib.sha256(text.encode()).hexdigest()
    )


def _passage(rank: int, doc_id: str, text: str, also: list[str] | None = None) -> Passage:
    chunk = Chunk(
        chunk_id=f"{doc_id}-{rank}",
        doc_id=doc_id,
        text=text,
        start=0,
        end=len(text),
        context_start=0,
        context_end=len(text),
        position=0,
        dup_group=f"{doc_id}-{rank}",
    )
    return Passage(rank=rank, score=1.0 / rank, chunk=chunk, also_reported_by=also or [])


def test_outcome_from_answer_reads_search_and_checks_quotes() -> None:
    docs = {"a": "Facebook will pause requests.", "b": "Twitter paused too."}
    search = SearchResult(
        question="q",
        passages=[_passage(1, "b", docs["b"], also=["c"]), _passage(2, "a", docs["a"])],
    )
    good = Citation(n=1, doc_id="a", quote="pause requests", start=14, end=28, verified=True)
    bad = Citation(n=2, doc_id="b", quote="Twitter paused", start=0, end=13, verified=False)
    unknown = Citation(n=3, doc_id="zz", quote="x", start=0, end=1, verified=False)
    answer = Answer(
        question="q",
        text="They paused [1][2][3].",
        citations=[good, bad, unknown],
        mode="extractive",
        backend="extractive",
    )
    out = outcome_from_answer("q1", search, answer, docs.get, 12.5)
    assert out.retrieved == [["b", "c"], ["a"]]
    assert [c.verbatim for c in out.citations] == [True, False, False]
    assert out.latency_ms == 12.5
    assert not out.abstained


def test_outcome_from_baseline_answers_with_top_node_and_never_abstains() -> None:
    from hkqa.baseline import BaselineHit

    docs = {"a": "alpha beta gamma", "b": "delta epsilon"}
    hits = [
        BaselineHit(doc_id="b", text="delta", score=0.9, start=0, end=5),
        BaselineHit(doc_id="a", text="beta gamma", score=0.8, start=6, end=16),
        BaselineHit(doc_id="a", text="no offsets", score=0.7),
    ]
    out = outcome_from_baseline("q", hits, 2, docs.get, 3.0)
    assert out.answer_text == "delta"
    assert out.retrieved == [["b"], ["a"], ["a"]]
    assert [c.doc_id for c in out.citations] == ["b", "a"]  # top-k only
    assert all(c.verbatim for c in out.citations)
    assert not out.abstained
    empty = outcome_from_baseline("q", [], 2, docs.get, 1.0)
    assert empty.answer_text == "" and not empty.abstained and empty.citations == []
    loose = outcome_from_baseline("q", hits[2:], 2, docs.get, 1.0)
    assert [c.verbatim for c in loose.citations] == [False]


# --------------------------------------------------------------------------- scoring


def _mixed() -> tuple[list[GoldItem], list[Outcome]]:
    gold = [
        _gold("q1", sources=["a"], must=[["Facebook"], ["pause", "paused"]]),
        _gold("q2", sources=["b"], must=[["Telegram"]]),
        _gold("u1", answerable=False),
        _gold("u2", answerable=False),
    ]
    outcomes = [
        Outcome(
            id="q1",
            retrieved=[["c"], ["a"]],
            answer_text="Facebook paused [1][2].",
            citations=[_cite("a"), _cite("c")],
            latency_ms=10.0,
        ),
        Outcome(id="q2", retrieved=[["c", "b"]], abstained=True, latency_ms=20.0),
        Outcome(id="u1", retrieved=[["a"]], abstained=True, latency_ms=30.0),
        Outcome(
            id="u2",
            retrieved=[["a"]],
            answer_text="An answer [1].",
            citations=[_cite("a", verbatim=False)],
            latency_ms=40.0,
        ),
    ]
    return gold, outcomes


def test_score_known_numbers() -> None:
    gold, outcomes = _mixed()
    r = score(gold, outcomes, _config())
    assert r.n == 4
    # ranks: q1 -> 2, q2 -> 1 through the near-duplicate of "b"
    assert r.retrieval.hit_at_1 == pytest.approx(0.5)
    assert r.retrieval.hit_at_3 == pytest.approx(1.0)
    assert r.retrieval.mrr == pytest.approx(0.75)
    assert r.answer.accuracy == pytest.approx(0.5)  # q2 abstained: wrong
    assert r.answer.key_recall == pytest.approx(0.5)
    assert r.citations.precision == pytest.approx(0.5)  # q1: a yes, c no
    assert r.citations.verbatim_rate == pytest.approx(2 / 3)  # u2's quote is not verbatim
    assert r.abstention.precision == pytest.approx(0.5)  # abstained on q2 and u1
    assert r.abstention.recall == pytest.approx(0.5)  # u1 yes, u2 no
    assert r.latency_ms.p50 == pytest.approx(25.0)
    c = r.counts
    assert (c.retrieval, c.answer, c.citation_precision, c.verbatim) == (2, 2, 2, 3)
    assert (c.abstention_precision, c.abstention_recall, c.latency, c.errors) == (2, 2, 4, 0)
    kinds = {f.id: f.kinds for f in r.failures}
    assert kinds == {
        "q1": ["off_source_citation"],
        "q2": ["wrong_abstention", "missing_key_phrases"],
        "u2": ["wrong_abstention", "non_verbatim_quote"],
    }
    q2 = next(f for f in r.failures if f.id == "q2")
    assert "Telegram" in " ".join(q2.details)
    assert q2.got.startswith("(abstained)")


def test_score_missing_key_phrases_names_them() -> None:
    gold = [_gold("q", must=[["Apple"], ["Yahoo"], ["Cisco", "Cisco Systems"]])]
    out = [Outcome(id="q", retrieved=[["a"]], answer_text="Apple and Yahoo.", latency_ms=1.0)]
    r = score(gold, out, _config())
    assert r.answer.accuracy == 0.0
    assert r.answer.key_recall == pytest.approx(2 / 3)
    (f,) = r.failures
    assert f.kinds == ["missing_key_phrases"]
    assert f.details == ["missing: Cisco | Cisco Systems"]
    assert "Apple" in f.expected and f.got == "Apple and Yahoo."


def test_score_everything_abstained() -> None:
    gold = [_gold("q1"), _gold("q2"), _gold("u1", answerable=False)]
    outs = [Outcome(id=g.id, retrieved=[["a"]], abstained=True, latency_ms=1.0) for g in gold]
    r = score(gold, outs, _config())
    assert r.answer.accuracy == 0.0 and r.answer.key_recall == 0.0
    assert r.abstention.precision == pytest.approx(1 / 3)
    assert r.abstention.recall == 1.0
    assert r.citations.precision is None and r.citations.verbatim_rate is None
    assert r.counts.citation_precision == 0


def test_score_nothing_abstained_leaves_precision_undefined() -> None:
    gold = [_gold("q1"), _gold("u1", answerable=False)]
    outs = [
        Outcome(id="q1", retrieved=[["a"]], answer_text="yes", latency_ms=1.0),
        Outcome(id="u1", retrieved=[["a"]], answer_text="made up", latency_ms=1.0),
    ]
    r = score(gold, outs, _config())
    assert r.abstention.precision is None
    assert r.counts.abstention_precision == 0
    assert r.abstention.recall == 0.0
    assert r.answer.accuracy == 1.0


def test_score_no_gold_sources_leaves_retrieval_undefined() -> None:
    gold = [_gold("u1", answerable=False), _gold("u2", answerable=False)]
    outs = [Outcome(id=g.id, abstained=True, latency_ms=2.0) for g in gold]
    r = score(gold, outs, _config())
    assert r.retrieval.hit_at_1 is None and r.retrieval.mrr is None
    assert r.answer.accuracy is None and r.answer.key_recall is None
    assert r.counts.retrieval == 0 and r.counts.answer == 0
    assert r.abstention.precision == 1.0 and r.abstention.recall == 1.0
    assert r.failures == []


def test_score_empty_results_is_a_retrieval_miss() -> None:
    gold = [_gold("q1")]
    r = score(gold, [Outcome(id="q1", retrieved=[], answer_text="yes", latency_ms=1.0)], _config())
    assert r.retrieval.hit_at_5 == 0.0 and r.retrieval.mrr == 0.0
    assert r.failures[0].kinds == ["retrieval_miss"]
    assert "got nothing" in r.failures[0].details[0]


def test_score_error_counts_against_and_is_reported() -> None:
    gold = [_gold("q1"), _gold("u1", answerable=False)]
    outs = [
        Outcome(id="q1", error="QuestionError: question is empty"),
        Outcome(id="u1", abstained=True, latency_ms=5.0),
    ]
    r = score(gold, outs, _config())
    assert r.counts.errors == 1 and r.counts.latency == 1
    assert r.retrieval.hit_at_1 == 0.0 and r.answer.accuracy == 0.0
    (f,) = r.failures
    assert f.kinds == ["error"] and f.got == "QuestionError: question is empty"
    assert r.latency_ms.p50 == 5.0 and r.latency_ms.p95 == 5.0


def test_score_requires_an_outcome_per_question() -> None:
    with pytest.raises(ValueError, match="q2"):
        score([_gold("q1"), _gold("q2")], [Outcome(id="q1")], _config())


def test_score_is_deterministic() -> None:
    gold, outcomes = _mixed()
    assert score(gold, outcomes, _config()) == score(gold, outcomes, _config())


# --------------------------------------------------------------------------- JSON


def test_json_has_exactly_the_required_keys() -> None:
    gold, outcomes = _mixed()
    data = json.loads(report_json(score(gold, outcomes, _config())))
    assert set(data) == REQUIRED_KEYS | EXTRA_KEYS
    assert set(data["retrieval"]) == {"hit@1", "hit@3", "hit@5", "mrr"}
    assert set(data["answer"]) == {"accuracy", "key_recall"}
    assert set(data["citations"]) == {"precision", "verbatim_rate"}
    assert set(data["abstention"]) == {"precision", "recall"}
    assert set(data["latency_ms"]) == {"p50", "p95"}
    assert data["retrieval"]["hit@1"] == pytest.approx(0.5)
    assert isinstance(data["failures"], list) and data["failures"][0]["id"] == "q1"
    # model_dump_json() (what the CLI prints) uses the same keys, and it round-trips
    report = EvalReport.model_validate_json(report_json(score(gold, outcomes, _config())))
    assert json.loads(report.model_dump_json())["retrieval"]["hit@3"] == 1.0


def test_json_undefined_metrics_are_null_not_zero() -> None:
    gold = [_gold("u1", answerable=False)]
    data = json.loads(report_json(score(gold, [Outcome(id="u1", answer_text="x")], _config())))
    assert data["retrieval"]["hit@1"] is None
    assert data["answer"]["accuracy"] is None
    assert data["abstention"]["precision"] is None
    assert data["latency_ms"]["p50"] is None


# --------------------------------------------------------------------------- gold file

_GOOD = {
    "id": "q1",
    "question": "Who paused?",
    "answerable": True,
    "sources": ["a"],
    "must": [["Facebook"]],
}
_UNANSWERABLE = {"id": "u1", "question": "Amazon?", "answerable": False, "sources": [], "must": []}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_gold_reads_valid_lines_and_skips_blank_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(_GOOD), "", "   ", json.dumps(_UNANSWERABLE)])
    items = load_gold(path)
    assert [i.id for i in items] == ["q1", "u1"]
    assert items[0].must == [["Facebook"]] and items[1].answerable is False


def test_load_gold_reports_every_bad_line_by_number(tmp_path: Path) -> None:
    bad = {
        2: "{not json",
        3: json.dumps({k: v for k, v in _GOOD.items() if k != "question"} | {"id": "m"}),
        4: json.dumps(_GOOD | {"id": "x", "extra": 1}),
        5: json.dumps(_GOOD | {"id": "t", "answerable": "yes"}),
        6: json.dumps(_GOOD | {"id": "s", "sources": []}),
        7: json.dumps(_GOOD | {"id": "g", "must": []}),
        8: json.dumps(_UNANSWERABLE | {"id": "u", "sources": ["a"]}),
        9: json.dumps(_GOOD),  # duplicate of line 1
        10: json.dumps(_GOOD | {"id": "e", "question": "  "}),
        11: json.dumps(_GOOD | {"id": "eg", "must": [["ok"], []]}),
        12: json.dumps(["a", "list"]),
    }
    lines = [json.dumps(_GOOD)] + [bad[n] for n in range(2, 13)]
    with pytest.raises(GoldFileError) as info:
        load_gold(_write(tmp_path, lines))
    msg = str(info.value)
    for n in bad:
        assert f"line {n}:" in msg, f"line {n} not reported in:\n{msg}"
    assert "line 1:" not in msg
    assert "invalid JSON" in msg
    assert "missing key 'question'" in msg
    assert "unexpected key 'extra'" in msg
    assert "'answerable'" in msg
    assert "no 'sources'" in msg and "no 'must' groups" in msg
    assert "unanswerable question lists 'sources'" in msg
    assert "duplicate id 'q1' (first on line 1)" in msg
    assert "'question' is empty" in msg
    assert "'must' group 1 is empty" in msg
    assert "expected a JSON object" in msg
    assert info.value.hint is not None


def test_load_gold_missing_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(GoldFileError, match="cannot read"):
        load_gold(tmp_path / "nope.jsonl")
    with pytest.raises(GoldFileError, match="no questions"):
        load_gold(_write(tmp_path, ["", ""]))


def test_bundled_gold_file_loads() -> None:
    path = bundled_gold_path()
    items = load_gold(path)
    assert items and any(i.answerable for i in items) and any(not i.answerable for i in items)
    corpus = {p.stem for p in (Path(__file__).parent.parent / "hkqa" / "corpus").glob("*.txt")}
    assert {s for i in items for s in i.sources} <= corpus


# --------------------------------------------------------------------------- runner


class ScriptedQA:
    """Answers from a script and records every call; stands in for the facade in runner tests."""

    def __init__(self, docs: dict[str, str], fail_on: str, settings: Settings) -> None:
        self.docs = docs
        self.fail_on = fail_on
        self.settings = settings
        self.calls: list[tuple[str, str, dict[str, object]]] = []

    def search(self, question: str, *, k=None, retriever="hybrid") -> SearchResult:
        self.calls.append(("search", question, {"k": k, "retriever": retriever}))
        return SearchResult(question=question, passages=[_passage(1, "a", self.docs["a"])])

    def ask(self, question: str, *, k=None, mode=None, retriever="hybrid") -> Answer:
        self.calls.append(("ask", question, {"k": k, "mode": mode, "retriever": retriever}))
        if question == self.fail_on:
            raise RuntimeError("boom")
        quote = "Facebook"
        cite = Citation(n=1, doc_id="a", quote=quote, start=0, end=8, verified=True)
        return Answer(
            question=question,
            text="Facebook [1]",
            citations=[cite],
            mode="extractive",
            backend="extractive",
        )

    def document(self, doc_id: str) -> Document:
        return _doc(doc_id, self.docs[doc_id])

    def documents(self) -> list[Document]:
        return [_doc(d, t) for d, t in sorted(self.docs.items())]


def test_run_eval_plumbing_with_a_scripted_answerer(tmp_path: Path) -> None:
    qa = ScriptedQA({"a": "Facebook paused."}, fail_on="question q2?", settings=Settings())
    gold = [_gold("q1", must=[["facebook"]]), _gold("q2")]
    path = _write(tmp_path, [g.model_dump_json() for g in gold])
    r = run_eval(path, hkqa=qa, mode="extractive", retriever="bm25", k=3)
    assert qa.calls[0] == ("search", "question q1?", {"k": 5, "retriever": "bm25"})
    assert qa.calls[1] == (
        "ask",
        "question q1?",
        {"k": 3, "mode": "extractive", "retriever": "bm25"},
    )
    assert r.config.gold_file == str(path) and r.config.k == 3 and r.config.retrieval_depth == 5
    assert r.config.corpus_docs == 1 and r.config.missing_sources == []
    assert r.retrieval.hit_at_1 == 1.0  # q2's answer raised, but its search still counts
    assert r.answer.accuracy == pytest.approx(0.5)  # ... and its answer as wrong
    assert r.counts.errors == 1 and r.counts.latency == 1
    assert r.citations.verbatim_rate == 1.0
    assert [f.id for f in r.failures] == ["q2"]
    assert r.failures[0].got == "RuntimeError: boom"
    with pytest.raises(ConfigError):
        run_eval(gold, hkqa=qa, k=0)
    with pytest.raises(ConfigError, match="unknown retriever"):
        run_eval(gold, hkqa=qa, retriever="sparse")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- report writer


def test_write_report_markdown_and_png(tmp_path: Path) -> None:
    gold, outcomes = _mixed()
    hybrid = score(gold, outcomes, _config())
    empty = score(
        [_gold("u1", answerable=False)],
        [Outcome(id="u1", answer_text="x")],
        _config("llamaindex-default", None),
    )
    paths = write_report([hybrid, empty], tmp_path / "reports")
    md, png = paths
    assert md.name == REPORT_NAME and png.name == CHART_NAME
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    text = md.read_text(encoding="utf-8")
    assert "| hybrid / extractive / k=5 | 0.500 | 1.000 |" in text
    assert "| llamaindex-default / k=5 | n/a |" in text
    assert "top-1 retrieved node" in text  # the baseline's answer is explained
    assert "**q2** (wrong_abstention, missing_key_phrases)" in text
    assert "missing: Telegram" in text
    assert f"![comparison]({CHART_NAME})" in text
    assert "- **llamaindex-default / k=5**: answers from test" in text
    assert format_table([hybrid]).count("\n") == 2


def test_render_markdown_without_failures() -> None:
    gold = [_gold("q1")]
    r = score(gold, [Outcome(id="q1", retrieved=[["a"]], answer_text="yes")], _config())
    text = render_markdown([r], chart_name=None)
    assert "No failures." in text and "![" not in text


def test_write_report_without_matplotlib_asks_for_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    gold, outcomes = _mixed()
    with pytest.raises(ConfigError) as info:
        write_report([score(gold, outcomes, _config())], tmp_path)
    assert info.value.hint == "pip install 'hkqa[eval]'"


# --------------------------------------------------------------------------- baseline


@pytest.mark.slow
def test_baseline_builds_once_and_retrieves_real_offsets(tmp_path: Path) -> None:
    from hkqa.baseline import LlamaIndexBaseline

    docs = [
        _doc("fb", "Facebook paused the processing of data requests from Hong Kong police."),
        _doc("tg", "Telegram said it would not process any Hong Kong data requests."),
        _doc("zm", "Zoom studied ways to exclude Chinese residents from its service."),
    ]
    settings = Settings(index_dir=tmp_path / "idx")
    base = LlamaIndexBaseline(settings)
    assert base.build(docs) is True
    hits = base.retrieve_hits("Which firm will exclude Chinese residents?", 2)
    assert hits[0].doc_id == "zm" and len(hits) == 2
    texts = {d.doc_id: d.text for d in docs}
    assert all(is_verbatim(texts[h.doc_id], h.text, h.start, h.end) for h in hits)
    assert base.retrieve("Telegram", 1)[0][0] == "tg"

    again = LlamaIndexBaseline(settings)
    assert again.build(docs) is False and again.builds == 0  # unchanged: reused
    changed = [*docs[:2], _doc("zm", "Zoom said nothing at all.")]
    assert again.build(changed) is True and again.builds == 1
    assert {h.doc_id for h in again.retrieve_hits("Zoom", 3)} == {"fb", "tg", "zm"}


@pytest.mark.slow
def test_run_eval_llamaindex_default_scores_the_baseline(tmp_path: Path) -> None:
    docs = {
        "fb": "Facebook paused the processing of data requests from Hong Kong police.",
        "tg": "Telegram said it would not process any Hong Kong data requests.",
    }
    qa = ScriptedQA(docs, fail_on="", settings=Settings(index_dir=tmp_path / "idx"))
    gold = [
        GoldItem(
            id="tg",
            question="Which messaging app would not process requests?",
            answerable=True,
            sources=["tg"],
            must=[["Telegram"]],
        ),
        _gold("u1", answerable=False),
    ]
    r = run_eval(gold, hkqa=qa, retriever="llamaindex-default", k=1)
    assert qa.calls == []  # the baseline answers by itself
    assert r.config.mode is None and r.config.corpus_docs == 2
    assert r.retrieval.hit_at_1 == 1.0 and r.answer.accuracy == 1.0
    assert r.citations.verbatim_rate == 1.0 and r.counts.verbatim == 2
    assert r.abstention.recall == 0.0 and r.abstention.precision is None  # never abstains
    assert [f.id for f in r.failures] == ["u1"]
    assert (tmp_path / "idx" / "baseline").is_dir()
    assert "2 nodes from 2 documents" in r.config.answer_from
    elsewhere = [g.model_copy(update={"sources": ["gone"]}) for g in gold[:1]]
    r2 = run_eval(elsewhere, hkqa=qa, retriever="llamaindex-default", k=1)
    assert r2.config.missing_sources == ["gone"]
    assert r2.failures[0].kinds == ["retrieval_miss", "off_source_citation"]
    assert "gold sources not in the corpus: gone" in render_markdown([r2])
