"""The `hkqa` command: index, search, ask, repl, summarize, positions, eval, docs.

Imports stay inside the commands so that `hkqa --help` and a question at the prompt do not
pay for libraries the command does not use. Expected failures print their message and a
hint and exit 1, never a traceback; `index` exits 3 when it skipped files it could not read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from hkqa.api import Hkqa
    from hkqa.config import Settings
    from hkqa.types import Answer, Passage

EXIT_SKIPPED = 3


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("index location")
    group.add_argument("--index", metavar="DIR", help="index directory (default ./index)")
    group.add_argument(
        "--chroma-url", metavar="URL", help="use a `chroma run` server, e.g. http://127.0.0.1:8000"
    )
    group.add_argument("--collection", help="collection name prefix (default hkqa)")
    group.add_argument("--embed-model", metavar="NAME_OR_PATH", help="sentence-transformers model")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", type=int, metavar="N", help="passages to return (default 5)")
    parser.add_argument("--firm", metavar="NAME", help="only passages naming this firm")
    parser.add_argument("--since", metavar="DATE", help="only documents dated on/after YYYY-MM-DD")
    parser.add_argument("--until", metavar="DATE", help="only documents dated on/before YYYY-MM-DD")
    parser.add_argument("--outlet", metavar="NAME", help="only documents from this outlet")
    parser.add_argument(
        "--retriever",
        choices=("hybrid", "dense", "bm25"),
        default="hybrid",
        help="ranking to use (default hybrid)",
    )


def _llm_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=("auto", "extractive", "llm"),
        help="auto (default): llm when one is configured, else extractive",
    )
    parser.add_argument(
        "--llm-model", metavar="GGUF", help="GGUF file for llama-cpp, or 'bundled' for the tiny one"
    )
    parser.add_argument("--openai-base-url", metavar="URL", help="OpenAI-compatible endpoint")
    parser.add_argument("--openai-model", metavar="NAME", help="model name at that endpoint")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `hkqa` command."""
    parser = argparse.ArgumentParser(
        prog="hkqa",
        description="Questions and summaries over news on tech firms and Hong Kong's national "
        "security law, every quote verified against its source.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="index the bundled corpus or your files and folders")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (.txt .md .html)")
    p.add_argument("--sync", action="store_true", help="remove documents not among PATHS")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _common(p)

    p = sub.add_parser("search", help="ranked passages for a question")
    p.add_argument("question")
    p.add_argument(
        "--all-duplicates",
        action="store_true",
        help="keep every copy of a passage re-reported by several outlets",
    )
    p.add_argument("--json", action="store_true", help="print the SearchResult as JSON")
    _filters(p)
    _common(p)

    p = sub.add_parser("ask", help="an answer with verified quotes, or an honest abstention")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    _filters(p)
    _llm_options(p)
    _common(p)

    p = sub.add_parser("repl", help="a question prompt with history and line editing")
    _llm_options(p)
    _common(p)

    p = sub.add_parser("summarize", help="summary of a document, a firm or the corpus")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--doc", metavar="ID", help="summarise one document")
    scope.add_argument("--firm", metavar="NAME", help="summarise what the corpus says of a firm")
    p.add_argument("--max-sentences", type=int, default=5, metavar="N")
    p.add_argument("--max-words", type=int, metavar="N")
    p.add_argument("--json", action="store_true", help="print the Summary as JSON")
    _llm_options(p)
    _common(p)

    p = sub.add_parser("positions", help="where each firm stands, with verified quotes")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true", help="a markdown table (default)")
    fmt.add_argument("--csv", action="store_true")
    _llm_options(p)
    _common(p)

    p = sub.add_parser("eval", help="score retrieval and answers on gold Q&A")
    p.add_argument("--gold", type=Path, metavar="FILE", help="gold JSONL (default: bundled set)")
    p.add_argument(
        "--retriever",
        default="hybrid",
        metavar="NAMES",
        help="comma-separated: hybrid, dense, bm25, llamaindex-default (default hybrid)",
    )
    p.add_argument("-k", type=int, default=5, metavar="N")
    p.add_argument("--json", action="store_true", help="one JSON object per configuration")
    p.add_argument("--report", type=Path, metavar="DIR", help="write a markdown report + chart")
    _llm_options(p)
    _common(p)

    p = sub.add_parser("firms", help="list the firms hkqa recognises, with aliases and owners")
    p.add_argument("--firms-file", type=Path, metavar="FILE", help="extra firms (JSON)")

    p = sub.add_parser("docs", help="list the indexed documents")
    p.add_argument("--json", action="store_true")
    _common(p)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Return Settings from HKQA_* variables overridden by the command-line options."""
    from hkqa.config import Settings

    overrides: dict[str, Any] = {}
    for option, field in (
        ("index", "index_dir"),
        ("chroma_url", "chroma_url"),
        ("collection", "collection"),
        ("embed_model", "embed_model"),
        ("mode", "mode"),
        ("openai_base_url", "openai_base_url"),
        ("openai_model", "openai_model"),
        ("firms_file", "firms_file"),
    ):
        value = getattr(args, option, None)
        if value is not None:
            overrides[field] = value
    if getattr(args, "llm_model", None):
        overrides["llm_model_path"] = args.llm_model
        overrides.setdefault("llm_backend", "llama-cpp")
    if overrides.get("openai_base_url"):
        overrides["llm_backend"] = "openai"
    return Settings(**overrides)


def _short(text: str | None, width: int = 60) -> str:
    if not text:
        return "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def format_passage(p: Passage) -> str:
    """Return a passage as the lines `hkqa search` prints."""
    c = p.chunk
    head = (
        f"{p.rank}. [{p.score:.3f}] {c.doc_id}  {_short(p.title)}  "
        f"outlet: {p.outlet or '-'}  date: {p.date or '-'}  chars {c.start}-{c.end}"
    )
    lines = [head, f"   > {c.text}"]
    if p.also_reported_by:
        lines.append(f"   also reported by: {', '.join(p.also_reported_by)}")
    return "\n".join(lines)


def format_answer(answer: Answer) -> str:
    """Return an answer and its numbered sources as `hkqa ask` prints them."""
    lines = [answer.text, ""]
    if answer.abstained:
        if answer.passages:
            lines.append("Closest passages (they do not answer the question):")
            lines.extend(format_passage(p) for p in answer.passages[:3])
    else:
        lines.append("Sources:")
        for c in answer.citations:
            mark = "verified" if c.verified else "UNVERIFIED"
            lines.append(
                f"[{c.n}] {c.doc_id}  {_short(c.title)}  outlet: {c.outlet or '-'}  "
                f"date: {c.date or '-'}  chars {c.start}-{c.end} ({mark})"
            )
            lines.append(f"    > {c.quote}")
            if c.also_reported_by:
                lines.append(f"    also reported by: {', '.join(c.also_reported_by)}")
    note = f"[{answer.mode}: {answer.backend}]"
    if answer.fallback:
        note += f" {answer.fallback}"
    if answer.dropped_claims:
        note += f" ({answer.dropped_claims} unverified claim(s) dropped)"
    lines.extend(["", note])
    return "\n".join(lines)


def _cmd_index(h: Hkqa, args: argparse.Namespace) -> int:
    report = h.index(args.paths or None, sync=args.sync, progress=not args.quiet)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(
            f"indexed {len(report.added)} new, {len(report.updated)} changed, "
            f"{len(report.unchanged)} unchanged, {len(report.removed)} removed document(s); "
            f"{report.chunks_added} chunk(s) embedded, {report.chunks_removed} removed; "
            f"index holds {report.documents} document(s), {report.chunks} chunk(s) "
            f"[{report.seconds:.1f}s]"
        )
        for skipped in report.skipped:
            print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    return EXIT_SKIPPED if report.skipped else 0


def _search_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "k": args.k,
        "firm": args.firm,
        "since": args.since,
        "until": args.until,
        "outlet": args.outlet,
        "retriever": args.retriever,
    }


def _cmd_search(h: Hkqa, args: argparse.Namespace) -> int:
    result = h.search(args.question, collapse=not args.all_duplicates, **_search_kwargs(args))
    if args.json:
        print(result.model_dump_json(indent=2))
    elif not result.passages:
        print("no passage matches (check the filters)")
    else:
        print("\n\n".join(format_passage(p) for p in result.passages))
    return 0


def _cmd_ask(h: Hkqa, args: argparse.Namespace) -> int:
    answer = h.ask(args.question, mode=args.mode, **_search_kwargs(args))
    print(answer.model_dump_json(indent=2) if args.json else format_answer(answer))
    return 0


def _cmd_repl(h: Hkqa, args: argparse.Namespace) -> int:
    from hkqa.repl import run_repl

    return run_repl(h)


def _cmd_summarize(h: Hkqa, args: argparse.Namespace) -> int:
    summary = h.summarize(
        doc_id=args.doc,
        firm=args.firm,
        max_sentences=args.max_sentences,
        max_words=args.max_words,
    )
    if args.json:
        print(summary.model_dump_json(indent=2))
        return 0
    print(summary.text)
    if summary.sentences:
        print("\nSources:")
        for s in summary.sentences:
            c = s.citation
            print(
                f"[{c.n}] {c.doc_id}  outlet: {c.outlet or '-'}  date: {c.date or '-'}  "
                f"chars {c.start}-{c.end}"
            )
    return 0


def _cmd_positions(h: Hkqa, args: argparse.Namespace) -> int:
    from hkqa.positions import positions_csv, positions_markdown

    rows = h.positions()
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2, ensure_ascii=False))
    elif args.csv:
        sys.stdout.write(positions_csv(rows))
    else:
        print(positions_markdown(rows))
    return 0


def _cmd_eval(h: Hkqa, args: argparse.Namespace) -> int:
    from hkqa.evaluate import bundled_gold_path, load_gold, report_json, run_eval

    gold = load_gold(args.gold or bundled_gold_path())
    mode: Literal["extractive", "llm"] = "llm" if h.settings.llm_configured else "extractive"
    if args.mode in ("extractive", "llm"):
        mode = args.mode
    names = [n.strip() for n in args.retriever.split(",") if n.strip()]
    reports = [run_eval(gold, hkqa=h, mode=mode, retriever=n, k=args.k) for n in names]
    if args.json:
        for report in reports:
            print(report_json(report))
    else:
        from hkqa.report import format_table

        print(format_table(reports))
    if args.report:
        from hkqa.report import write_report

        for path in write_report(reports, args.report):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _cmd_docs(h: Hkqa, args: argparse.Namespace) -> int:
    docs = h.documents()
    if args.json:
        print(
            json.dumps([d.model_dump(exclude={"text"}) for d in docs], indent=2, ensure_ascii=False)
        )
        return 0
    for d in docs:
        print(f"{d.doc_id}  {d.date or '-':10}  {_short(d.outlet, 20):20}  {_short(d.title)}")
    return 0


def _cmd_firms(h: Hkqa, args: argparse.Namespace) -> int:
    for firm in h.lexicon.firms():
        owner = f"  (owned by {firm.owner})" if firm.owner else ""
        aliases = f"  aliases: {', '.join(firm.aliases)}" if firm.aliases else ""
        print(f"{firm.name}{owner}{aliases}")
    return 0


COMMANDS = {
    "index": _cmd_index,
    "search": _cmd_search,
    "ask": _cmd_ask,
    "repl": _cmd_repl,
    "summarize": _cmd_summarize,
    "positions": _cmd_positions,
    "eval": _cmd_eval,
    "docs": _cmd_docs,
    "firms": _cmd_firms,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `hkqa` command; return its exit status."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError

    from hkqa.api import Hkqa
    from hkqa.errors import HkqaError

    try:
        h = Hkqa(settings_from(args))
        return COMMANDS[args.command](h, args)
    except HkqaError as err:
        print(f"hkqa: error: {err}", file=sys.stderr)
        return err.exit_code
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        print(f"hkqa: error: invalid setting: {problems}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) left; say nothing more and leave quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
