"""Reading user paths into Documents, with every file that cannot be read reported, not fatal.

Paths are expanded and files read and decoded here; `htmltext` turns HTML into text and
`metadata` guesses title, date and outlet (re-exported here, where they were first
importable from).
"""

from __future__ import annotations

import codecs
import datetime as dt
import errno
import hashlib
import os
import re
import stat
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hkqa.errors import IngestError
from hkqa.firms import FirmLexicon
from hkqa.htmltext import html_to_text
from hkqa.metadata import (
    HEAD_CHARS,
    HEAD_LINES,
    TAIL_LINES,
    find_date,
    find_outlet,
    guess_title,
    iso_date,
    markdown_title,
)
from hkqa.types import Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
HTML_SUFFIXES = (".html", ".htm")
MARKDOWN_SUFFIXES = (".md", ".markdown")

# Share of control bytes above which a file is taken for binary.
MAX_CONTROL_SHARE = 0.05

__all__ = [
    "HEAD_CHARS",
    "HEAD_LINES",
    "HTML_SUFFIXES",
    "MARKDOWN_SUFFIXES",
    "MAX_CONTROL_SHARE",
    "SUPPORTED_SUFFIXES",
    "TAIL_LINES",
    "LoadResult",
    "Skipped",
    "bundled_corpus_paths",
    "decode_text",
    "find_date",
    "find_outlet",
    "guess_title",
    "iter_paths",
    "load_documents",
    "normalize_newlines",
    "read_document",
]


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
        try:
            text, meta = html_to_text(text)
        except ValueError as err:
            raise _Unreadable(str(err)) from err
        if not text:
            raise _Unreadable("no visible text in the HTML")
    title = meta.get("title") or (markdown_title(text) if suffix in MARKDOWN_SUFFIXES else None)
    if title is None and not html:
        title = guess_title(text)
    date = iso_date(meta.get("date")) or find_date(text)
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
