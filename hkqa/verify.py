"""Quote verification: a quote is shown only if it stands, word for word, in its source.

`find_quote` locates a candidate quote in a source text while forgiving typography and
whitespace only (never case, spelling, numbers or missing words), and returns the span of the
original text it came from. `verify_span` is the final literal check every citation passes.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from hkqa.normalize import Normalized, normalize
from hkqa.types import Citation

# Quote marks and ellipses a quote may be wrapped in, after normalisation (“ ” ‘ ’ … became
# " ' ...); they are taken off before matching.
_WRAPPERS = ("...", '"', "'")
# Characters that join two letters or digits into one token: "wouldn't", "human-rights",
# "46.5", "1,000". A quote may not begin or end next to one that has a letter on its far side.
_JOINERS = frozenset("'-.,")


class QuoteMatch(BaseModel):
    """Where a quote stands in its source: `source_text[start:end] == quote`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: int = Field(ge=0, description="Offset of the first quoted character in the source.")
    end: int = Field(ge=0, description="Offset one past the last quoted character.")
    quote: str = Field(description="Exactly `source_text[start:end]`, the original characters.")


def _clean(quote: str) -> str:
    """The normalised quote without surrounding whitespace, quote marks or ellipses."""
    text = normalize(quote).text.strip()
    while True:
        before = text
        for wrapper in _WRAPPERS:
            if text.startswith(wrapper):
                text = text[len(wrapper) :]
            if text.endswith(wrapper):
                text = text[: -len(wrapper)]
        text = text.strip()
        if text == before:
            return text


@lru_cache(maxsize=16)
def _normalized_source(source_text: str) -> Normalized:
    # Sources are checked against many quotes in a row; normalise each once.
    return normalize(source_text)


def _splits_word(text: str, pos: int) -> bool:
    """True when a cut at `pos` would fall inside a word, number or joined token of `text`."""
    if pos <= 0 or pos >= len(text):
        return False
    left, right = text[pos - 1], text[pos]
    if left.isalnum() and right.isalnum():
        return True
    if right in _JOINERS and left.isalnum():
        return pos + 1 < len(text) and text[pos + 1].isalnum()
    if left in _JOINERS and right.isalnum():
        return pos >= 2 and text[pos - 2].isalnum()
    return False


def find_quote(
    quote: str, source_text: str, *, near: int | None = None, min_chars: int = 12
) -> QuoteMatch | None:
    """The span of `source_text` that says exactly `quote`, or None; call before showing a quote.

    Only typography and whitespace are forgiven. The match must start and end on word
    boundaries, a quote that leaves out text with an inner "..." is refused, and a quote shorter
    than `min_chars` or than two words is refused as too little to be evidence. Of several
    occurrences, the one starting nearest `near` (a source offset) wins, else the first.
    """
    needle = _clean(quote)
    if len(needle) < min_chars or len(needle.split()) < 2 or "..." in needle:
        return None
    source = _normalized_source(source_text)
    found: list[tuple[int, int]] = []
    pos = source.text.find(needle)
    while pos != -1:
        end = pos + len(needle)
        if not (_splits_word(source.text, pos) or _splits_word(source.text, end)):
            start_o, end_o = source.to_original(pos, end)
            while start_o < end_o and source_text[start_o].isspace():
                start_o += 1
            while end_o > start_o and source_text[end_o - 1].isspace():
                end_o -= 1
            # The original span must itself normalise to the quote: nothing cut mid-character.
            if normalize(source_text[start_o:end_o]).text == needle:
                found.append((start_o, end_o))
                if near is None:
                    break
        pos = source.text.find(needle, pos + 1)
    if not found:
        return None
    if near is not None:
        found.sort(key=lambda span: abs(span[0] - near))
    start_o, end_o = found[0]
    return QuoteMatch(start=start_o, end=end_o, quote=source_text[start_o:end_o])


def verify_span(source_text: str, start: int, end: int, quote: str) -> bool:
    """True iff `source_text[start:end] == quote` with the offsets in range; the final check."""
    return 0 <= start <= end <= len(source_text) and source_text[start:end] == quote


def check_citation(citation: Citation, source_text: str) -> Citation:
    """A copy of `citation` with `verified` set by `verify_span`; an empty quote never verifies."""
    ok = bool(citation.quote.strip()) and verify_span(
        source_text, citation.start, citation.end, citation.quote
    )
    return citation.model_copy(update={"verified": ok})
