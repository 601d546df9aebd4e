"""Reading user paths into Documents, with every file that cannot be read reported, not fatal."""

from __future__ import annotations

import codecs
import datetime as dt
import errno
import hashlib
import os
import re
import stat
from collections.abc import Sequence
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hkqa.errors import IngestError
from hkqa.firms import FirmLexicon
from hkqa.types import Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
HTML_SUFFIXES = (".html", ".htm")
MARKDOWN_SUFFIXES = (".md", ".markdown")

# Metadata is only looked for in the head of a document (headline, byline, dateline) ...
HEAD_CHARS = 2000
HEAD_LINES = 20
# ... and "Source:" or copyright lines also in its last lines.
TAIL_LINES = 8
# Share of control bytes above which a file is taken for binary.
MAX_CONTROL_SHARE = 0.05


class Skipped(BaseModel):
    """A path that yielded no document, and why."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="The path as found or given.")
    reason: str = Field(description="Why it was skipped, as a sentence a user can act on.")


class LoadResult(BaseModel):
    """What `load_documents` read, and what it had to skip."""

    model_config = ConfigDict(extra="forbid")

    documents: list[Document] = Field(description="Documents read, in path order.")
    skipped: list[Skipped] = Field(description="Paths skipped, each with its reason.")


class _Unreadable(Exception):
    """A file cannot become a document; `reason` says why, without the path."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


# ---------------------------------------------------------------------------------------------
# Paths


def bundled_corpus_paths() -> list[Path]:
    """Sorted paths of the .txt articles shipped with hkqa; the corpus used when none is given."""
    root = resources.files("hkqa.corpus")
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".txt"))


def iter_paths(paths: Sequence[Path]) -> tuple[list[Path], list[Skipped]]:
    """Readable-looking files under `paths` (folders expanded, sorted) and the paths skipped."""
    walk = _Walk()
    for path in paths:
        walk.walk(Path(path))
    return walk.files, walk.skipped


_Ancestors = dict[tuple[int, int], Path]


class _Walk:
    """State of one expansion of user paths into files."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.skipped: list[Skipped] = []
        self._seen_files: dict[tuple[int, int], Path] = {}
        self._seen_dirs: dict[tuple[int, int], Path] = {}

    def skip(self, path: Path, reason: str) -> None:
        self.skipped.append(Skipped(path=str(path), reason=reason))

    def walk(self, root: Path) -> None:
        # Depth first with an explicit stack, so no folder depth can exhaust the call stack.
        stack: list[tuple[Path, _Ancestors]] = [(root, {})]
        while stack:
            path, ancestors = stack.pop()
            children = self._visit(path, ancestors)
            stack.extend(reversed(children))

    def _visit(self, path: Path, ancestors: _Ancestors) -> list[tuple[Path, _Ancestors]]:
        """Records `path` as a file or a skip; for a folder, returns its entries to visit."""
        try:
            st = path.stat()
        except OSError as err:
            self.skip(path, _stat_error(path, err))
            return []
        identity = (st.st_dev, st.st_ino)
        if stat.S_ISDIR(st.st_mode):
            if identity in ancestors:
                self.skip(path, f"symlink loop (leads back to {ancestors[identity]})")
            elif identity in self._seen_dirs:
                self.skip(path, f"folder already read as {self._seen_dirs[identity]}")
            else:
                self._seen_dirs[identity] = path
                return self._entries(path, {**ancestors, identity: path})
        elif not stat.S_ISREG(st.st_mode):
            self.skip(path, "not a regular file (a device, socket or pipe)")
        elif (reason := _suffix_problem(path)) is not None:
            self.skip(path, reason)
        elif identity in self._seen_files:
            self.skip(path, f"same file as {self._seen_files[identity]}")
        else:
            self._seen_files[identity] = path
            self.files.append(path)
        return []

    def _entries(self, path: Path, ancestors: _Ancestors) -> list[tuple[Path, _Ancestors]]:
        try:
            with os.scandir(path) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as err:
            self.skip(path, _stat_error(path, err))
            return []
        return [(path / name, ancestors) for name in names if not name.startswith(".")]


def _stat_error(path: Path, err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "symlink loop"
    if err.errno == errno.ENOENT:
        return "broken symlink" if path.is_symlink() else "no such file or directory"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return err.strerror or str(err)


def _suffix_problem(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return None
    return f"unsupported file type '{suffix}'" if suffix else "unsupported file type (no extension)"


# ---------------------------------------------------------------------------------------------
# Documents


def load_documents(paths: Sequence[Path], *, lexicon: FirmLexicon, max_bytes: int) -> LoadResult:
    """Every document under `paths`, and every path skipped with its reason; never raises."""
    files, skipped = iter_paths(paths)
    documents: list[Document] = []
    sources: dict[str, str] = {}
    for path in files:
        if path.stem in sources:
            reason = f"duplicate doc_id {path.stem!r} (already read from {sources[path.stem]})"
            skipped.append(Skipped(path=str(path), reason=reason))
            continue
        try:
            doc = _read(path, lexicon=lexicon, max_bytes=max_bytes)
        except _Unreadable as err:
            skipped.append(Skipped(path=str(path), reason=err.reason))
            continue
        sources[doc.doc_id] = str(path)
        documents.append(doc)
    return LoadResult(documents=documents, skipped=skipped)


def read_document(path: Path, *, lexicon: FirmLexicon, max_bytes: int) -> Document:
    """The document in file `path`, or IngestError saying why it cannot be read."""
    try:
        if (reason := _suffix_problem(path)) is not None:
            raise _Unreadable(reason, f"hkqa reads {', '.join(SUPPORTED_SUFFIXES)} files")
        return _read(path, lexicon=lexicon, max_bytes=max_bytes)
    except _Unreadable as err:
        raise IngestError(f"cannot read {path}: {err.reason}", hint=err.hint) from None


def _read(path: Path, *, lexicon: FirmLexicon, max_bytes: int) -> Document:
    data = _read_bytes(path, max_bytes)
    suffix = path.suffix.lower()
    html = suffix in HTML_SUFFIXES
    text = _decode(data, html=html)
    if not text.strip():
        raise _Unreadable("empty file" if not text else "empty file (whitespace only)")
    meta: dict[str, str] = {}
    if html:
        text, meta = _html_to_text(text)
        if not text:
            raise _Unreadable("no visible text in the HTML")
    title = meta.get("title") or (_markdown_title(text) if suffix in MARKDOWN_SUFFIXES else None)
    if title is None and not html:
        title = guess_title(text)
    date = _iso_date(meta.get("date")) or find_date(text)
    return Document(
        doc_id=path.stem,
        text=text,
        source=str(path),
        title=title,
        date=date.isoformat() if date else None,
        date_day=(date - dt.date(1970, 1, 1)).days if date else None,
        outlet=meta.get("outlet") or find_outlet(text, lexicon=lexicon),
        firms=lexicon.firms_in(text),
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise _Unreadable("not a regular file")
        if st.st_size > max_bytes:
            raise _Unreadable(
                f"larger than {max_bytes} bytes", "raise max_file_bytes or split the file"
            )
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as err:
        hint = "check the file's permissions" if err.errno in (errno.EACCES, errno.EPERM) else None
        raise _Unreadable(_stat_error(path, err), hint) from err
    if len(data) > max_bytes:  # it grew since stat
        raise _Unreadable(f"larger than {max_bytes} bytes", "raise max_file_bytes")
    return data


# ---------------------------------------------------------------------------------------------
# Decoding

_CONTROL_BYTES = bytes(b for b in [*range(0x20), 0x7F] if b not in b"\t\n\r\f")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([\w.:-]{1,40})""", re.I)


def _declared_charset(html: bytes) -> str | None:
    """The codec an HTML page declares in a <meta> charset, when it adds to the usual three."""
    match = _CHARSET.search(html[:4096])
    if not match:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    if name in ("gb2312", "gbk"):  # as browsers do: read them as their superset
        return "gb18030"
    return None if name in ("ascii", "latin-1", "iso8859-1", "cp1252", "utf-8") else name


def normalize_newlines(text: str) -> str:
    """`text` with CRLF and CR line endings turned into LF, as stored in every document."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_text(data: bytes, *, html: bool = False) -> str:
    """The text of a file's bytes as hkqa stores it, or IngestError when they are not text."""
    try:
        return _decode(data, html=html)
    except _Unreadable as err:
        raise IngestError(err.reason, hint=err.hint) from None


def _decode(data: bytes, *, html: bool) -> str:
    """UTF-8 (BOM dropped), else cp1252, else latin-1, with newlines normalised; binary refused."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise _Unreadable("not valid UTF-16 despite its byte-order mark") from None
        if len(_CONTROL_CHARS.findall(text)) > len(text) * MAX_CONTROL_SHARE or "\x00" in text:
            raise _Unreadable("binary file (too many control characters)")
        return normalize_newlines(text)
    if b"\x00" in data:
        raise _Unreadable("binary file (contains NUL bytes)", "only text files can be read")
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if data and controls / len(data) > MAX_CONTROL_SHARE:
        raise _Unreadable("binary file (too many control characters)")
    encodings = ["utf-8-sig", "cp1252"]
    if html and (declared := _declared_charset(data)):
        encodings.insert(1, declared)
    for encoding in encodings:
        try:
            return normalize_newlines(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    text = data.decode("latin-1")
    if len(_C1_CONTROLS.findall(text)) > max(1, len(text) // 200):
        raise _Unreadable("not valid text in UTF-8, cp1252 or latin-1", "save the file as UTF-8")
    return normalize_newlines(text)


# ---------------------------------------------------------------------------------------------
# HTML

_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "iframe", "object", "canvas"}
_PARAGRAPH_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "dl", "table",
    "figure", "article", "section", "header", "footer", "address", "hr", "main", "aside", "nav",
    "title", "form", "fieldset", "details",
}  # fmt: skip
_LINE_TAGS = {"br", "div", "li", "tr", "dt", "dd", "figcaption", "caption", "summary"}
_CELL_TAGS = {"td", "th"}  # cells of a row stay on one line, a space apart
_DATE_META = {
    "article:published_time", "og:published_time", "date", "pubdate", "publishdate",
    "publish-date", "dc.date", "dc.date.issued", "dcterms.date", "dcterms.created",
    "datepublished", "sailthru.date",
}  # fmt: skip


_WHITESPACE = re.compile(r"\s+")


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML page, its title and a few meta values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._pending = 0  # line breaks owed before the next text: 0, 1 or 2 (a blank line)
        self.meta: dict[str, str] = {}
        self._skip = 0
        self._pre = 0
        self._in_head = False
        self._title: list[str] | None = None
        self._h1: list[str] | None = None
        self.title = ""
        self.h1 = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "pre":
            self._pre += 1
        elif tag == "head":
            self._in_head = True
        elif tag == "body":
            self._in_head = False
        elif tag == "meta":
            values = {k.lower(): v or "" for k, v in attrs}
            key = values.get("property") or values.get("name") or values.get("itemprop") or ""
            content = values.get("content", "").strip()
            if key.lower() == "og:site_name" and content:
                self.meta.setdefault("outlet", " ".join(content.split()))
            elif key.lower() in _DATE_META and content:
                self.meta.setdefault("date", content)
        elif tag == "time" and (when := dict(attrs).get("datetime")) and "pubdate" in dict(attrs):
            self.meta.setdefault("date", when)
        if tag == "title" and not self.title:
            self._title = []
        elif tag == "h1" and not self.h1:
            self._h1 = []
        self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag == "head":
            self._in_head = False
        elif tag == "title" and self._title is not None:
            self.title = " ".join("".join(self._title).split())
            self._title = None
        elif tag == "h1" and self._h1 is not None:
            self.h1 = " ".join("".join(self._h1).split())
            self._h1 = None
        if tag != "br":  # <br/> comes here too; it broke the line once already
            self._break(tag)

    def handle_data(self, data: str) -> None:
        if self._skip or (self._in_head and self._title is None):
            return
        for collector in (self._title, self._h1):
            if collector is not None:
                collector.append(data)
        if not self._pre:  # source line breaks are layout, except inside <pre>
            data = _WHITESPACE.sub(" ", data)
        if self._pending:
            if not data.strip():
                return
            if self.parts:
                self.parts.append("\n" * self._pending)
            self._pending = 0
        self.parts.append(data)

    def _break(self, tag: str) -> None:
        if tag == "br":  # <br><br> makes a blank line
            self._pending = min(2, self._pending + 1)
        elif tag in _PARAGRAPH_TAGS:
            self._pending = 2
        elif tag in _LINE_TAGS:
            self._pending = max(1, self._pending)
        elif tag in _CELL_TAGS and not self._pending:
            self.parts.append(" ")

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).split("\n"))
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
        paragraphs = text.split("\n\n", 2)
        if len(paragraphs) >= 2 and paragraphs[0] == paragraphs[1]:  # <title> repeated by <h1>
            text = text[len(paragraphs[0]) + 2 :]
        return text


def _html_to_text(html: str) -> tuple[str, dict[str, str]]:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError) as err:
        raise _Unreadable(f"HTML that cannot be parsed ({err})") from err
    meta = dict(parser.meta)
    if parser.title or parser.h1:
        meta["title"] = parser.title or parser.h1
    return parser.text(), meta


# ---------------------------------------------------------------------------------------------
# Metadata

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


def _iso_date(value: str | None) -> dt.date | None:
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


def _markdown_title(text: str) -> str | None:
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
