"""Extractive answering: pick the candidate sentences that answer the question, or say why the
corpus does not.

No LLM runs here. `hkqa.evidence` scores the candidates; `extract` decides whether to abstain
(the signals are documented on `abstain_reason`) and which sentences to quote: the best one
that has what the question's kind requires, then those scoring close to it; every firm the
relevant sentences name for "which firms" questions; the date a document gives for "when was it
published" questions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hkqa import cues
from hkqa.bm25 import tokenize
from hkqa.evidence import RARE_IDF, Candidate, CorpusView, has_figure
from hkqa.question import Question, later_event_reported
from hkqa.types import Document

KEEP_RATIO = 0.8
"""Further sentences are quoted only when they score at least this share of the best one."""
MIN_SCORE = 0.55
"""Below this best score, no candidate is related enough to the question to answer it."""
LIST_RATIO = 0.7
"""In a list answer, sentences scoring at least this share of the best one may add items."""
MAX_LIST_QUOTES = 8
_CONTINUATION = re.compile(
    r"^(?:Moreover|Furthermore|In addition|Additionally|Also|Besides|What's more)\b"
)
SHORT_FOLLOW_WORDS = 12
"""A sentence this short right after a quoted one, in the same paragraph, completes it."""


@dataclass
class Quote:
    """A span of a document to cite, exactly `text[start:end]` of document `doc_id`."""

    doc_id: str
    start: int
    end: int
    text: str
    row: int | None = None
    also: list[str] = field(default_factory=list)


@dataclass
class Extract:
    """What extractive answering found: quotes with an optional lead line, or a reason to
    abstain; `ranked` are the candidates best first, for showing the closest passages."""

    quotes: list[Quote] = field(default_factory=list)
    items: list[tuple[str, list[int]]] = field(default_factory=list)
    """List answers: each item (a firm) with the indices of the quotes naming it."""
    lead: str | None = None
    """A lead sentence before the quotes, e.g. the date a document gives."""
    abstain: str | None = None
    ranked: list[Candidate] = field(default_factory=list)


# --------------------------------------------------------------------------- deciding


RELEVANT_RATIO = 0.7
"""Candidates scoring at least this share of the best one count as the relevant evidence."""


def _join(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def only_hypothetical(q: Question, view: CorpusView) -> bool:
    """True when the rarest word of the question that the corpus knows (its firms and names
    aside) stands only in hypothetical sentences ("could change if ... sanctions")."""
    entity = {t for f in q.firms for t in tokenize(f)} | {t for n in q.names for t in tokenize(n)}
    known = [t for t in q.terms if t not in entity and view.known(t)]
    if not known:
        return False
    rarest = max(known, key=view.idf)
    rows = view.table.bm25.postings[rarest][0]
    return all(cues.is_hypothetical(view.table.texts[int(r)]) for r in rows)


def names_firm(q: Question, cand: Candidate, view: CorpusView) -> bool:
    """True when the chunk, or the one before it, names a firm the question names."""
    prev = view.prev_row(cand.row)
    named = view.named[cand.row] | (view.named[prev] if prev is not None else frozenset())
    return bool(named & set(q.firms))


def focus_named(q: Question, cand: Candidate, view: CorpusView) -> bool:
    """True when the chunk (or the one before it) names every firm of the question and every
    name rare enough to single something out; what a figure or a date must be about."""
    rows = [cand.row]
    prev = view.prev_row(cand.row)
    if prev is not None:
        rows.append(prev)
    for firm in q.firms:
        if not any(firm in view.named[r] for r in rows):
            return False
    for name in q.names:
        terms = tokenize(name)
        if not terms or sum(view.idf(t) for t in terms) / len(terms) < RARE_IDF:
            continue
        if not any(all(t in view.tokens[r] for t in terms) for r in rows):
            return False
    return True


def unknown_reason(q: Question, ranked: Sequence[Candidate], view: CorpusView) -> str | None:
    """Return why the corpus cannot be about the question at all, or None: a firm no chunk
    names (a firm named only as another's owner does not count), a capitalised name with a
    word no chunk contains, or no candidate scoring MIN_SCORE."""
    missing = [f for f in q.firms if f not in view.named_firms]
    if missing:
        owned = sorted(f for f in view.named_firms if view.lexicon.owner_of(f) in set(missing))
        extra = f" (only {_join(owned)}, which it owns)" if owned and len(missing) == 1 else ""
        return f"The corpus never mentions {_join(missing)}{extra}."
    unknown = [n for n in q.names if any(not view.known(t) for t in tokenize(n))]
    if unknown:
        return f"The corpus never mentions {_join(unknown)}."
    if not ranked or ranked[0].score < MIN_SCORE:
        return "Nothing in the corpus is close enough to the question to answer it."
    return None


def abstain_reason(q: Question, ranked: Sequence[Candidate], view: CorpusView) -> str | None:
    """Return why the corpus does not answer `q`, or None when the evidence may answer it.

    The signals, in order: a firm the question names that no chunk names (a firm named only as
    the owner of another does not count); a capitalised name with a word no chunk contains;
    weak relevance (best score under MIN_SCORE); a later event (a resumption) the question
    takes for granted that no relevant sentence reports; a fact asked as real that the relevant
    sentences give only as a hypothetical; and the answer type missing from the relevant
    sentences: a figure or a date about the question's firms and names, a statement by the
    firm or person asked about, a person's name.
    """
    reason = unknown_reason(q, ranked, view)
    if reason is not None:
        return reason
    best = ranked[0].score
    top = [c for c in ranked if c.score >= RELEVANT_RATIO * best]
    if q.later_event and not any(later_event_reported(c.text) for c in top):
        return "The corpus does not report that this happened."
    if not q.modal and (
        only_hypothetical(q, view)
        or (
            cues.is_hypothetical(ranked[0].text)
            and not any(c.score >= 0.85 * best for c in top if not cues.is_hypothetical(c.text))
        )
    ):
        return "The corpus only says this could happen, not that it did."
    if q.firms and q.kind != "firms" and not any(names_firm(q, c, view) for c in top):
        them = "it" if len(q.firms) == 1 else "them"
        return f"The corpus names {_join(q.firms)} but says nothing about {them} on this."
    about = f" about {_join(q.firms)}" if q.firms else ""
    if q.kind == "number":
        if not any(has_figure(q, c.text) and focus_named(q, c, view) for c in top):
            what = "percentage" if q.percent else "figure"
            return f"No passage gives the {what} asked for{about}."
    elif q.kind == "date":
        if not any(cues.dates(c.text) and focus_named(q, c, view) for c in top):
            return f"No passage gives the date asked for{about}."
    elif q.kind == "statement" and q.strict_speaker:
        if not any(c.speaker for c in top):
            if q.speaker_firms:
                return (
                    f"The corpus names {_join(q.speaker_firms)} but reports no statement "
                    "from it on this."
                )
            return f"The corpus reports no statement from {q.speaker} on this."
    elif q.kind == "name" and not named_people(q, top, view):
        return "The corpus does not give the name asked for."
    return None


def named_people(q: Question, cands: Sequence[Candidate], view: CorpusView) -> list[Candidate]:
    """Return the candidates naming a person the question does not name, in the sentences about
    the role asked for ("official", "chair"), best first. A name must be rare in the corpus
    (RARE_IDF): a run of capitals found everywhere ("Hong Kong") is a place, not the person."""
    out = []
    for cand in cands:
        toks = view.tokens[cand.row]
        if q.role_terms and not any(any(t.startswith(r) for t in toks) for r in q.role_terms):
            continue
        for name in cues.person_names(cand.text, known=[q.text]):
            terms = tokenize(name)
            if terms and min(view.idf(t) for t in terms) >= RARE_IDF:
                out.append(cand)
                break
    return out


def extract(
    q: Question,
    ranked: Sequence[Candidate],
    view: CorpusView,
    *,
    max_quotes: int,
    documents: Mapping[str, Document] | None = None,
) -> Extract:
    """Return the quotes answering `q` from the ranked candidates, or the reason to abstain;
    `documents` (by doc_id) are needed for questions about when a document was published."""
    if q.kind == "published" and documents is not None:
        reason = unknown_reason(q, ranked, view)
        if reason is not None:
            return Extract(abstain=reason, ranked=list(ranked))
        return _published(ranked, documents)
    reason = abstain_reason(q, ranked, view)
    if reason is not None:
        return Extract(abstain=reason, ranked=list(ranked))
    if q.kind == "firms" and q.count is None:
        return _firm_list(q, ranked, view)
    chosen = _choose(q, ranked, view, max_quotes)
    quotes: list[Quote] = []
    for cand in chosen:
        quotes.append(_quote(cand))
        nxt = view.next_row(cand.row)
        if (
            nxt is not None
            and continues(view, cand.row, nxt)
            and len(quotes) < max_quotes + 1
            and all(c.row != nxt for c in chosen)
        ):
            meta = view.table.metas[nxt]
            quotes.append(
                Quote(
                    doc_id=cand.doc_id,
                    start=int(meta["start"]),
                    end=int(meta["end"]),
                    text=view.table.texts[nxt],
                    row=nxt,
                )
            )
    return Extract(quotes=quotes, ranked=list(ranked))


def continues(view: CorpusView, row: int, nxt: int) -> bool:
    """True when chunk `nxt` goes on from chunk `row`: same paragraph, and it opens with "Moreover"
    or the like, or is short enough to be the end of the same thought."""
    table = view.table
    gap = int(table.metas[nxt]["start"]) - int(table.metas[row]["end"])
    if gap > 3 or table.heading[nxt]:
        return False
    text = table.texts[nxt]
    return bool(_CONTINUATION.match(text)) or len(text.split()) <= SHORT_FOLLOW_WORDS


def _fits(q: Question, cand: Candidate, view: CorpusView) -> bool:
    """True when the candidate has what the question's kind requires of an answer; a question
    naming firms is answered by a sentence about one of them."""
    if q.firms and q.kind != "firms" and not names_firm(q, cand, view):
        return False
    if q.kind == "number":
        return has_figure(q, cand.text) and focus_named(q, cand, view)
    if q.kind == "date":
        return bool(cues.dates(cand.text)) and focus_named(q, cand, view)
    if q.kind == "statement" and q.strict_speaker:
        return cand.speaker
    if q.kind == "firms" and q.count is not None:
        return len(view.named[cand.row]) == q.count
    if q.kind == "name":
        return bool(named_people(q, [cand], view))
    return True


def _choose(
    q: Question, ranked: Sequence[Candidate], view: CorpusView, max_quotes: int
) -> list[Candidate]:
    best = ranked[0].score
    fitting = [c for c in ranked if c.score >= RELEVANT_RATIO * best and _fits(q, c, view)] or [
        ranked[0]
    ]
    if q.kind in ("number", "date", "name") or (q.kind == "firms" and q.count is not None):
        first = fitting[0]
        rest = [c for c in ranked if c is not first]
    else:
        first = fitting[0]
        rest = [c for c in fitting if c is not first]
    chosen = [first]
    for cand in rest:
        if len(chosen) >= max_quotes:
            break
        # A named speaker's own quoted words all answer "what did X say"; other sentences
        # must score close to the best.
        own_words = cand.speaker and bool(cues.quoted_spans(cand.text))
        ratio = RELEVANT_RATIO if own_words else KEEP_RATIO
        if cand.score >= ratio * first.score and not view.table.heading[cand.row]:
            chosen.append(cand)
    return chosen


def _quote(cand: Candidate) -> Quote:
    return Quote(
        doc_id=cand.doc_id,
        start=cand.start,
        end=cand.end,
        text=cand.text,
        row=cand.row,
        also=list(cand.also),
    )


def _firm_list(q: Question, ranked: Sequence[Candidate], view: CorpusView) -> Extract:
    """Aggregate the firms the relevant sentences name, each backed by a quote naming it."""
    best = ranked[0].score
    relevant = [
        c
        for c in ranked
        if c.score >= LIST_RATIO * best and view.named[c.row] and not view.table.heading[c.row]
    ]
    quotes: list[Quote] = []
    items: dict[str, list[int]] = {}
    for cand in relevant:
        # The firms in the order the sentence names them; an owner added by the lexicon but
        # not named does not count.
        firms = list(dict.fromkeys(m.firm for m in view.lexicon.find(cand.text)))
        new = [f for f in firms if f not in items]
        if not new or len(quotes) >= MAX_LIST_QUOTES:
            continue
        quotes.append(_quote(cand))
        for firm in firms:
            items.setdefault(firm, []).append(len(quotes) - 1)
    if not quotes:
        return Extract(quotes=[_quote(ranked[0])], ranked=list(ranked))
    return Extract(quotes=quotes, items=list(items.items()), ranked=list(ranked))


HEAD_CHARS = 600
"""How far into a document its own date may stand (dateline, byline)."""


def _published(ranked: Sequence[Candidate], documents: Mapping[str, Document]) -> Extract:
    """Answer "when was that article published": the date the best matching document gives
    near its top, quoted where it stands."""
    best: dict[str, float] = {}
    for cand in ranked:
        best[cand.doc_id] = max(best.get(cand.doc_id, -math.inf), cand.score)
    doc_id = max(best, key=lambda d: (best[d], d))
    doc = documents.get(doc_id)
    found = cues.document_dates(doc.text[:HEAD_CHARS]) if doc is not None else []
    if doc is None or not found:
        return Extract(
            abstain="The corpus does not give the date of the document asked about.",
            ranked=list(ranked),
        )
    match = found[0]
    line_start = doc.text.rfind("\n", 0, match.start()) + 1
    line_end = doc.text.find("\n", match.end())
    line_end = len(doc.text) if line_end == -1 else line_end
    start, end = match.start(), match.end()
    if line_end - line_start <= 80:
        start, end = line_start, line_end
    while start < end and doc.text[start].isspace():
        start += 1
    while end > start and doc.text[end - 1].isspace():
        end -= 1
    quote = Quote(doc_id=doc_id, start=start, end=end, text=doc.text[start:end])
    label = f"“{doc.title}” ({doc_id})" if doc.title else doc_id
    return Extract(quotes=[quote], lead=f"{label} is dated {match.group()}:", ranked=list(ranked))
