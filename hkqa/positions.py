"""Firm positions: where each firm the corpus names stands, by a small documented stance scheme.

Offline, each sentence is attributed to the firms it speaks about (those it names, or the firm
a following "it" / "the spokesperson" refers back to) and read for general English cues of each
stance (see docs/POSITIONS.md). With an LLM, a firm's candidate sentences may be classified by
it instead, but its label stands only when a quote it gives is found verbatim in the source.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hkqa.chunking import split_sentences
from hkqa.dedup import near_duplicate_groups
from hkqa.errors import ConfigError
from hkqa.firms import FirmLexicon
from hkqa.types import Citation, Document, FirmPosition
from hkqa.verify import find_quote, verify_span

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from hkqa.api import Hkqa

# The stance scheme, in display order; docs/POSITIONS.md describes each code and its cues.
STANCES: dict[str, str] = {
    "paused": "paused or refused Hong Kong data requests",
    "reviewing": "reviewing the law",
    "complied_past": "complied with the authorities' demands in the past",
    "expects_to_comply": "expects to have to comply",
    "never_held_data": "never handed over data, or holds none to hand over",
    "no_position": "no statement found",
}
NO_POSITION = "no_position"
# Which stance is a firm's primary one when the sources support several.
PRECEDENCE = ["never_held_data", "paused", "expects_to_comply", "complied_past", "reviewing"]
CUES_BACKEND = "cues"
MAX_QUOTES_PER_STANCE = 5
MAX_QUOTE_CHARS = 900
MAX_LLM_SENTENCES = 12

# -- matching helpers --------------------------------------------------------------------------

_FOLD = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′`", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u00a0\u2007\u202f", " "),
    }
)


def fold(text: str) -> str:
    """Return `text` lower-cased with typographic quotes, dashes and spaces made plain, with
    the same length, so a match's offsets are offsets into `text`."""
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text.translate(_FOLD))


_WORD = r"[\w'-]+"


def _gap(n: int) -> str:
    """A separator with at most `n` words in between: the window a cue's object must fall in."""
    return rf"(?:\W+{_WORD}){{0,{n}}}?\W+"


# What a data-request cue must be about, unless it is a request for comment.
_OBJ = (
    r"(?:requests?|demands?|data|information|info|compliance|co-?operation|transfers?"
    r"|disclosures?)"
)
_OBJ_END = r"\b(?!\s+for\s+(?:a\s+)?(?:comments?|statements?|interviews?))"
_PAUSE = (
    r"(?:paus(?:e|es|ed|ing)|suspen(?:d|ds|ded|ding|sion)|halt(?:s|ed|ing)?|stop(?:s|ped|ping)?"
    r"(?!-)|freez(?:e|es|ing)|froze|frozen|ceas(?:e|es|ed|ing)|put\s+on\s+hold)"
)
_NEG = (
    r"(?:\bnot\b|n't\b|\bnever\b|\bno\s+longer\b|\brefus(?:e|es|ed|ing)\s+to\b"
    r"|\bdeclin(?:e|es|ed|ing)\s+to\b|\bcannot\b)"
)
_SERVE = (
    r"(?:provid\w*|process\w*|hand\w*(?:\s+over)?|turn\w*\s+over|shar(?:e|es|ed|ing)|disclos\w*"
    r"|divulg\w*|compl(?:y|ies|ied|ying)|co-?operat\w*|fulfil\w*|honou?r\w*|grant\w*|releas\w*"
    r"|suppl(?:y|ies|ied|ying)|transfer\w*|give|gives|giving|gave|assist\w*)"
)
_DATA = r"(?:data|information|info|records|details|messages|metadata|logs)"
_AUTHORITY = (
    r"(?:requests?|demands?|orders?|beijing|authorities|government|police|china|censors?"
    r"|censorship|regime)"
)
_REVIEW = (
    r"(?:review(?:s|ed|ing)?|assess(?:es|ed|ing|ments?)?|vet(?:s|ted|ting)?|evaluat\w*"
    r"|examin\w*|stud(?:y|ies|ied|ying)|weigh(?:s|ed|ing)?|understand\w*|analy[sz]\w*"
    r"|look(?:s|ed|ing)?\s+into)"
)
_REVIEW_OBJ = r"(?:laws?|legislation|implications?|impact|details|rules|options|requirements)"

# (stance, pattern, kind); kind says which guards apply to the words before the match:
# "fixed" patterns carry their own negation ("never", "no choice but"), so only hedges count.
_CUES: list[tuple[str, re.Pattern[str], str]] = [
    ("paused", re.compile(rf"\b{_PAUSE}\b{_gap(8)}{_OBJ}{_OBJ_END}"), "pause"),
    (
        "paused",
        re.compile(rf"\b{_OBJ}\b{_gap(4)}(?:been|be|are|were|is|was|remain|remains)\s+{_PAUSE}\b"),
        "pause",
    ),
    (
        "paused",
        re.compile(
            rf"{_NEG}(?:\s+(?!{_PAUSE}\b){_WORD}){{0,2}}?\s+{_SERVE}\b{_gap(8)}{_OBJ}{_OBJ_END}"
        ),
        "refuse",
    ),
    (
        "paused",
        re.compile(
            rf"(?:\bnot\b|n't\b|\bno\b)\s+(?:intend|intent|plan|want|wish)\w*\s+to\b{_gap(8)}"
            rf"{_OBJ}{_OBJ_END}"
        ),
        "refuse",
    ),
    (
        "never_held_data",
        re.compile(
            rf"(?:\bnot\b|n't\b|\bnever\b)\s+(?:{_WORD}\s+)?(?:ha(?:ve|s|d)|hold|holds|held|keeps?"
            rf"|kept|stor(?:e|es|ed)|collect(?:s|ed)?|retain(?:s|ed)?)\b{_gap(3)}{_DATA}\b"
        ),
        "fixed",
    ),
    (
        "never_held_data",
        re.compile(rf"\b(?:has|have|had|holds?|keeps?)\s+no\b{_gap(2)}{_DATA}\b"),
        "fixed",
    ),
    (
        "never_held_data",
        re.compile(
            rf"\bno\s+(?:{_WORD}\s+){{0,2}}{_DATA}\s+to\s+(?:hand|turn|give|share|provide|disclose)"
        ),
        "fixed",
    ),
    (
        "complied_past",
        re.compile(
            r"\b(?:provided|handed(?:\s+over)?|turned\s+over|shared|disclosed|divulged|offered"
            rf"|supplied|released|transferred|passed\s+on|gave|given)\b{_gap(6)}{_DATA}\b"
        ),
        "past",
    ),
    (
        "complied_past",
        re.compile(
            r"\b(?:gave\s+in|given\s+in|caved|bowed|yielded|acquiesced|complied|co-?operated"
            rf"|worked)\s+(?:in\s+)?(?:to|with)\b{_gap(3)}{_AUTHORITY}\b"
        ),
        "past",
    ),
    (
        "expects_to_comply",
        re.compile(
            r"\b(?:little|no|any)\s+(?:other\s+)?(?:choice|option|alternative)\s+but\s+to\b"
        ),
        "fixed",
    ),
    (
        "expects_to_comply",
        re.compile(
            r"\b(?:will|would|must|has\s+to|have\s+to|had\s+to|expects?\s+to|plans?\s+to"
            r"|intends?\s+to|obliged\s+to|required\s+to|prepared\s+to|ready\s+to)\s+"
            r"(?:\w+\s+)?(?:comply|cooperate|co-operate|abide|obey)\b"
        ),
        "plain",
    ),
    (
        "expects_to_comply",
        re.compile(r"\bbound\s+by\s+(?:local\s+|the\s+|all\s+)?laws?\b"),
        "plain",
    ),
    ("reviewing", re.compile(rf"\b{_REVIEW}\b{_gap(8)}{_REVIEW_OBJ}\b"), "plain"),
]
_NEGATION = re.compile(r"\b(?:not|never|no)\b|n't\b")
_HEDGE = re.compile(r"\b(?:if|unless|whether|may|might|could|should)\b")
_PAST_HEDGE = re.compile(r"\b(?:if|unless|whether|may|might|could|should|would|can|to)\b")
_FUTURE = re.compile(r"\b(?:will|would|shall)\s*$")
_JOIN = re.compile(
    r"\b(?:join(?:s|ed|ing)?|follow(?:s|ed|ing)?\s+suit|(?:did|done|doing|does|do|carried\s+out"
    r"|taken|took|made)\s+the\s+(?:same|identical)|likewise)\b"
)
# A firm referred back to as the one speaking or acting: "it said", "the spokesperson added",
# "the US-based company is studying". Matched outside quotations only.
_ANAPHOR = re.compile(
    r"\b(?:it|the\s+(?:[\w-]+\s+){0,2}(?:company|firm|platform|app|service|agency|group)"
    r"|(?:the|its|a|an)\s+(?:[\w-]+\s+)?spokes(?:person|woman|man))\s+"
    r"(?:(?:also|additionally|further|later|then)\s+)?"
    r"(?:said|says|stated|states|added|adds|noted|notes|told|tells|confirmed|confirms|announced"
    r"|announces|explained|wrote|writes|claimed|argued|insisted|declined|refused|will|would|has"
    r"|had|did|does|plans|intends|expects|is\s+\w+ing|was\s+\w+ing)\b"
)
_QUOTATION = re.compile(r'"[^"]*"?')
_BOILERPLATE = re.compile(
    r"^\W*(?:also\s+read|read\s+(?:more|also)|related|see\s+also|recommended|advertisement"
    r"|photo|image|credit|copyright|subscribe|sign\s+up|click\s+here|follow\s+us|share\s+this"
    r"|updated\b|to\s+top|back\s+to\s+top|<\s*back)",
)
_DATE_STAMP = re.compile(
    r"^(?:(?:date|published|posted|updated)\s*:?\s*)?\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
    r"(?:,?\s+\d{1,2}[.:]\d{2})?\s+(?=\S)",
    re.I,
)
_DAYS = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTHS = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
)
_TIMING = re.compile(
    r"\b(?:(?:immediately|shortly|soon|right|just|(?:\w+\s+)?(?:days?|weeks?|hours?))\s+"
    r"(?:after|before|following)\b(?:\s+[\w'-]+){0,8}"
    rf"|since\s+(?:(?:last|final|this|early|late|mid)\s+)?(?:week|month|year|weekend|{_DAYS}"
    rf"|{_MONTHS}(?:\s+\d{{1,2}})?|\d{{1,2}}\s+{_MONTHS})"
    rf"|yesterday|last\s+(?:week|month|weekend|{_DAYS})|(?:on|this)\s+{_DAYS})\b"
)
_TEMPORARY = re.compile(
    r"\b(?:paus\w*|suspen\w*|for\s+now|for\s+the\s+time\s+being|until|pending|temporar\w*"
    r"|on\s+hold)\b"
)
_PERMANENT = re.compile(r"\b(?:no\s+longer|stop\w*|halt\w*|ceas\w*|refus\w*|never|not)\b|n't\b")


@dataclass(frozen=True)
class Cue:
    """One stance cue found in a sentence, by offsets into the sentence."""

    stance: str
    start: int
    end: int
    timing: str | None = None
    temporary: bool | None = None


def sentence_cues(text: str) -> list[Cue]:
    """Return the stance cues of one sentence; negated and hedged ones are left out."""
    folded = fold(text)
    cues: list[Cue] = []
    for stance, pattern, kind in _CUES:
        for match in pattern.finditer(folded):
            before = folded[max(0, match.start() - 40) : match.start()]
            before = " ".join(before.split()[-4:])
            if not _guard_ok(kind, before, match.group()):
                continue
            found = stance
            if kind == "refuse" and match.group().startswith("never"):
                # "never handed over" is a history, "will never hand over" a refusal.
                found = "paused" if _FUTURE.search(before) else "never_held_data"
            cues.append(_cue(found, text, folded, match.start(), match.end()))
    # The same cue found by two patterns counts once.
    cues = list({(c.stance, c.start): c for c in cues}.values())
    if any(c.stance == "never_held_data" for c in cues):
        # "We'd announce we're stopping too, but we never started": the history wins.
        cues = [c for c in cues if c.stance not in ("paused", "complied_past")]
    return cues


def _guard_ok(kind: str, before: str, matched: str) -> bool:
    """True when the words before a cue neither negate nor hedge it."""
    if kind == "refuse":
        return not re.search(r"\b(?:if|unless|whether)\b", before)
    if kind == "past":
        return not (_NEGATION.search(before) or _PAST_HEDGE.search(before))
    if kind == "pause":
        return not (_NEGATION.search(before) or _HEDGE.search(before))
    if kind == "fixed":
        return not _HEDGE.search(before)
    return not (_NEGATION.search(before) or _NEGATION.search(matched) or _HEDGE.search(before))


def _cue(stance: str, text: str, folded: str, start: int, end: int) -> Cue:
    if stance != "paused":
        return Cue(stance, start, end)
    after = folded[start : min(len(folded), end + 160)]
    timing = _TIMING.search(after)
    window = folded[start : min(len(folded), end + 40)]
    temporary: bool | None = None
    if _TEMPORARY.search(window):
        temporary = True
    elif _PERMANENT.search(folded[start:end]):
        temporary = False
    timing_text = None
    if timing is not None:
        timing_text = " ".join(text[start + timing.start() : start + timing.end()].split())
    return Cue(stance, start, end, timing_text, temporary)


def is_boilerplate(text: str) -> bool:
    """True for navigation, credits and 'also read' lines, which state nothing."""
    return bool(_BOILERPLATE.match(fold(text)))


def quote_start(text: str, start: int, end: int) -> int:
    """Return `start` moved past a leading date stamp ("date 2020-09-30 ..."), if any."""
    stamp = _DATE_STAMP.match(text[start:end])
    return start + stamp.end() if stamp else start


# -- attribution -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attributed:
    """A sentence with the firms it speaks about: named in it, or referred back to."""

    doc_id: str
    start: int
    end: int
    text: str
    actors: tuple[str, ...]
    named: tuple[str, ...]
    quote_from: int
    boilerplate: bool


def attribute_sentences(doc: Document, lexicon: FirmLexicon) -> list[Attributed]:
    """Return the document's sentences, each with the firms it is about, in order.

    A sentence is about the firms it names (a possessive "WhatsApp's parent" only when it names
    nothing else); one naming none but saying "it", "the spokesperson" or opening a quotation is
    about the firm the previous sentence was about, and its quote starts from that sentence.
    """
    out: list[Attributed] = []
    subject: str | None = None
    root = 0
    for s in split_sentences(doc.doc_id, doc.text):
        start = quote_start(doc.text, s.start, s.end)
        text = doc.text[start : s.end]
        boiler = is_boilerplate(text)
        mentions = [] if boiler else lexicon.find(text)
        named = tuple(dict.fromkeys(m.firm for m in mentions))
        actors = _actors(text, mentions)
        quote_from = start
        if actors:
            subject, root = actors[0], start
        elif subject is not None and not boiler and refers_back(text):
            actors = (subject,)
            quote_from = root if s.end - root <= MAX_QUOTE_CHARS else start
        else:
            subject = None
        out.append(Attributed(doc.doc_id, start, s.end, text, actors, named, quote_from, boiler))
    return out


def refers_back(text: str) -> bool:
    """True when a sentence speaks of a firm as "it" / "the spokesperson" outside quotations."""
    return bool(_ANAPHOR.search(_QUOTATION.sub(" ", fold(text))))


def _actors(text: str, mentions: Sequence[Any]) -> tuple[str, ...]:
    possessive = {m.firm for m in mentions if re.match(r"['’]s\b", text[m.end : m.end + 3])}
    plain = [m.firm for m in mentions if m.firm not in possessive]
    chosen = plain or [m.firm for m in mentions]
    return tuple(dict.fromkeys(chosen))


# -- evidence ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """One quote showing one firm's stance, with how the sentence was tied to the firm."""

    firm: str
    stance: str
    doc_id: str
    start: int
    end: int
    via: str  # "named", "anaphor", "join" or "owner"
    timing: str | None = None
    temporary: bool | None = None
    cue: str = ""
    n_actors: int = 1


def collect_evidence(
    docs: Iterable[Document],
    lexicon: FirmLexicon,
    attributed: dict[str, list[Attributed]] | None = None,
) -> list[Evidence]:
    """Return every stance cue tied to a firm, owners included, across the documents
    (`attributed`: their sentences from `attribute_sentences`, if already at hand)."""
    found: list[Evidence] = []
    for doc in docs:
        if attributed is not None and doc.doc_id in attributed:
            sentences = attributed[doc.doc_id]
        else:
            sentences = attribute_sentences(doc, lexicon)
        for i, a in enumerate(sentences):
            if not a.actors or a.boilerplate:
                continue
            via = "named" if a.named else "anaphor"
            spans = [(c, a.quote_from, a.text, a.start) for c in sentence_cues(a.text)]
            prev = _joined(sentences, i) if _JOIN.search(fold(a.text)) else None
            if prev is not None:
                # "X and Y joined A and B" / "X followed suit": the stance said just before.
                spans += [(c, prev.start, prev.text, prev.start) for c in sentence_cues(prev.text)]
            for cue, q_start, text, base in spans:
                kind = via if base == a.start else "join"
                for firm in a.actors:
                    found.extend(
                        _with_owners(
                            Evidence(
                                firm=firm,
                                stance=cue.stance,
                                doc_id=doc.doc_id,
                                start=q_start,
                                end=a.end,
                                via=kind,
                                timing=cue.timing,
                                temporary=cue.temporary,
                                cue=_display(text[cue.start : cue.end]),
                                n_actors=len(a.actors),
                            ),
                            lexicon,
                        )
                    )
    return found


def _joined(sentences: list[Attributed], i: int) -> Attributed | None:
    """The nearest of the three sentences before `i` that states a stance, if any, when the
    span from it to sentence `i` is short enough to quote."""
    for j in range(i - 1, max(-1, i - 4), -1):
        prev = sentences[j]
        if prev.boilerplate or sentences[i].end - prev.start > MAX_QUOTE_CHARS:
            return None
        if sentence_cues(prev.text):
            return prev
    return None


def _display(text: str) -> str:
    """Cue words on one line without the quotation marks around some of them."""
    return " ".join(re.sub(r"[\"“”„«»]", "", text).split())


def _with_owners(ev: Evidence, lexicon: FirmLexicon) -> list[Evidence]:
    out = [ev]
    owner = lexicon.owner_of(ev.firm)
    seen = {ev.firm}
    while owner is not None and owner not in seen:
        seen.add(owner)
        out.append(replace(ev, firm=owner, via="owner"))
        owner = lexicon.owner_of(owner)
    return out


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


def parse_json_object(text: str) -> dict[str, Any] | None:
    """Return the first JSON object in an LLM's reply (code fences and prose tolerated)."""
    decoder = json.JSONDecoder(strict=False)
    pos = text.find("{")
    while pos != -1:
        try:
            obj, _ = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(obj, dict):
                return obj
        pos = text.find("{", pos + 1)
    return None


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
