"""Firm positions: where each firm the corpus names stands, by a small documented stance scheme.

Offline, the stance cues `stance` finds in the sentences about each firm decide its row (see
docs/POSITIONS.md), with verified quotes, the outlets reporting them, the earliest date and how
the sources disagree. With an LLM, a firm's candidate sentences may be classified by it instead,
but its label stands only when a quote it gives is found verbatim in the source. Renderers give
the rows as a markdown table or CSV.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from hkqa.dedup import near_duplicate_groups
from hkqa.errors import ConfigError
from hkqa.firms import FirmLexicon
from hkqa.stance import (
    MAX_QUOTE_CHARS,
    NO_POSITION,
    PRECEDENCE,
    STANCES,
    Attributed,
    Cue,
    Evidence,
    attribute_sentences,
    collect_evidence,
    fold,
    is_boilerplate,
    quote_start,
    refers_back,
    sentence_cues,
)
from hkqa.types import Citation, Document, FirmPosition
from hkqa.verify import find_quote, verify_span

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from hkqa.api import Hkqa

CUES_BACKEND = "cues"
MAX_QUOTES_PER_STANCE = 5
MAX_LLM_SENTENCES = 12

# The stance scheme, cues and attribution live in `stance`; their names are re-exported here,
# where they were first importable from.
__all__ = [
    "CSV_COLUMNS",
    "CUES_BACKEND",
    "MARKDOWN_COLUMNS",
    "MAX_LLM_SENTENCES",
    "MAX_QUOTES_PER_STANCE",
    "MAX_QUOTE_CHARS",
    "NO_POSITION",
    "PRECEDENCE",
    "STANCES",
    "Attributed",
    "Cue",
    "Evidence",
    "attribute_sentences",
    "collect_evidence",
    "excerpt",
    "firm_positions",
    "fold",
    "is_boilerplate",
    "outlet_label",
    "positions_csv",
    "positions_for",
    "positions_markdown",
    "quote_start",
    "refers_back",
    "sentence_cues",
    "stance_schema",
]

# -- rows --------------------------------------------------------------------------------------


def positions_for(
    docs: Sequence[Document],
    lexicon: FirmLexicon,
    *,
    firms: Sequence[str] | None = None,
    llm: LLM | None = None,
) -> list[FirmPosition]:
    """Return one FirmPosition per firm the documents name (or per firm in `firms`), sorted by
    stance then name; the offline cues decide unless a verified LLM label overrides them."""
    by_id = {d.doc_id: d for d in docs}
    mentioned: dict[str, list[str]] = defaultdict(list)
    for doc in docs:
        for firm in dict.fromkeys(m.firm for m in lexicon.find(doc.text)):
            mentioned[firm].append(doc.doc_id)
    wanted = _wanted(firms, lexicon, mentioned)
    attributed = {doc.doc_id: attribute_sentences(doc, lexicon) for doc in docs}
    evidence: dict[str, list[Evidence]] = defaultdict(list)
    for ev in collect_evidence(docs, lexicon, attributed):
        evidence[ev.firm].append(ev)
    rows = []
    for firm in wanted:
        row = _row(firm, evidence.get(firm, []), by_id, lexicon, sorted(mentioned.get(firm, [])))
        if llm is not None and mentioned.get(firm):
            candidates = _candidates(firm, evidence.get(firm, []), by_id, attributed, lexicon)
            row = _llm_row(llm, row, candidates, by_id)
        rows.append(row)
    order = {code: i for i, code in enumerate(STANCES)}
    rows.sort(key=lambda r: (order.get(r.stance, len(order)), r.firm.casefold()))
    return rows


def firm_positions(
    hkqa: Hkqa, *, firms: Sequence[str] | None = None, use_llm: bool | None = None
) -> list[FirmPosition]:
    """Return where each firm the index names stands, with verified quotes; what
    `hkqa positions` prints. `use_llm` None means: use the LLM if one is configured."""
    if use_llm is None:
        use_llm = hkqa.settings.llm_configured
    llm = hkqa.llm if use_llm else None
    return positions_for(hkqa.documents(), hkqa.lexicon, firms=firms, llm=llm)


def _wanted(
    firms: Sequence[str] | None, lexicon: FirmLexicon, mentioned: dict[str, list[str]]
) -> list[str]:
    if firms is None:
        return sorted(mentioned)
    wanted = []
    for name in firms:
        firm = lexicon.resolve(name)
        if firm is None:
            raise ConfigError(
                f"unknown firm {name!r}",
                hint="list the known firms with `hkqa firms`, or add it with a firms file "
                "(HKQA_FIRMS_FILE)",
            )
        wanted.append(firm.name)
    return list(dict.fromkeys(wanted))


def _row(
    firm: str,
    evidence: list[Evidence],
    docs: dict[str, Document],
    lexicon: FirmLexicon,
    mentioned_in: list[str],
) -> FirmPosition:
    by_stance: dict[str, list[Evidence]] = defaultdict(list)
    for ev in evidence:
        by_stance[ev.stance].append(ev)
    present = [s for s in PRECEDENCE if by_stance.get(s)]
    primary = present[0] if present else NO_POSITION
    quotes: list[Citation] = []
    quote_stances: list[str] = []
    for stance in present:
        for cit in _citations(by_stance[stance], docs)[:MAX_QUOTES_PER_STANCE]:
            quotes.append(cit.model_copy(update={"n": len(quotes) + 1}))
            quote_stances.append(stance)
    primary_quotes = [q for q, s in zip(quotes, quote_stances, strict=True) if s == primary]
    outlets, n_outlets = _outlets(primary_quotes, docs)
    dates = sorted(
        d
        for q in primary_quotes
        for doc_id in [q.doc_id, *q.also_reported_by]
        if (d := docs[doc_id].date)
    )
    return FirmPosition(
        firm=firm,
        owner=lexicon.owner_of(firm),
        stance=primary,
        stance_label=STANCES[primary],
        quotes=quotes,
        outlets=outlets,
        n_outlets=n_outlets,
        earliest_date=dates[0] if dates else None,
        disagreement=_disagreement(firm, primary, by_stance, docs),
        secondary_stances=present[1:],
        quote_stances=quote_stances,
        mentioned_in=mentioned_in,
    )


_RANK = {"named": 0, "anaphor": 1, "join": 2, "owner": 3}


def _citations(evidence: list[Evidence], docs: dict[str, Document]) -> list[Citation]:
    """One verified citation per distinct passage, near-duplicates collapsed into one."""
    spans: dict[tuple[str, int, int], Evidence] = {}
    for ev in evidence:
        key = (ev.doc_id, ev.start, ev.end)
        if key not in spans or _RANK[ev.via] < _RANK[spans[key].via]:
            spans[key] = ev
    keys = list(spans)
    ids = {key: f"{i:06d}" for i, key in enumerate(keys)}
    groups = near_duplicate_groups((ids[k], k[0], docs[k[0]].text[k[1] : k[2]]) for k in keys)
    members: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for key in keys:
        members[groups[ids[key]]].append(key)

    def preference(key: tuple[str, int, int]) -> tuple[int, int, str, str, int]:
        # Said by the firm itself, alone, early: the strongest evidence first.
        ev = spans[key]
        return (_RANK[ev.via], ev.n_actors, docs[key[0]].date or "9999", key[0], key[1])

    best_of = [min(group, key=preference) for group in members.values()]
    out = []
    for best in sorted(best_of, key=preference):
        group = members[groups[ids[best]]]
        doc = docs[best[0]]
        quote = doc.text[best[1] : best[2]]
        if not verify_span(doc.text, best[1], best[2], quote):
            continue
        others = sorted({k[0] for k in group} - {best[0]})
        out.append(_citation(doc, best[1], best[2], others))
    return out


def _citation(doc: Document, start: int, end: int, also: list[str] | None = None) -> Citation:
    return Citation(
        n=1,
        doc_id=doc.doc_id,
        title=doc.title,
        outlet=doc.outlet,
        date=doc.date,
        quote=doc.text[start:end],
        start=start,
        end=end,
        verified=verify_span(doc.text, start, end, doc.text[start:end]),
        also_reported_by=also or [],
    )


def outlet_label(doc: Document) -> str:
    """Return the outlet a document counts under: its outlet, or its doc_id when unknown."""
    return doc.outlet or doc.doc_id


def _outlets(quotes: list[Citation], docs: dict[str, Document]) -> tuple[list[str], int]:
    """Distinct outlets reporting the quotes, and how many independent sources they are:
    documents carrying near-duplicates of one passage, or of one outlet, count once."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    labels: list[str] = []
    for q in quotes:
        group = [outlet_label(docs[d]) for d in [q.doc_id, *q.also_reported_by]]
        labels.extend(group)
        for label in group[1:]:
            a, b = find(group[0]), find(label)
            if a != b:
                parent[max(a, b)] = min(a, b)
        find(group[0])
    distinct = sorted(set(labels), key=str.casefold)
    return distinct, len({find(x) for x in distinct})


def _disagreement(
    firm: str, primary: str, by_stance: dict[str, list[Evidence]], docs: dict[str, Document]
) -> str | None:
    """One sentence on how the sources differ about the firm, or None when they agree."""
    parts = []
    # Statements about the firm alone first: they say most precisely what it did and when.
    own = sorted(by_stance.get(primary, []), key=lambda e: (_RANK[e.via], e.n_actors))
    timings: dict[str, Evidence] = {}
    for ev in own:
        if ev.timing:
            timings.setdefault(ev.timing.casefold(), ev)
    if len({ev.doc_id for ev in timings.values()}) > 1:
        a, b = _two_docs(timings.values())
        parts.append(f"on timing, {_said(a, a.timing, docs)} but {_said(b, b.timing, docs)}")
    for x, y in (("paused", "expects_to_comply"), ("never_held_data", "complied_past")):
        ex, ey = by_stance.get(x), by_stance.get(y)
        if ex and ey and {e.doc_id for e in ex} != {e.doc_id for e in ey}:
            parts.append(
                f"on its stance, {_said(ex[0], STANCES[x], docs)} but "
                f"{_said(ey[0], STANCES[y], docs)}"
            )
    temporary = [ev for ev in own if ev.temporary is True]
    permanent = [ev for ev in own if ev.temporary is False]
    if temporary and permanent and {e.doc_id for e in temporary} != {e.doc_id for e in permanent}:
        t = temporary[0]
        p = next((e for e in permanent if e.doc_id != t.doc_id), permanent[0])
        parts.append(
            f"on whether it is temporary, {_said(t, t.cue, docs)} but {_said(p, p.cue, docs)}"
        )
    if not parts:
        return None
    return f"Sources differ about {firm} " + "; and ".join(parts[:2]) + "."


def _two_docs(evs: Iterable[Evidence]) -> tuple[Evidence, Evidence]:
    items = list(evs)
    first = items[0]
    second = next(e for e in items if e.doc_id != first.doc_id)
    return first, second


def _said(ev: Evidence, words: str | None, docs: dict[str, Document]) -> str:
    return f"{outlet_label(docs[ev.doc_id])} says “{words}”"


# -- LLM classification ------------------------------------------------------------------------


def _llm_row(
    llm: LLM,
    row: FirmPosition,
    candidates: list[tuple[str, Document, int, int]],
    by_id: dict[str, Document],
) -> FirmPosition:
    """The row with the LLM's label when a quote it gives verifies inside the sentence it
    names, else the row unchanged."""
    from hkqa.llm import llm_name, structured_output_kwargs
    from hkqa.templates import render

    if not candidates:
        return row
    shown = [
        # A sentence must not be able to close its own tag and speak outside it.
        {"number": i, "text": " ".join(doc.text[a:b].split()).replace("</", "<\\/")}
        for i, (_, doc, a, b) in enumerate(candidates, start=1)
    ]
    codes = list(STANCES)
    prompt = render(
        "stance.j2",
        firm=row.firm,
        stances=[{"code": c, "description": STANCES[c]} for c in codes],
        sentences=shown,
    )
    schema = stance_schema(shown, codes)
    from hkqa.drafting import parse_json_object

    reply = parse_json_object(llm.complete(prompt, **structured_output_kwargs(llm, schema)).text)
    if reply is None:
        return row
    stance, number, quote = reply.get("stance"), reply.get("sentence"), reply.get("quote")
    if stance not in STANCES or stance == NO_POSITION or not isinstance(quote, str):
        return row
    if not isinstance(number, int) or not 1 <= number <= len(candidates):
        return row
    _, doc, start, end = candidates[number - 1]
    match = find_quote(quote, doc.text, near=start)
    if match is None or not (start <= match.start and match.end <= end):
        return row
    cited = _citation(doc, match.start, match.end)
    if not cited.verified:
        return row
    kept = [
        (q, s)
        for q, s in zip(row.quotes, row.quote_stances, strict=True)
        if not (q.doc_id == doc.doc_id and q.start <= match.start and match.end <= q.end)
    ]
    pairs = [(cited, stance)] + [p for p in kept if p[1] == stance]
    pairs += [p for p in kept if p[1] != stance]
    quotes = [q.model_copy(update={"n": i}) for i, (q, _) in enumerate(pairs, start=1)]
    primary_quotes = [q for q, s in zip(quotes, [s for _, s in pairs], strict=True) if s == stance]
    outlets, n_outlets = _outlets(primary_quotes, by_id)
    dates = sorted(d for q in primary_quotes if (d := q.date))
    offline = [row.stance, *row.secondary_stances]
    return row.model_copy(
        update={
            "stance": stance,
            "stance_label": STANCES[stance],
            "secondary_stances": [s for s in PRECEDENCE if s in offline and s != stance],
            "quotes": quotes,
            "quote_stances": [s for _, s in pairs],
            "outlets": outlets,
            "n_outlets": n_outlets,
            "earliest_date": dates[0] if dates else None,
            "backend": llm_name(llm),
        }
    )


def stance_schema(shown: list[dict[str, Any]], codes: list[str]) -> dict[str, Any]:
    """Return the JSON schema of the stance reply: the quote is one of the shown sentences, tied
    to its number, so a grammar built from it keeps even a weak model verbatim (the quote is
    verified all the same), with the no-stance reply as one more branch."""
    branches: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {
                "stance": {"enum": codes},
                "sentence": {"const": s["number"]},
                "quote": {"enum": [s["text"]]},
            },
            "required": ["stance", "sentence", "quote"],
            "additionalProperties": False,
        }
        for s in shown
    ]
    branches.append(
        {
            "type": "object",
            "properties": {
                "stance": {"const": NO_POSITION},
                "sentence": {"const": 0},
                "quote": {"const": ""},
            },
            "required": ["stance", "sentence", "quote"],
            "additionalProperties": False,
        }
    )
    return {"anyOf": branches}


def _candidates(
    firm: str,
    evidence: list[Evidence],
    by_id: dict[str, Document],
    attributed: dict[str, list[Attributed]],
    lexicon: FirmLexicon,
) -> list[tuple[str, Document, int, int]]:
    """The sentences about a firm (or its subsidiaries) to show the LLM, cue-bearing first."""
    family = {firm, *lexicon.subsidiaries(firm)}
    cued = {(ev.doc_id, ev.start, ev.end) for ev in evidence}
    found: list[tuple[int, str, Document, int, int]] = []
    for doc_id, sentences in attributed.items():
        for a in sentences:
            if a.boilerplate or not family & set(a.actors):
                continue
            key = (doc_id, a.quote_from, a.end)
            found.append((0 if key in cued else 1, doc_id, by_id[doc_id], a.quote_from, a.end))
    for ev in evidence:
        if ev.via == "join":
            found.append((0, ev.doc_id, by_id[ev.doc_id], ev.start, ev.end))
    seen: set[tuple[str, int, int]] = set()
    out = []
    for _, doc_id, doc, start, end in sorted(found, key=lambda f: (f[0], f[1], f[3])):
        if (doc_id, start, end) not in seen:
            seen.add((doc_id, start, end))
            out.append((doc_id, doc, start, end))
    return out[:MAX_LLM_SENTENCES]


# -- renderers ---------------------------------------------------------------------------------

MARKDOWN_COLUMNS = ["Firm", "Stance", "Also", "Quote", "Outlets", "Earliest", "Disagreement"]
CSV_COLUMNS = [
    "firm",
    "owner",
    "stance",
    "stance_label",
    "secondary_stances",
    "quote",
    "quote_doc_id",
    "n_quotes",
    "outlets",
    "n_outlets",
    "earliest_date",
    "disagreement",
    "backend",
]


def excerpt(text: str, limit: int = 110) -> str:
    """Return `text` on one line, cut at a word boundary to at most `limit` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit - 1)
    return flat[: cut if cut > 0 else limit - 1] + "…"


def _shown_quote(quote: str, firm: str, stance: str, limit: int = 110) -> str:
    """The quote on one line for a table cell, in quotation marks; when the words showing the
    stance, or the firm's name, come after the first `limit` characters, they are shown too."""
    flat = " ".join(quote.split())
    cues = [c.start for c in sentence_cues(flat) if c.stance == stance]
    named = flat.casefold().find(firm.casefold())
    anchor = next((at for at in [*cues[:1], named] if at + 30 > limit), None)
    if len(flat) <= limit or anchor is None:
        shown = excerpt(flat, limit)
    else:
        head = excerpt(flat, limit * 2 // 5).rstrip("…")
        start = flat.rfind(" ", 0, max(0, anchor - 4)) + 1
        shown = f"{head} … {excerpt(flat[start:], limit * 3 // 5)}"
    return shown if shown[:1] in "“\"'‘" else f"“{shown}”"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def positions_markdown(rows: Sequence[FirmPosition]) -> str:
    """Return the positions as a markdown table, readable in a terminal and in a report."""
    lines = [
        "| " + " | ".join(MARKDOWN_COLUMNS) + " |",
        "|" + "|".join("---" for _ in MARKDOWN_COLUMNS) + "|",
    ]
    for r in rows:
        firm = r.firm + (f" ({r.owner})" if r.owner else "")
        quote = (
            f"{_shown_quote(r.quotes[0].quote, r.firm, r.quote_stances[0])} [{r.quotes[0].doc_id}]"
            if r.quotes
            else ""
        )
        outlets = f"{r.n_outlets}: {', '.join(r.outlets)}" if r.outlets else "0"
        cells = [
            firm,
            r.stance,
            ", ".join(r.secondary_stances),
            quote or STANCES[NO_POSITION],
            outlets,
            r.earliest_date or "",
            excerpt(r.disagreement, 160) if r.disagreement else "",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def positions_csv(rows: Sequence[FirmPosition]) -> str:
    """Return the positions as CSV with a header row, one row per firm, for spreadsheets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        first = r.quotes[0] if r.quotes else None
        writer.writerow(
            [
                r.firm,
                r.owner or "",
                r.stance,
                r.stance_label,
                ";".join(r.secondary_stances),
                first.quote if first else "",
                first.doc_id if first else "",
                len(r.quotes),
                ";".join(r.outlets),
                r.n_outlets,
                r.earliest_date or "",
                r.disagreement or "",
                r.backend,
            ]
        )
    return buffer.getvalue()
