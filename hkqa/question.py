"""Question analysis: what kind of answer a question expects and whom or what it is about.

Everything here reads the question alone (plus the firm lexicon); nothing depends on a corpus.
The extractive answerer uses the result to pick sentences and to decide when to abstain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from hkqa.bm25 import tokenize
from hkqa.firms import FirmLexicon

Kind = Literal["firms", "number", "date", "published", "name", "statement", "who", "general"]

# Nouns that make "which ..." a question about firms: "which companies", "which chat apps".
_FIRM_NOUNS = (
    r"(?:compan(?:y|ies)|firms?|apps?|applications?|services?|platforms?|giants?|businesses|"
    r"corporations?|messengers?|providers?|sites?|websites?|networks?|brands?|multinationals?)"
)
# Words that cannot stand between "which" and the noun it asks about ("what punishment can a
# platform ..." asks about a punishment, not a platform).
_FUNCTION_WORDS = (
    r"(?:can|could|does|did|do|is|are|was|were|has|have|had|will|would|should|might|may|must|"
    r"the|a|an|of|to|for|by|from|with|about|on|in)"
)
_COUNT_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_FIRMS_Q = re.compile(
    r"^(?:(?:which|name|list|did any|do any|have any|has any|are there any)\b"
    rf"(?:\s+(?P<count>two|three|four|five|six|seven|eight|\d+))?"
    rf"(?:\s+(?!{_FUNCTION_WORDS}\b)[\w'’-]+){{0,4}}?"
    r"|what\b"
    rf"(?:\s+(?P<wcount>two|three|four|five|six|seven|eight|\d+))?"
    rf"(?:\s+(?!{_FUNCTION_WORDS}\b)[\w'’-]+){{0,2}}?)"
    rf"\s+{_FIRM_NOUNS}\b",
    re.I,
)
# "Which service was first ...": one firm is asked for, so no list.
_SINGULAR_FIRM_Q = re.compile(
    rf"^(?:which|what)(?:\s+(?!{_FUNCTION_WORDS}\b)[\w'’-]+){{0,4}}?\s+"
    r"(?:company|firm|app|application|service|platform|giant|business|corporation|messenger|"
    r"provider|site|website|network|brand|multinational)\b(?!\s+(?:and|or)\b)",
    re.I,
)
_PUBLISHED_Q = re.compile(
    r"\bwhen was\b.*\b(?:published|written|posted|released|dated|filed)\b"
    r"|\b(?:date|day) of (?:the|this|that) (?:report|article|piece|story|post|dispatch)\b"
    r"|\bpublication date\b|\bwhat date was\b.*\b(?:published|written|posted)\b",
    re.I,
)
_NAME_Q = re.compile(
    r"\b(?:what is|what's|what was|what are|give|tell me) the names? of\b|^name the\b"
    r"|\bwho is the\b.*\bnamed\b|\bwhat is (?:his|her|their) name\b",
    re.I,
)
_PERCENT_Q = re.compile(
    r"\bwhat (?:percentage|percent|share|proportion|fraction|portion)\b|\bhow many percent\b"
    r"|\bin what (?:share|percentage|proportion|fraction)\b",
    re.I,
)
_NUMBER_Q = re.compile(
    r"\bhow (?:many|much|long|large|big|old)\b|\bwhat (?:number|amount|sum|figure|total)\b"
    r"|\b(?:maximum|minimum|max|min)\b",
    re.I,
)
_DATE_Q = re.compile(
    r"^(?:since )?when\b|\bsince when\b|\b(?:what|which) (?:date|day|month|year|period|week)\b"
    r"|\bon what (?:date|day)\b|\bwhat time\b|\bhow long ago\b",
    re.I,
)
_SPEECH_VERBS = (
    r"(?:say|said|tell|told|announce|state|claim|warn|argue|write|call|voice|reply|respond|"
    r"answer|add|note|explain|urge|suggest|comment|react|justify|describe|confirm|deny)"
)
# "What did X say", "How did X respond", "Did X say ...": the answer must be X's own words.
_STATEMENT_Q = [
    re.compile(rf"\bwhat(?: \w+ly)? (?:did|does|do|has|have) (?P<x>.+?) {_SPEECH_VERBS}\b", re.I),
    re.compile(
        r"\bhow (?:did|does|do|has|have) (?P<x>.+?) "
        r"(?:respond|react|reply|answer|justify|explain|describe|comment)\b",
        re.I,
    ),
    re.compile(
        r"^(?:did|does|has|have) (?P<x>.+?) (?:say|said|announce|state|confirm|claim|tell|"
        r"comment|respond|deny)\b",
        re.I,
    ),
    re.compile(
        r"\bwhat (?:reasons?|explanation|justification|worries|worry|concerns?|statement|"
        r"response|comments?|arguments?|warning) (?:did|does|has|have) (?P<x>.+?) "
        r"(?:give|voice|offer|cite|express|make|issue|provide|raise|have)\b",
        re.I,
    ),
    re.compile(
        r"\bwhat (?:was|is) (?P<x>.+?)['’]s? (?:response|statement|reaction|position|"
        r"explanation|comment|answer)\b",
        re.I,
    ),
]
_WHY_Q = re.compile(r"\bwhy (?:did|does|do|has|have|is|was|were|are) (?P<x>.+?) \w+", re.I)
_ACCORDING_Q = re.compile(r"\baccording to (?P<x>[^,?;]+)", re.I)
_REASON_Q = re.compile(
    r"\b(?:why|reasons?|justif\w*|explain\w*|explanation|motives?|because|worr\w*|concerns?)\b",
    re.I,
)
_WHO_Q = re.compile(
    r"^(?:who|whom|whose)\b|^(?:which|what) (?:[\w-]+ ){0,2}(?:newspapers?|papers?|outlets?|"
    r"publications?|media|agency|agencies|organi[sz]ations?|groups?|people|persons?|activists?|"
    r"journalists?|officials?|lawmakers?|legislators?|politicians?|analysts?|experts?)\b",
    re.I,
)
_MODAL = re.compile(
    r"\b(?:could|would|might|may|can|can't|cannot|couldn't|should|will|if|whether)\b", re.I
)
# Words by which a question takes for granted that something happened later (a resumption, an
# eventual outcome); the evidence must report that event, not just the earlier state.
_LATER_EVENT = re.compile(
    r"\b(?:again|anew|resum\w*|restart\w*|reinstat\w*|re-?open\w*|end(?:ed)? up|eventually|"
    r"ultimately|in the end)\b",
    re.I,
)
_LATER_EVIDENCE = re.compile(
    r"\b(?:again|anew|resum\w*|restart\w*|reinstat\w*|re-?open\w*|ended up|eventually|"
    r"ultimately|in the end|finally|later)\b",
    re.I,
)
# Words that start questions, or are capitalised only because they start one.
_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how did does do is are was were has have had can "
    "could would will should may might according in on since if name list tell give".split()
)
_ADVERB_TAIL = re.compile(r"(?:\s+\w+ly|\s+(?:also|too|then|now|first))+$", re.I)
_ROLE_END = re.compile(r"\b(?:of|who|whom|that|which|whose|in|at|for|from)\b|[,?;]", re.I)
_WORD = re.compile(r"[^\W_][\w'’-]*")


@dataclass(frozen=True)
class Question:
    """What a question asks for: its kind, the firms and names it is about, its content terms."""

    text: str
    kind: Kind
    firms: tuple[str, ...] = ()
    """Canonical names of the firms the question names."""
    names: tuple[str, ...] = ()
    """Capitalised phrases of the question that are not firms: people, places, outlets."""
    terms: tuple[str, ...] = ()
    """BM25 terms of the question (stemmed content words), in order, without repeats."""
    speaker: str | None = None
    """For statement and why questions, whose words are asked for, as written."""
    speaker_firms: tuple[str, ...] = ()
    speaker_terms: tuple[str, ...] = ()
    """BM25 terms of the speaker phrase, to recognise the speaker in a sentence."""
    strict_speaker: bool = False
    """True when only the speaker's own words answer ("what did X say"); False for "why"."""
    named_speaker: bool = False
    """True when the speaker is a firm or a name, not a role ("the official")."""
    speaker_head: str | None = None
    """For a speaker named by role, the BM25 term of the noun heading it ("official")."""
    count_noun: str | None = None
    """For "how many X" questions, the BM25 term of X: what a figure must count."""
    count: int | None = None
    """How many items a list question asks for ("which two companies"), if it says."""
    percent: bool = False
    """True when a share or percentage is asked for."""
    modal: bool = False
    """True when the question itself is hypothetical or about possibility ("could", "if")."""
    later_event: bool = False
    """True when the question presupposes a later event (resumption, an eventual outcome)."""
    role_terms: tuple[str, ...] = field(default=())
    """For name questions, the BM25 terms of whom the name is asked for ("official")."""
    asks_reason: bool = False
    """True when a reason, justification or concern is asked for."""


def analyse(question: str, lexicon: FirmLexicon) -> Question:
    """Return the analysis of `question`; what the answerer consults before choosing sentences."""
    text = " ".join(question.split())
    mentions = lexicon.find(text)
    firms = tuple(dict.fromkeys(m.firm for m in mentions))
    firm_spans = [(m.start, m.end) for m in mentions]
    names = tuple(proper_names(text, firm_spans))
    terms = tuple(dict.fromkeys(tokenize(text)))
    kind: Kind = "general"
    count = None
    speaker: str | None = None
    strict = False
    role_terms: tuple[str, ...] = ()
    stripped = text.strip()
    if _PUBLISHED_Q.search(stripped):
        kind = "published"
    elif _NAME_Q.search(stripped):
        kind = "name"
        role = _NAME_Q.split(stripped, maxsplit=1)[-1]
        role_terms = tuple(tokenize(_ROLE_END.split(role, maxsplit=1)[0]))
    elif (m := _FIRMS_Q.search(stripped)) is not None and not _SINGULAR_FIRM_Q.search(stripped):
        kind = "firms"
        raw = m.group("count") or m.group("wcount")
        if raw:
            count = int(raw) if raw.isdigit() else _COUNT_WORDS.get(raw.lower())
    elif _NUMBER_Q.search(stripped) or _PERCENT_Q.search(stripped):
        kind = "number"
    elif _DATE_Q.search(stripped):
        kind = "date"
    if kind == "general":
        for pattern in _STATEMENT_Q:
            if (m := pattern.search(stripped)) is not None:
                kind, speaker, strict = "statement", m.group("x"), True
                break
    if kind == "general" and _WHO_Q.search(stripped):
        kind = "who"
    if speaker is None:
        for pattern in (_WHY_Q, _ACCORDING_Q):
            if (m := pattern.search(stripped)) is not None:
                speaker = m.group("x")
                break
    speaker_firms: tuple[str, ...] = ()
    speaker_terms: tuple[str, ...] = ()
    named = False
    head = None
    if speaker:
        speaker = _ADVERB_TAIL.sub("", speaker.strip()) or speaker
        speaker_firms = tuple(dict.fromkeys(m.firm for m in lexicon.find(speaker)))
        speaker_terms = tuple(dict.fromkeys(tokenize(speaker)))
        last = speaker.split()[-1]
        # A firm or a name ("Charles Mok", "the ... Association") is matched by name; anyone
        # else by the noun that heads the phrase ("the senior US official" -> official).
        named = bool(speaker_firms) or (last[:1].isupper() and not last.isupper())
        if not named and speaker_terms:
            head = speaker_terms[-1]
        if not speaker_firms and not speaker_terms:
            speaker, strict = None, False
            kind = "general" if kind == "statement" else kind
    return Question(
        text=text,
        kind=kind,
        firms=firms,
        names=names,
        terms=terms,
        speaker=speaker,
        speaker_firms=speaker_firms,
        speaker_terms=speaker_terms,
        strict_speaker=strict,
        named_speaker=named,
        speaker_head=head,
        count_noun=_count_noun(stripped),
        count=count,
        percent=bool(_PERCENT_Q.search(stripped)),
        modal=bool(_MODAL.search(stripped)),
        later_event=bool(_LATER_EVENT.search(stripped)),
        role_terms=role_terms,
        asks_reason=bool(_REASON_Q.search(stripped)),
    )


_HOW_MANY = re.compile(
    r"\bhow many (?P<x>(?:[\w'’-]+ ){0,3}?[\w'’-]+?)"
    r"(?= (?:did|does|do|has|have|had|is|are|was|were|will|would|can|could|in|of|on|for|"
    r"from|at|does|use|used|are)\b|[?,]|$)",
    re.I,
)


def _count_noun(question: str) -> str | None:
    """The term a "how many" question counts ("how many user data requests" -> "request")."""
    match = _HOW_MANY.search(question)
    if match is None:
        return None
    terms = tokenize(match.group("x"))
    return terms[-1] if terms else None


def proper_names(text: str, skip: list[tuple[int, int]] | None = None) -> list[str]:
    """Return the runs of capitalised words in `text` outside the `skip` spans (firm mentions);
    the people, places and outlets a question names. A capitalised first word counts only when
    it is not a question word or an article."""
    skip = skip or []
    runs: list[list[str]] = []
    prev_end = -1
    for i, match in enumerate(_WORD.finditer(text)):
        word = match.group().removesuffix("'s").removesuffix("’s")
        joined = prev_end >= 0 and not text[prev_end : match.start()].strip()
        prev_end = -1
        if not word[:1].isupper() or any(s <= match.start() < e for s, e in skip):
            continue
        if i == 0 and word.lower() in _QUESTION_WORDS | {"the", "a", "an"}:
            continue
        if joined and runs:
            runs[-1].append(word)
        elif word.lower() not in ("the", "a", "an"):
            runs.append([word])
        else:
            continue
        if word == match.group():  # a possessive ends the run
            prev_end = match.end()
    return list(dict.fromkeys(" ".join(run) for run in runs))


def later_event_reported(text: str) -> bool:
    """True when `text` reports a later event (a resumption, an outcome) in words of its own."""
    return bool(_LATER_EVIDENCE.search(text))
