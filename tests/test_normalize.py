"""Normalisation: what each rule does, and that the offset map always leads back to the source."""

from __future__ import annotations

import itertools
import re
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkqa.normalize import Normalized, normalize, normalize_for_match

CORPUS = Path(__file__).resolve().parents[1] / "hkqa" / "corpus"

# Characters the rules single out, mixed into generated text so hypothesis hits them often.
TRICKY = [
    "‘", "’", "‚", "‛", "′", "`", "“", "”", "„", "‟", "″", "«", "»",
    "‐", "‑", "‒", "–", "—", "―", "−", "…",
    "\u00a0", "\u2009", "\u202f", "\u3000", "\n", "\r\n", "\t", "  ",
    "\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad",
    "ﬁ", "ﬂ", "ﬃ", "ß", "ẞ", "İ", "Ａ", "½", "²", "¨", "´", "e\u0301", "é", "ΐ", "Σ",
    "'", '"', "-", ".", " ", "a", "B", "7",
]  # fmt: skip
texts = st.lists(st.one_of(st.sampled_from(TRICKY), st.characters()), max_size=40).map("".join)

# The rules, written out independently of the implementation, for the reference below.
SPEC_TABLE = {
    **dict.fromkeys("‘’‚‛′`", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―−", "-"),
    "…": "...",
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
}


def reference(text: str, casefold: bool = False) -> tuple[str, list[int], list[int]]:
    """A slow, obvious implementation: map each character, then fold whitespace runs."""
    chars: list[tuple[str, int]] = []
    for i, ch in enumerate(text):
        if ch in SPEC_TABLE:
            mapped = SPEC_TABLE[ch]
        else:
            mapped = unicodedata.normalize("NFKC", ch)
            if casefold:
                mapped = unicodedata.normalize("NFKC", mapped.casefold())
            mapped = "".join(SPEC_TABLE.get(c, c) for c in mapped)
        chars.extend((c, i) for c in mapped)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for c, i in chars:
        if c.isspace():
            if out and out[-1] == " ":  # only whitespace turns into " ": the run grows
                ends[-1] = i + 1
                continue
            c = " "
        out.append(c)
        starts.append(i)
        ends.append(i + 1)
    return "".join(out), starts, ends


def is_clean_cut(norm: Normalized, pos: int) -> bool:
    """True when no original character feeds the normalised text on both sides of `pos`."""
    return pos in (0, len(norm.text)) or norm.ends[pos - 1] <= norm.offsets[pos]


# --- the rules, one by one ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("they’ve “paused”", 'they\'ve "paused"'),
        ("‚low‛ „nine‟ «guillemets» 5′ 6″ `tick`", "'low' \"nine\" \"guillemets\" 5' 6\" 'tick'"),
        ("a‐b‑c‒d–e—f―g−h", "a-b-c-d-e-f-g-h"),
        ("wait… what", "wait... what"),
        ("a\u00a0b\u2009c\u202fd\u3000e", "a b c d e"),
        ("one\n\ntwo \t three\r\nfour", "one two three four"),
        (
            "zero\u200bwidth\u200c\u200djoin\ufeffers soft\u00adhyphen",
            "zerowidthjoiners softhyphen",
        ),
        ("the ﬁrm ﬂed ﬃce", "the firm fled ffice"),
        ("ＡＢＣ １２３", "ABC 123"),
        ("  kept  ", " kept "),
        ("", ""),
    ],
)
def test_rules(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


def test_case_is_kept_unless_asked() -> None:
    assert normalize("Hong Kong STRASSE").text == "Hong Kong STRASSE"
    assert normalize("Hong Kong STRAẞE", casefold=True).text == "hong kong strasse"
    assert normalize_for_match("  Facebook’s “PAUSE”\n") == 'facebook\'s "pause"'


def test_ligature_maps_every_output_char_to_the_ligature() -> None:
    norm = normalize("a ﬁx")
    assert norm.text == "a fix"
    assert list(norm.offsets) == [0, 1, 2, 2, 3]
    assert list(norm.ends) == [1, 2, 3, 3, 4]
    assert norm.to_original(2, 5) == (2, 4)
    with pytest.raises(ValueError):
        norm.offsets[0] = 1  # the map is read-only


def test_whitespace_run_maps_to_the_whole_run() -> None:
    text = "end.\n\n \u00a0Next"
    norm = normalize(text)
    assert norm.text == "end. Next"
    start, end = norm.to_original(4, 5)
    assert text[start:end] == "\n\n \u00a0"
    assert norm.to_original(0, 9) == (0, len(text))


def test_removed_char_between_spaces_folds_into_one_run() -> None:
    text = "x \u200b y"
    norm = normalize(text)
    assert norm.text == "x y"
    assert norm.to_original(1, 2) == (1, 4)


def test_to_original_rejects_spans_out_of_range() -> None:
    norm = normalize("abc")
    for start, end in [(-1, 2), (2, 1), (0, 4)]:
        with pytest.raises(ValueError):
            norm.to_original(start, end)
    assert norm.to_original(3, 3) == (3, 3)
    assert normalize("").to_original(0, 0) == (0, 0)


def test_lone_surrogate_survives() -> None:
    text = "bad \udcff byte"
    assert normalize(text).text == text


def test_every_unicode_space_is_below_the_lookup_limit() -> None:
    spaces = [c for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert max(spaces) < 0x3001


def test_corpus_typography_is_flattened() -> None:
    for path in sorted(CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        norm = normalize(text)
        assert not re.search("[‘’“”–—\u00a0]", norm.text), path.name
        assert "  " not in norm.text and "\n" not in norm.text, path.name
        assert (norm.text, list(norm.offsets), list(norm.ends)) == reference(text), path.name


# --- properties -----------------------------------------------------------------------------


@given(texts, st.booleans())
def test_agrees_with_the_reference(text: str, casefold: bool) -> None:
    norm = normalize(text, casefold=casefold)
    assert (norm.text, list(norm.offsets), list(norm.ends)) == reference(text, casefold)


@given(texts, st.booleans())
def test_offsets_are_monotonic_and_in_range(text: str, casefold: bool) -> None:
    norm = normalize(text, casefold=casefold)
    assert len(norm.offsets) == len(norm.ends) == len(norm.text)
    pairs = list(zip(norm.offsets.tolist(), norm.ends.tolist(), strict=True))
    assert all(0 <= s < e <= len(text) for s, e in pairs)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in itertools.pairwise(pairs))


@settings(max_examples=300)
@given(texts, st.booleans(), st.data())
def test_to_original_covers_exactly_the_producing_chars(
    text: str, casefold: bool, data: st.DataObject
) -> None:
    norm = normalize(text, casefold=casefold)
    cuts = [p for p in range(len(norm.text) + 1) if is_clean_cut(norm, p)]
    start = data.draw(st.sampled_from(cuts))
    end = data.draw(st.sampled_from([p for p in cuts if p >= start]))
    o_start, o_end = norm.to_original(start, end)
    assert 0 <= o_start <= o_end <= len(text)
    assert normalize(text[o_start:o_end], casefold=casefold).text == norm.text[start:end]


@given(texts)
def test_idempotent(text: str) -> None:
    once = normalize(text).text
    assert normalize(once).text == once
    assert normalize_for_match(normalize_for_match(text)) == normalize_for_match(text)
