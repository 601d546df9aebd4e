"""Stance cues: the stance scheme, the general English cues of each stance, which firms each
sentence speaks about, and the evidence tying a cue to a firm.

Each sentence is attributed to the firms it names, or to the firm a following "it" / "the
spokesperson" refers back to, and read for the cues of each stance with guards against negation
and hedging (see docs/POSITIONS.md). `positions` turns the evidence into one row per firm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hkqa.chunking import split_sentences
from hkqa.firms import FirmLexicon
from hkqa.types import Document

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
MAX_QUOTE_CHARS = 900

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
