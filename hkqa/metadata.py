"""Document metadata guessed from its text: title, publication date and outlet, looked for only
where a headline, byline, dateline or publisher line stands, and None whenever unsure.
"""

from __future__ import annotations

import datetime as dt
import re

from hkqa.firms import FirmLexicon

# Metadata is only looked for in the head of a document (headline, byline, dateline) ...
HEAD_CHARS = 2000
HEAD_LINES = 20
# ... and "Source:" or copyright lines also in its last lines.
TAIL_LINES = 8

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sept", "sep"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}  # fmt: skip
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<y>(?:19|20)\d\d)"
_ORD = r"(?:st|nd|rd|th)?"
_DATE_PATTERNS = [
    re.compile(r"(?<![\d.])(?P<y>(?:19|20)\d\d)(?P<s>[-/.])(?P<m>\d\d?)(?P=s)(?P<d>\d\d?)(?!\d)"),
    re.compile(rf"\b{_MONTH}\s+(?P<d>\d\d?){_ORD},?\s+{_YEAR}\b", re.I),
    re.compile(rf"\b(?P<d>\d\d?){_ORD}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.I),
    re.compile(rf"(?<![\d./-])(?P<a>\d\d?)(?P<s>[-/.])(?P<b>\d\d?)(?P=s){_YEAR}(?!\d)"),
]
_WORD = re.compile(r"[^\W\d_]+")
_YEAR_HINT = re.compile(r"(?:19|20)\d\d")
_DATE_LABEL = re.compile(
    r"(?:(?:first\s+|last\s+)?(?:published|posted|updated|modified)(?:\s+on)?|dated?|"
    r"publication\s+date|pub\s+date)(?!\w)\s*[:|–—-]?",
    re.I,
)
_DATELINE_PREFIX = re.compile(r"(?:[A-Z][\w.'’-]*\s*){1,4},")
_BYLINE_PREFIX = re.compile(r"By\s+.{1,60}?[|·•,–—-]")
# A line that is a date among names ("Jane Doe, Monday 6 July 2020 | 3 min read") is a dateline;
# among lowercase words it is part of a sentence.
_MAX_LOWER_WORDS_BESIDE_DATE = 3
_MAX_WORDS_BESIDE_DATE = 10


def _head_lines(text: str) -> list[str]:
    return [line for line in text[:HEAD_CHARS].split("\n") if line.strip()][:HEAD_LINES]


def _tail_lines(text: str) -> list[str]:
    return [line for line in text[-HEAD_CHARS:].split("\n") if line.strip()][-TAIL_LINES:]


def find_date(text: str) -> dt.date | None:
    """The publication date a byline or dateline at the top of `text` gives, or None if unsure."""
    for n, line in enumerate(_head_lines(text)):
        stripped = line.strip()
        if not _YEAR_HINT.search(stripped):  # every date spelled here has a 4-digit year
            continue
        matches = [m for p in _DATE_PATTERNS for m in p.finditer(stripped)]
        for match in sorted(matches, key=lambda m: m.start()):
            prefix = stripped[: match.start()].strip()
            beside = prefix + " " + stripped[match.end() :]
            placed = (
                not prefix
                or _DATE_LABEL.fullmatch(prefix)
                or _DATELINE_PREFIX.fullmatch(prefix)
                or _BYLINE_PREFIX.fullmatch(prefix)
                or (
                    n > 0  # a date inside the headline is what it reports, not when
                    and not stripped.endswith(".")
                    and len(words := _WORD.findall(beside)) <= _MAX_WORDS_BESIDE_DATE
                    and sum(w[0].islower() for w in words) <= _MAX_LOWER_WORDS_BESIDE_DATE
                )
            )
            if not placed:
                continue
            found = _match_date(match)
            if found is not None:
                # An ambiguous date where the publication date stands settles it: unknown.
                return found if isinstance(found, dt.date) else None
    return None


def _match_date(match: re.Match[str]) -> dt.date | bool | None:
    """The date `match` spells, False when it is ambiguous, None when it is no real date."""
    groups = match.groupdict()
    year = int(groups["y"])
    if groups.get("a"):
        a, b = int(groups["a"]), int(groups["b"])
        if a <= 12 and b <= 12 and a != b:
            return False
        day, month = (a, b) if a > 12 else (b, a)
    elif groups.get("mon"):
        day, month = int(groups["d"]), _MONTHS[groups["mon"].lower()]
    else:
        day, month = int(groups["d"]), int(groups["m"])
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def iso_date(value: str | None) -> dt.date | None:
    """The date a year-month-day value ("2020-07-06T10:00:00Z") starts with, or None; for dates
    given in markup, which are not read as a dateline."""
    if not value:
        return None
    match = _DATE_PATTERNS[0].match(value.strip())
    found = _match_date(match) if match else None
    return found if isinstance(found, dt.date) else None


def guess_title(text: str) -> str | None:
    """The first line of `text` when it reads like a headline, else None."""
    lines = _head_lines(text)
    if not lines:
        return None
    line = re.sub(r"^#{1,6}\s+", "", " ".join(lines[0].split()))
    words = line.split()
    if (
        not 3 <= len(words) <= 30
        or len(line) > 200
        or line[-1] in ".,;:"
        or not (line[0].isupper() or line[0].isdigit() or line[0] in "\"'“‘")
        or "://" in line
        or re.match(r"(?:By|Source|Updated|Published|Posted)\b", line)
        or _DATE_LABEL.match(line)
        or any(p.match(line) for p in _DATE_PATTERNS)
    ):
        return None
    return line


_MD_HEADING = re.compile(r"#\s+(.+?)(?:\s+#+)?\s*")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def markdown_title(text: str) -> str | None:
    """The text of the first level-1 heading of a markdown document (outside code fences)."""
    fenced = False
    for line in text.split("\n")[:200]:
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and (match := _MD_HEADING.fullmatch(line)):
            title = _MD_LINK.sub(r"\1", match.group(1))
            title = " ".join(re.sub(r"(\*\*|__|[*_`])", "", title).split())
            return title or None
    return None


_OUTLET_WORD = re.compile(r"[A-Z0-9][\w.&'’!-]*|&|of|the|and|for|de|du|la|der|die|el")
_DATELINE = re.compile(r"\s*(?P<pre>[^()\n]{0,60}?)\s*\((?P<o>[^()\n]{2,40})\)\s*[-–—:]\s")
_SOURCE_LINE = re.compile(r"\s*(?:Source|Publisher|Published\s+by)\s*[:：]?\s+(?P<o>.+)", re.I)
_BY_FOR = re.compile(r"\s*By\s+(?:[A-Z][\w.'’-]*\s+){1,4}for\s+(?P<o>.+)")
_COPYRIGHT = re.compile(
    r"\s*(?:©|\([cC]\)|Copyright)\s*(?:©\s*)?(?:\d{4}(?:\s*[-–]\s*\d{4})?\s*)?(?P<o>.+?)"
    r"(?:[.,]?\s+All\s+rights\s+reserved.*)?",
    re.I,
)
_OUTLET_END = re.compile(r"\s+(?:[|·•–—-]|on|at)\s.*|[,;(].*|\s*\d{4}.*")


def _outlet_name(value: str) -> str | None:
    """`value` trimmed to a publisher's name, or None when it does not read like one."""
    value = _OUTLET_END.sub("", value.strip()).strip().rstrip(".:;")
    words = value.split()
    if (
        not 1 <= len(words) <= 6
        or not 2 <= len(value) <= 60
        or not value[0].isupper()
        or "://" in value
        or "@" in value
        or not all(_OUTLET_WORD.fullmatch(w) for w in words)
    ):
        return None
    return value


def find_outlet(text: str, *, lexicon: FirmLexicon) -> str | None:
    """The publisher `text` names in a dateline or publisher line, or None when it names none."""
    head = _head_lines(text)
    for line in head:
        dateline = _DATELINE.match(line)
        if dateline:
            pre = dateline.group("pre")
            outlet = _outlet_name(dateline.group("o"))
            if (
                outlet
                and all(w[0].isupper() or w[0].isdigit() for w in pre.replace(",", " ").split())
                and not lexicon.firms_in(pre, owners=False)
            ):
                return outlet
    for line in [*head, *_tail_lines(text)]:
        for pattern in (_SOURCE_LINE, _BY_FOR, _COPYRIGHT):
            match = pattern.fullmatch(line)
            if match and (outlet := _outlet_name(match.group("o"))):
                return outlet
    return None
