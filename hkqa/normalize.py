"""Text normalisation that remembers, for every output character, where it came from.

Typography (curly quotes, dashes, ellipses, odd spaces, ligatures) and whitespace runs are
flattened so that a quote typed one way finds its source written another way, and the offset
map carries any span of the normalised text back to the exact original characters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

_SINGLE_QUOTES = "‘’‚‛′`"  # ‘ ’ ‚ ‛ ′ and the backtick
_DOUBLE_QUOTES = "“”„‟″«»"  # “ ” „ ‟ ″ « »
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"  # ‐ ‑ ‒ – — ― −
_REMOVED = "\u200b\u200c\u200d\u2060\ufeff\u00ad"  # zero-width chars and the soft hyphen

# Characters whose replacement is fixed here, ahead of (and instead of) NFKC.
_TABLE: dict[str, str] = {
    **dict.fromkeys(_SINGLE_QUOTES, "'"),
    **dict.fromkeys(_DOUBLE_QUOTES, '"'),
    **dict.fromkeys(_DASHES, "-"),
    "\u2026": "...",
    **dict.fromkeys(_REMOVED, ""),
}
_TRANSLATE = str.maketrans(_TABLE)

# Every code point str.isspace() accepts lies below U+3001 (the last is the ideographic space).
_WS_LIMIT = 0x3001
_WS_LUT = np.array([chr(c).isspace() for c in range(_WS_LIMIT)], dtype=bool)
_BACKTICK = ord("`")

Offsets = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Normalized:
    """A normalised text and, per character, the original span that produced it."""

    text: str
    offsets: Offsets = field(repr=False)
    """For each character of `text`, the index of the first original character behind it."""
    ends: Offsets = field(repr=False)
    """For each character of `text`, one past the last original character behind it."""

    def __len__(self) -> int:
        return len(self.text)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span whose characters produced `text[start:end]`; maps matches back."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span {start}:{end} is outside 0:{len(self.text)}")
        if start < end:
            return int(self.offsets[start]), int(self.ends[end - 1])
        if start < len(self.text):
            return int(self.offsets[start]), int(self.offsets[start])
        last = int(self.ends[-1]) if len(self.ends) else 0
        return last, last


@lru_cache(maxsize=8192)
def _map_char(ch: str, casefold: bool) -> str:
    """The normalised form of one character: empty, itself, or one or more others."""
    if ch in _TABLE:
        return _TABLE[ch]
    out = unicodedata.normalize("NFKC", ch)
    if casefold:
        out = unicodedata.normalize("NFKC", out.casefold())
    return out.translate(_TRANSLATE)


def _codes(text: str) -> npt.NDArray[np.uint32]:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _map_chars(
    codes: npt.NDArray[np.uint32], casefold: bool
) -> tuple[npt.NDArray[np.uint32], Offsets]:
    """Code points with every character mapped, and the original index of each output one."""
    n = len(codes)
    cand_pos = np.flatnonzero((codes > 127) | (codes == _BACKTICK))
    cand_codes = codes[cand_pos]
    changed: dict[int, str] = {}
    for c in np.unique(cand_codes).tolist():
        out = _map_char(chr(c), casefold)
        if out != chr(c):
            changed[c] = out
    if not changed:
        return codes, np.arange(n, dtype=np.int64)
    keys = np.array(sorted(changed), dtype=np.uint32)
    key_lengths = np.array([len(changed[k]) for k in keys.tolist()], dtype=np.int64)
    idx = np.minimum(np.searchsorted(keys, cand_codes), len(keys) - 1)
    hit = keys[idx] == cand_codes
    hit_pos, hit_codes = cand_pos[hit], cand_codes[hit]
    lengths = np.ones(n, dtype=np.int64)
    lengths[hit_pos] = key_lengths[idx[hit]]
    starts = np.repeat(np.arange(n, dtype=np.int64), lengths)
    mapped = np.repeat(codes, lengths)
    out_pos = np.cumsum(lengths) - lengths  # where each original char's output begins
    for k, out in changed.items():
        pos = out_pos[hit_pos[hit_codes == k]]
        for j, ch in enumerate(out):
            mapped[pos + j] = ord(ch)
    return mapped, starts


def normalize(text: str, *, casefold: bool = False) -> Normalized:
    """`text` with typography and whitespace flattened plus an offset map; call before matching.

    Each character goes through NFKC (so "ﬁ" gives "fi", both mapped to the ligature), curly
    quotes, primes and the backtick become ' or ", dashes become -, "…" becomes "...",
    zero-width characters and soft hyphens vanish, and every whitespace run becomes one space.
    Leading and trailing whitespace is kept (as one space), so offsets stay simple.
    """
    if not text:
        empty = np.zeros(0, dtype=np.int64)
        return Normalized("", empty, empty)
    codes = _codes(text)
    if casefold:
        codes = np.where((codes >= 65) & (codes <= 90), codes + 32, codes).astype("<u4")
    mapped, starts = _map_chars(codes, casefold)
    is_ws = (mapped < _WS_LIMIT) & _WS_LUT[np.minimum(mapped, _WS_LIMIT - 1)]
    # A whitespace character right after another one is folded into the first.
    keep = ~(is_ws & np.concatenate(([False], is_ws[:-1])))
    kept = np.flatnonzero(keep)
    offsets = starts[kept]
    # Each kept character stands for everything up to the next kept one.
    last = np.append(kept[1:], len(mapped)) - 1
    ends = starts[last] + 1 if len(kept) else np.zeros(0, dtype=np.int64)
    out = mapped[kept].astype("<u4")
    out[is_ws[kept]] = 32
    offsets.flags.writeable = ends.flags.writeable = False
    return Normalized(out.tobytes().decode("utf-32-le", "surrogatepass"), offsets, ends)


def normalize_for_match(text: str) -> str:
    """`text` normalised, casefolded and stripped, without offsets; for comparing strings."""
    return normalize(text, casefold=True).text.strip()
