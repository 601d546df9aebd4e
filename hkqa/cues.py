"""Cues in a sentence that tell what kind of answer it can give: a figure, a date, a person's
name, a statement and who made it, a hypothetical, or an instruction aimed at a reader.

Plain regular expressions over English news text; each detector is a pure function of the text
so answering stays deterministic and testable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundreds?|thousands?|millions?|billions?|dozens?|half|a third|a quarter)"
)
_DIGITS = re.compile(r"(?<![\w/.-])\d+(?:[.,]\d+)*(?![\w/-])")
_WORD_NUMBER = re.compile(rf"\b{_NUMBER_WORDS}\b", re.I)
_PERCENT = re.compile(
    rf"\d+(?:[.,]\d+)?\s*%|\b(?:\d+(?:[.,]\d+)?|{_NUMBER_WORDS})\s+(?:per ?cent|percent)\b", re.I
)
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")

_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?"
)
_WEEKDAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_DATE = re.compile(
    rf"\b{_MONTHS}\s+\d{{1,2}}\b|\b\d{{1,2}}\s+{_MONTHS}|\b{_MONTHS}\s+(?:to|-|–)\s+{_MONTHS}"
    rf"|\bin\s+{_MONTHS}|\b{_MONTHS}\s+\d{{4}}\b|\b{_WEEKDAYS}\b"
    r"|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b(?:in|since|by|until)\s+(?:1[89]|20)\d\d\b"
    r"|\b(?:yesterday|today|tomorrow|tonight)\b"
    r"|\b(?:last|next|this|final|previous|past|coming|same)\s+(?:week|month|year|yr|weekend|day)\b"
    r"|\b(?:immediately|shortly|soon|days|weeks|months|hours|right)\s+(?:after|before)\b"
    r"|\b(?:\d+|a|one|two|three|few|several)\s+(?:days|weeks|months|years)\s+(?:ago|later|after)\b",
    re.I | re.M,
)
# Dates a document gives as its own: ISO, numeric with a four-digit year, or spelled out.
_DOC_DATE = re.compile(
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{4}}\b"
    rf"|\b{_MONTHS}\s+\d{{1,2}},?\s+\d{{4}}\b|\b\d{{1,2}}\s+{_MONTHS}\s+\d{{4}}\b",
    re.I,
)

SPEECH = re.compile(
    r"\b(?:said|says|say|stated|states|stating|told|tells|confirmed|confirms|confirming|"
    r"announced|announces|announcing|noted|notes|noting|added|adds|wrote|writes|explained|"
    r"explains|warned|warns|warning|argued|argues|claimed|claims|urged|urges|insisted|insists|"
    r"commented|declared|responded|replied|according to|in a statement|in an announcement|"
    r"spokes(?:person|man|woman))\b",
    re.I,
)
_QUOTED = re.compile(r"[“\"]([^”\"]{12,})[”\"]")
_HYPOTHETICAL = re.compile(r"\b(?:if|unless)\b", re.I)
_MODAL = re.compile(r"\b(?:could|might|may|would)\b", re.I)
_REASON = re.compile(
    r"\b(?:because|since|due to|as a result|pending|citing|given|in order to|to understand|"
    r"until|so that|reasons?|for \w+ing|concerns?|believe)\b",
    re.I,
)
# Text that addresses a reader or a model with orders ("ignore previous instructions"). Such a
# sentence is never evidence for an answer, whatever it says.
_INSTRUCTION = re.compile(
    r"(?i:\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|prompts?|"
    r"system message)\b)"
    r"|(?i:\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+|the\s+)?"
    r"(?:above|previous|prior|preceding|earlier)\b)"
    r"|(?i:\b(?:system prompt|you are now|as an ai|language model|new instructions?)\b)"
    r"|(?i:\b(?:answer|reply|respond|say|output|print)\s+(?:only\s+)?(?:with\s+)?)"
    r"[\"“']?[A-Z]{4,}\b"
)
# Capitalised words that mark places, organisations or titles, never a person's name.
_NOT_PERSON = frozenset(
    """association department ministry office council committee commission agency bureau court
    university college school institute foundation group company corporation inc ltd llc times
    post journal news street square avenue road city state states united kingdom republic union
    nations national international government administration party police security law act
    bill house senate congress parliament north south east west central new great internet
    service services providers provider network media press daily tribune herald valley bay
    island islands river mountain asia europe america africa african american european asian
    british the a an of and for in on at to by tech technology technologies systems labs
    platforms world global federal region province county district monday tuesday wednesday
    thursday friday
    saturday sunday january february march april may june july august september october
    november december""".split()
)
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:[-’'][A-Za-z]+)?\b")
_TITLE = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+[A-Z][a-z]+")


def quantities(text: str, *, percent: bool = False) -> list[str]:
    """Return the figures `text` gives (digits or number words, years and dates left out); with
    `percent`, only shares."""
    if percent:
        return [m.group() for m in _PERCENT.finditer(text)]
    text = _DATE.sub(" ", text)
    found = [m.group() for m in _DIGITS.finditer(text) if not _YEAR.match(m.group())]
    found += [m.group() for m in _WORD_NUMBER.finditer(text)]
    return found


def counts(text: str, noun: str, *, window: int = 4) -> bool:
    """True when a number in `text` counts `noun` (a BM25 term): the noun, or a word sharing
    its stem, follows within `window` words ("241 info requests")."""
    from hkqa.bm25 import tokenize

    plain = _DATE.sub(" ", text)
    words = re.findall(r"[\w%.,'’-]+", plain)
    for i, word in enumerate(words):
        is_number = (
            any(ch.isdigit() for ch in word) and not _YEAR.match(word.strip(".,"))
        ) or bool(_WORD_NUMBER.fullmatch(word.strip(".,")))
        if not is_number:
            continue
        for follower in words[i + 1 : i + 1 + window]:
            terms = tokenize(follower)
            if terms and (terms[0].startswith(noun[:4]) or noun.startswith(terms[0][:4])):
                return True
    return False


def dates(text: str) -> list[str]:
    """Return the date and time expressions of `text` ("July 1", "Monday", "last week")."""
    return [m.group() for m in _DATE.finditer(text)]


def document_dates(text: str) -> list[re.Match[str]]:
    """Return the full dates (with a year) `text` spells, in order; for "when was it published"."""
    return list(_DOC_DATE.finditer(text))


def new_names(text: str, question: str) -> list[str]:
    """Return the names of `text` that `question` lacks: runs of two or more capitalised words
    ("The Wall Street Journal", "Charles Mok") and run-together names ("TechCrunch"); what a
    "who" or "which newspaper" answer gives."""
    asked = {w.casefold() for w in re.findall(r"[\w’'-]+", question)}
    found: list[str] = []
    run: list[str] = []
    last_end = -1
    for match in _CAPITALISED.finditer(text):
        if run and text[last_end : match.start()] not in (" ", "\u00a0"):
            if len(run) >= 2:
                found.append(" ".join(run))
            run = []
        run.append(match.group())
        last_end = match.end()
    if len(run) >= 2:
        found.append(" ".join(run))
    found += re.findall(r"\b[A-Z][a-z]+[A-Z]\w+\b", text)
    return [
        name
        for name in dict.fromkeys(found)
        if any(w.casefold() not in asked | {"the", "a", "an"} for w in name.split())
    ]


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) of the direct quotations in `text` (12 characters or more)."""
    return [(m.start(), m.end()) for m in _QUOTED.finditer(text)]


def is_hypothetical(text: str) -> bool:
    """True when `text` states a condition with a modal ("could change if ..."), not a fact."""
    return bool(_HYPOTHETICAL.search(text) and _MODAL.search(text))


def gives_reason(text: str) -> bool:
    """True when `text` carries a cue of a reason or explanation ("pending", "because")."""
    return bool(_REASON.search(text))


def looks_like_instruction(text: str) -> bool:
    """True when `text` gives orders to whoever reads it, like a prompt injection does."""
    return bool(_INSTRUCTION.search(text))


def person_names(text: str, *, known: Sequence[str] = ()) -> list[str]:
    """Return the people `text` names: runs of two or three capitalised words that are not
    places, organisations or dates, or a title and a surname; words in `known` are left out."""
    skip = {w.casefold() for k in known for w in re.findall(r"[\w’'-]+", k)}
    names: list[str] = []
    run: list[re.Match[str]] = []

    def flush() -> None:
        words = [m.group() for m in run]
        if 2 <= len(words) <= 3 and not any(
            w.casefold() in _NOT_PERSON or w.casefold() in skip for w in words
        ):
            names.append(" ".join(words))
        run.clear()

    for match in _CAPITALISED.finditer(text):
        if run and text[run[-1].end() : match.start()] not in (" ", "\u00a0"):
            flush()
        run.append(match)
    flush()
    names += [m.group() for m in _TITLE.finditer(text)]
    return list(dict.fromkeys(names))


def speaker_spans(
    text: str, mentions: Callable[[str], list[tuple[int, int]]]
) -> list[tuple[int, int]]:
    """Return the mentions (from `mentions(text)`) of whoever `text` reports as speaking: named
    shortly before a speech verb ("Google said", "a Twitter spokesperson stated"), right after
    one ("said a Twitter spokesperson"), or outside a direct quotation the sentence carries."""
    spans = mentions(text)
    if not spans:
        return []
    verbs = [(m.start(), m.end()) for m in SPEECH.finditer(text)]
    quotes = quoted_spans(text)
    out = []
    for start, end in spans:
        inside_quote = any(qs <= start < qe for qs, qe in quotes)
        if inside_quote:
            continue
        before_verb = any(0 <= vs - end <= 60 and "“" not in text[end:vs] for vs, _ in verbs)
        after_verb = any(0 <= start - ve <= 25 for _, ve in verbs)
        if before_verb or after_verb or quotes:
            out.append((start, end))
    return out


_ANAPHORIC_SPEECH = re.compile(
    r"\b(?:it|he|she|they|the (?:company|firm|spokes(?:person|man|woman)|official|agency|group|"
    r"organi[sz]ation))\s+(?:\w+\s+)?(?:said|says|stated|states|added|adds|noted|told|"
    r"explained|clarified|warned|argued|wrote|insisted)\b"
    r"|\b(?:said|says|stated|added|noted)\s+(?:the\s+)?(?:spokes(?:person|man|woman)|company|"
    r"firm|official)\b",
    re.I,
)


def continues_speech(text: str) -> bool:
    """True when `text` reports words of someone named only as "it", "he" or "the spokesperson",
    so the speaker is whoever the sentence before named."""
    return bool(_ANAPHORIC_SPEECH.search(text))


def reports_speech(text: str) -> bool:
    """True when `text` reports words someone said: a speech verb or a direct quotation."""
    return bool(SPEECH.search(text) or _QUOTED.search(text))
