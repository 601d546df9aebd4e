"""Sentence splitting and chunking by offsets into a document's original text.

A chunk is one sentence (a quotation is kept whole with its attribution, and very short
sentences join the next one), so that one fact is one hit; its neighbours are kept as
context offsets. Every span satisfies `text[start:end] == span_text`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from hkqa.types import Chunk, Document, Sentence

# Abbreviations whose trailing period does not end a sentence (lower-cased, without the period).
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "inc",
        "co",
        "corp",
        "ltd",
        "llc",
        "plc",
        "dept",
        "gov",
        "sen",
        "rep",
        "gen",
        "col",
        "lt",
        "sgt",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "no",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "approx",
        "est",
        "fig",
        "u.s",
        "u.k",
        "u.n",
        "e.u",
        "h.k",
        "p.m",
        "a.m",
    ]
)
_OPEN_QUOTES = '“‘«"'
_CLOSE_QUOTES = '”’»"'
_END_PUNCT = ".!?"
# A sentence may end after . ! ? and closing quotes/brackets, before whitespace.
_BOUNDARY = re.compile(r"[.!?]+[\"'”’»)\]]*(?=\s)")
_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_MIN_CHUNK_CHARS = 40
_MAX_QUOTE_CHARS = 1200
# Longer "sentences" (a line with no sentence end) are cut at word boundaries.
_MAX_SENTENCE_CHARS = 1500


def _paragraph_spans(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of paragraphs: blocks between blank lines, and short heading lines."""
    pos = 0
    for match in _PARAGRAPH.finditer(text):
        yield from _split_lines(text, pos, match.start())
        pos = match.end()
    yield from _split_lines(text, pos, len(text))


def _split_lines(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Split a block at single newlines that end a line looking complete (a heading, a
    sentence end); join soft-wrapped lines."""
    line_start = start
    while True:
        newline = text.find("\n", line_start, end)
        if newline == -1:
            break
        line = text[line_start:newline].rstrip()
        if len(line) < 60 or line.endswith(tuple(_END_PUNCT + _CLOSE_QUOTES + ":")):
            yield from _trimmed(text, start, newline)
            start = newline + 1
        line_start = newline + 1
    yield from _trimmed(text, start, end)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at `dot` closes an abbreviation or an initial, not a sentence."""
    word_start = dot
    while (
        word_start > 0
        and not text[word_start - 1].isspace()
        and text[word_start - 1] not in "([“\"'‘"
    ):
        word_start -= 1
    word = text[word_start:dot].lower()
    if word in _ABBREVIATIONS:
        return True
    # Single initials ("J. Smith") and dotted acronyms ("U.S.").
    return (len(word) == 1 and word.isalpha()) or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def _sentence_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Split one paragraph into sentences, never inside an open quotation."""
    sent_start = start
    curly_depth = 0
    straight_open = False
    quote_opened = -1
    pos = start
    for match in _BOUNDARY.finditer(text, start, end):
        for i in range(pos, match.end()):
            ch = text[i]
            was_open = curly_depth > 0 or straight_open
            if ch in "“«":
                curly_depth += 1
            elif ch in "”»":
                curly_depth = max(0, curly_depth - 1)
            elif ch == '"':
                straight_open = not straight_open
            if not was_open and (curly_depth > 0 or straight_open):
                quote_opened = i
        pos = match.end()
        boundary = match.end()
        next_char = _next_non_space(text, boundary, end)
        if next_char is None:
            break
        in_quote = curly_depth > 0 or straight_open
        if in_quote and boundary - quote_opened < _MAX_QUOTE_CHARS:
            continue
        if match.group() == "." and _is_abbreviation(text, match.start()):
            continue
        if not (next_char.isupper() or next_char.isdigit() or next_char in _OPEN_QUOTES + "(["):
            continue
        yield from _trimmed(text, sent_start, boundary)
        sent_start = boundary
        curly_depth, straight_open = 0, False
    yield from _trimmed(text, sent_start, end)


def _next_non_space(text: str, pos: int, end: int) -> str | None:
    while pos < end:
        if not text[pos].isspace():
            return text[pos]
        pos += 1
    return None


def _bounded(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Split a span longer than `_MAX_SENTENCE_CHARS` (a run-on line with no sentence end) at
    the last whitespace before the limit, or at the limit when there is none."""
    while end - start > _MAX_SENTENCE_CHARS:
        limit = start + _MAX_SENTENCE_CHARS
        cut = limit
        while cut > start + _MAX_SENTENCE_CHARS // 2 and not text[cut].isspace():
            cut -= 1
        if not text[cut].isspace():
            cut = limit
        yield from _trimmed(text, start, cut)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    yield from _trimmed(text, start, end)


def split_sentences(doc_id: str, text: str) -> list[Sentence]:
    """Return the sentences of `text` with offsets; what chunking, answers and summaries quote."""
    return [
        Sentence(doc_id=doc_id, start=b_start, end=b_end, text=text[b_start:b_end])
        for p_start, p_end in _paragraph_spans(text)
        for s, e in _sentence_spans(text, p_start, p_end)
        for b_start, b_end in _bounded(text, s, e)
    ]


def chunk_id(doc_id: str, start: int, end: int, text: str) -> str:
    """Return the content hash that identifies a chunk (same text, same place, same id)."""
    digest = hashlib.sha256(f"{doc_id}\0{start}\0{end}\0{text}".encode()).hexdigest()
    return digest[:32]


def chunk_document(doc: Document, *, min_chars: int = _MIN_CHUNK_CHARS) -> list[Chunk]:
    """Return the chunks of a document: sentences, short ones merged into the next, with the
    neighbouring sentences as context."""
    sentences = split_sentences(doc.doc_id, doc.text)
    spans: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None
    for s in sentences:
        if pending is not None:
            same_paragraph = "\n\n" not in doc.text[pending[1] : s.start]
            if same_paragraph:
                s_start = pending[0]
            else:
                spans.append(pending)
                s_start = s.start
            pending = None
        else:
            s_start = s.start
        if s.end - s_start < min_chars and "\n" not in doc.text[s.end : s.end + 1]:
            pending = (s_start, s.end)
            continue
        spans.append((s_start, s.end))
    if pending is not None:
        spans.append(pending)
    chunks = []
    for i, (start, end) in enumerate(spans):
        ctx_start = spans[i - 1][0] if i > 0 else start
        ctx_end = spans[i + 1][1] if i + 1 < len(spans) else end
        text = doc.text[start:end]
        cid = chunk_id(doc.doc_id, start, end, text)
        chunks.append(
            Chunk(
                chunk_id=cid,
                doc_id=doc.doc_id,
                text=text,
                start=start,
                end=end,
                context_start=ctx_start,
                context_end=ctx_end,
                position=i,
                dup_group=cid,
            )
        )
    return chunks
