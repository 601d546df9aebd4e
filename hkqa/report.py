"""Writes evaluation reports people can read: a markdown comparison and a PNG bar chart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hkqa.errors import ConfigError
from hkqa.evaluate import BASELINE, EvalReport

REPORT_NAME = "eval_report.md"
CHART_NAME = "eval_comparison.png"
_MAX_GOT = 400  # characters of an answer shown per failed question

# (column title, how to read the value from a report); the order of the table's columns.
_COLUMNS: list[tuple[str, str]] = [
    ("hit@1", "retrieval.hit_at_1"),
    ("hit@3", "retrieval.hit_at_3"),
    ("hit@5", "retrieval.hit_at_5"),
    ("MRR", "retrieval.mrr"),
    ("accuracy", "answer.accuracy"),
    ("key recall", "answer.key_recall"),
    ("citation precision", "citations.precision"),
    ("verbatim quotes", "citations.verbatim_rate"),
    ("abstention P", "abstention.precision"),
    ("abstention R", "abstention.recall"),
    ("p50 ms", "latency_ms.p50"),
    ("p95 ms", "latency_ms.p95"),
]
_CHART: list[tuple[str, str]] = [
    ("hit@1", "retrieval.hit_at_1"),
    ("MRR", "retrieval.mrr"),
    ("accuracy", "answer.accuracy"),
    ("abstention recall", "abstention.recall"),
]


def _value(report: EvalReport, path: str) -> float | None:
    section, name = path.split(".")
    value = getattr(getattr(report, section), name)
    return None if value is None else float(value)


def _fmt(value: float | None, *, ms: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if ms else f"{value:.3f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_label(report: EvalReport) -> str:
    """A short name for a configuration ("hybrid / extractive / k=5"); for rows and bars."""
    c = report.config
    parts = [c.retriever] + ([c.mode] if c.mode else []) + [f"k={c.k}"]
    return " / ".join(parts)


def format_table(reports: Sequence[EvalReport]) -> str:
    """A markdown table, configurations as rows and metrics as columns; to print or embed."""
    head = "| configuration | " + " | ".join(title for title, _ in _COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(_COLUMNS)
    rows = [
        "| "
        + _cell(config_label(r))
        + " | "
        + " | ".join(_fmt(_value(r, path), ms=path.startswith("latency")) for _, path in _COLUMNS)
        + " |"
        for r in reports
    ]
    return "\n".join([head, rule, *rows])


def format_counts(reports: Sequence[EvalReport]) -> str:
    """A markdown table of how many items each metric was computed over, per configuration."""
    head = (
        "| configuration | questions | retrieval | answerable | citations (answerable) "
        "| citations (all) | abstained | unanswerable | timed | errors |"
    )
    rule = "|---|" + "---:|" * 9
    rows = []
    for r in reports:
        c = r.counts
        cells = [
            r.n,
            c.retrieval,
            c.answer,
            c.citation_precision,
            c.verbatim,
            c.abstention_precision,
            c.abstention_recall,
            c.latency,
            c.errors,
        ]
        rows.append(f"| {_cell(config_label(r))} | " + " | ".join(map(str, cells)) + " |")
    return "\n".join([head, rule, *rows])


def _failures(report: EvalReport) -> list[str]:
    lines = [f"### {config_label(report)} — {len(report.failures)} of {report.n} questions", ""]
    if not report.failures:
        return [*lines, "No failures.", ""]
    for f in report.failures:
        got = f.got if len(f.got) <= _MAX_GOT else f.got[:_MAX_GOT] + " …"
        lines += [
            f"- **{f.id}** ({', '.join(f.kinds)}): {f.question}",
            f"  - expected: {f.expected}",
            f"  - got: {got or '(empty)'}",
            *(f"  - {d}" for d in f.details if d != f.got),
        ]
    return [*lines, ""]


def render_markdown(reports: Sequence[EvalReport], chart_name: str | None = CHART_NAME) -> str:
    """The whole markdown report as a string; `write_report` saves it beside the chart."""
    gold = sorted({r.config.gold_file for r in reports if r.config.gold_file})
    docs = sorted({r.config.corpus_docs for r in reports if r.config.corpus_docs is not None})
    lines = ["# hkqa evaluation", ""]
    if gold:
        lines.append(f"Gold file: {', '.join(gold)}  ")
    lines.append(f"Questions: {', '.join(sorted({str(r.n) for r in reports})) or '0'}  ")
    if docs:
        lines.append(f"Documents in the corpus: {', '.join(map(str, docs))}")
    missing = sorted({s for r in reports for s in r.config.missing_sources})
    if missing:
        lines += ["", f"**Warning:** gold sources not in the corpus: {', '.join(missing)}"]
    lines += ["", "## Metrics", "", format_table(reports), ""]
    if chart_name:
        lines += [f"![comparison]({chart_name})", ""]
    lines += ["## Counts", "", format_counts(reports), ""]
    lines += ["## Configurations", ""]
    lines += [
        f"- **{config_label(r)}**: answers from {r.config.answer_from}; retrieval metrics over "
        f"the top {r.config.retrieval_depth}"
        for r in reports
    ]
    lines.append("")
    lines += [
        "## How to read this",
        "",
        "- Each metric is computed over the items it applies to (see Counts); "
        "`n/a` means there was nothing to compute it over.",
        "- Retrieval is document-level over answerable questions: a passage that stands for "
        "near-duplicate copies counts as each of them.",
        "- Accuracy: every key-phrase group of the gold answer appears in the answer; key recall: "
        "the fraction that do. An abstention on an answerable question counts as wrong.",
        "- Verbatim quotes: citations whose quote is exactly `document.text[start:end]`.",
    ]
    if any(r.config.retriever == BASELINE for r in reports):
        lines.append(
            f"- `{BASELINE}` is a pipeline built by hand with LlamaIndex defaults "
            "(SentenceSplitter, VectorStoreIndex over Chroma, all-MiniLM-L6-v2, dense top-k). "
            "Without an LLM its answer is the top-1 retrieved node's text, its citations are the "
            "top-k nodes with their text as the quote, and it never abstains."
        )
    lines += ["", "## Failed questions", ""]
    for r in reports:
        lines += _failures(r)
    return "\n".join(lines).rstrip() + "\n"


def write_chart(reports: Sequence[EvalReport], path: Path) -> Path:
    """A PNG bar chart of hit@1, MRR, accuracy and abstention recall per configuration."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError(
            "the evaluation chart needs matplotlib", hint="pip install 'hkqa[eval]'"
        ) from exc
    fig = Figure(figsize=(9, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    n = max(len(reports), 1)
    width = 0.8 / n
    for i, report in enumerate(reports):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(_CHART))]
        values = [_value(report, path) for _, path in _CHART]
        bars = ax.bar(xs, [v or 0.0 for v in values], width, label=config_label(report))
        for bar, v in zip(bars, values, strict=True):
            ax.annotate(
                "n/a" if v is None else f"{v:.2f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(range(len(_CHART)), [title for title, _ in _CHART])
    ax.set_ylim(0, 1.35)  # headroom for the legend above the bars
    ax.set_ylabel("score (higher is better)")
    ax.set_title("hkqa evaluation: configurations compared")
    if reports:
        ax.legend(fontsize=8, loc="upper center", ncol=min(n, 3))
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def write_report(reports: list[EvalReport], out_dir: Path) -> list[Path]:
    """Writes the markdown report and its PNG chart into `out_dir`; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = write_chart(reports, out_dir / CHART_NAME)
    md = out_dir / REPORT_NAME
    md.write_text(render_markdown(reports, chart.name), encoding="utf-8")
    return [md, chart]
