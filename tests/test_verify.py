"""Quote verification: verbatim quotes are found with their offsets, near-misses never are."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from hkqa.normalize import normalize
from hkqa.types import Citation
from hkqa.verify import QuoteMatch, check_citation, find_quote, verify_span

CORPUS = Path(__file__).resolve().parents[1] / "hkqa" / "corpus"


def doc(prefix: str) -> str:
    """The text of the bundled corpus document whose file name starts with `prefix`."""
    (path,) = CORPUS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def found(quote: str, source: str, **kwargs: int) -> str | None:
    """The verbatim source text `find_quote` returns, checked against its offsets."""
    match = find_quote(quote, source, **kwargs)
    if match is None:
        return None
    assert source[match.start : match.end] == match.quote
    assert match.quote == match.quote.strip()
    return match.quote


# --- typography and whitespace are forgiven -------------------------------------------------


def test_straight_quotes_find_curly_ones() -> None:
    text = doc("003")
    assert found('they\'ve "paused" their processing of requests', text) == (
        "they’ve “paused” their processing of requests"
    )


def test_curly_quotes_find_straight_ones() -> None:
    text = doc("000")
    quote = "authorities “could go after them and take them to court"
    assert found(quote, text) == 'authorities "could go after them and take them to court'


def test_whitespace_and_newlines_and_nbsp() -> None:
    assert found("which criminalises separatism, subversion", doc("002")) == (
        "which criminalises\u00a0separatism, subversion"
    )
    text = doc("004")
    quote = "Facebook said its suspension\n   will also apply to WhatsApp,\n\nwhich it owns."
    assert (
        found(quote, text)
        == "Facebook said its suspension will also apply to WhatsApp, which it owns."
    )


def test_quote_across_a_paragraph_break() -> None:
    text = doc("004")
    got = found(
        "News of the suspension was first reported by The Wall Street Journal. Soon after,", text
    )
    assert got is not None and "\n\n" in got


def test_ligatures_either_way() -> None:
    source = "The ﬁrm ﬁled a notice with the ofﬁce."
    assert found("The firm filed a notice", source) == "The ﬁrm ﬁled a notice"
    assert found("ﬁled a notice with the office", "It filed a notice with the office.") == (
        "filed a notice with the office"
    )


def test_dashes_and_ellipsis_characters() -> None:
    text = doc("004")
    got = found("giants - and other companies that follow in their footsteps -", text)
    assert got == "giants — and other companies that follow in their footsteps —"
    # An inner ellipsis is refused even where the source has one: it reads as an omission.
    assert (
        find_quote("wait… and see what happens", "They said: wait... and see what happens.") is None
    )


def test_mismatched_closing_quote_in_source() -> None:
    text = doc("001")
    quote = (
        "“received a relatively small number of requests from Hong Kong authorities, "
        "but we are pausing our response to these requests as we conduct our review.”"
    )
    match = find_quote(quote, text)
    assert match is not None
    assert match.quote.startswith("received a relatively small number")
    assert match.quote.endswith("as we conduct our review.")
    assert text[match.end] == "’"


def test_surrounding_marks_and_edge_ellipses_are_dropped() -> None:
    text = doc("003")
    quote = "  “…pending further assessment of the impact of the National Security Law…”  "
    assert (
        found(quote, text)
        == "pending further assessment of the impact of the National Security Law"
    )


def test_same_quote_in_two_documents() -> None:
    quote = "we have grave concerns regarding both the developing process"
    for prefix in ("003", "004"):
        assert found(quote, doc(prefix)) == quote


# --- nothing else is forgiven ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("quote", "prefix"),
    [
        # The hyphen differs: 003 writes "human-rights", 004 "human rights".
        ("including formal human rights due diligence", "003"),
        ("including formal human-rights due diligence", "004"),
        # 000 says "responses", 001 says "response".
        ("we are pausing our responses to these requests", "001"),
        ("we are pausing our response to these requests", "000"),
        # A word dropped, a word added.
        ("a possibility that things are happening but", "001"),
        ("a possibility that things that are happening but", "000"),
        # "would not" is not "would".
        ("they [companies] would be able to divulge this", "000"),
        ("they would be able to divulge this", "001"),
        # A different number.
        ("had offered “some data” in 45% of these instances", "003"),
        # Case counts.
        ("microsoft, another big technology player", "001"),
        # One word changed.
        ("Twitter also confirmed it followed the suit", "004"),
    ],
)
def test_near_misses_are_refused(quote: str, prefix: str) -> None:
    assert find_quote(quote, doc(prefix)) is None


def test_near_miss_controls_are_found() -> None:
    """The real wording of each near-miss above is found, so the refusals mean something."""
    for quote, prefix in [
        ("including formal human rights due diligence", "004"),
        ("including formal human-rights due diligence", "003"),
        ("we are pausing our responses to these requests", "000"),
        ("we are pausing our response to these requests", "001"),
        ("a possibility that things are happening but", "000"),
        ("they [companies] would not be able to divulge this", "000"),
        ("had offered “some data” in 46% of these instances", "003"),
        ("Microsoft, another big technology player", "001"),
        ("Twitter also confirmed it followed suit", "004"),
    ]:
        assert found(quote, doc(prefix)) is not None, quote


def test_quote_longer_than_the_source_sentence() -> None:
    source = "Officials said they would review it."
    assert find_quote("Officials said they would review it today", source) is None
    assert find_quote("they would not review it", source) is None


@pytest.mark.parametrize(
    "quote",
    [
        "ould not be able to divulge",  # starts inside "would"
        "they [companies] would not be ab",  # ends inside "able"
        "the new law could mean such measures won",  # ends inside "won't"
        "mean such measures won't be enough. Authori",
        "including formal human",  # ends inside "human-rights"
        "rights due diligence and consultations",  # starts inside "human-rights"
        "ong Kong's new law could mean such",  # starts inside "Hong"
        "language of Hong Kong",  # ends inside "Hong Kong's"
    ],
)
def test_cuts_inside_words_are_refused(quote: str) -> None:
    text = doc("000") + "\n\n" + doc("003")
    assert find_quote(quote, text) is None


def test_whole_word_controls_are_found() -> None:
    text = doc("000") + "\n\n" + doc("003")
    for quote in ["would not be able to divulge", "language of Hong Kong's new law"]:
        assert found(quote, text) == quote


def test_numbers_are_not_cut() -> None:
    source = "Requests rose 46.5% to 1,000 last year."
    assert find_quote("Requests rose 46", source) is None
    assert find_quote("rose 46.5% to 1", source) is None
    assert found("Requests rose 46.5% to 1,000", source) == "Requests rose 46.5% to 1,000"


def test_possessive_and_contraction_not_cut() -> None:
    source = "We wouldn't comply with Hong Kong's police."
    assert find_quote("We would", source, min_chars=5) is None
    assert find_quote("comply with Hong Kong", source) is None
    assert found("We wouldn't comply", source) == "We wouldn't comply"


def test_match_may_not_cut_inside_one_characters_expansion() -> None:
    # "½" normalises to "1⁄2": a quote of "⁄2 ..." would otherwise come back as "½ ...".
    source = "About ½ of the users said so."
    assert find_quote("⁄2 of the users said", source) is None
    assert found("½ of the users said", source) == "½ of the users said"
    assert found("1⁄2 of the users said", source) == "½ of the users said"


def test_internal_ellipsis_is_refused() -> None:
    text = doc("003")
    # Both halves are in the source, but the ellipsis leaves words out.
    assert find_quote("pending further assessment … human-rights due diligence", text) is None
    assert find_quote("pending further assessment ... human-rights due diligence", text) is None
    assert found("pending further assessment", text) is not None
    assert found("human-rights due diligence", text) is not None


@pytest.mark.parametrize("quote", ["", "   ", "“”", "Hong Kong", "“Telecommunications”", "…"])
def test_too_little_to_be_evidence(quote: str) -> None:
    assert find_quote(quote, doc("000") + " Telecommunications") is None


def test_min_chars_is_honoured() -> None:
    source = "the law was passed."
    assert find_quote("the law", source) is None
    assert found("the law", source, min_chars=5) == "the law"


# --- which occurrence -----------------------------------------------------------------------


def test_near_picks_the_closest_occurrence() -> None:
    phrase = "user data requests"
    source = f"First, {phrase} rose. Then little happened. Finally, {phrase} fell."
    first = source.index(phrase)
    second = source.index(phrase, first + 1)
    no_hint = find_quote(phrase, source)
    assert no_hint is not None and no_hint.start == first
    late = find_quote(phrase, source, near=len(source))
    assert late is not None and (late.start, late.end) == (second, second + len(phrase))
    early = find_quote(phrase, source, near=0)
    assert early is not None and early.start == first
    middle = find_quote(phrase, source, near=second - 3)
    assert middle is not None and middle.start == second


def test_near_skips_occurrences_that_cut_words() -> None:
    source = "no user data requests. Then xuser data requests again and user data requests."
    near = source.index("xuser") + 1
    whole = [source.index("user data"), source.rindex("user data")]
    match = find_quote("user data requests", source, near=near)
    assert match is not None
    assert match.start == min(whole, key=lambda s: abs(s - near))


# --- verify_span and check_citation ---------------------------------------------------------


def test_verify_span() -> None:
    text = doc("004")
    quote = "Facebook said its suspension will also apply to WhatsApp"
    start = text.index(quote)
    assert verify_span(text, start, start + len(quote), quote)
    assert not verify_span(text, start + 1, start + len(quote) + 1, quote)
    assert not verify_span(text, start, start + len(quote), quote.replace("its", "the"))
    assert not verify_span(text, -1, len(quote) - 1, text[-1:] + text[: len(quote) - 1])
    assert not verify_span(text, len(text) - 2, len(text) + 5, text[-2:])
    assert not verify_span(text, 5, 3, "")


def test_check_citation() -> None:
    text = doc("003")
    match = find_quote(
        "“paused production on any new data requests from Hong Kong authorities”", text
    )
    assert match is not None
    good = Citation(
        n=1, doc_id="003", quote=match.quote, start=match.start, end=match.end, verified=False
    )
    assert check_citation(good, text).verified is True
    assert good.verified is False  # a copy, not the same object changed
    forged = good.model_copy(
        update={"quote": match.quote.replace("paused", "halted"), "verified": True}
    )
    assert check_citation(forged, text).verified is False
    shifted = good.model_copy(update={"start": good.start + 1, "end": good.end + 1})
    assert check_citation(shifted, text).verified is False
    empty = good.model_copy(update={"quote": "", "start": 0, "end": 0})
    assert check_citation(empty, text).verified is False


def test_quote_match_forbids_extra_fields() -> None:
    with pytest.raises(ValidationError):
        QuoteMatch(start=0, end=1, quote="a", doc_id="x")  # type: ignore[call-arg]


# --- properties -----------------------------------------------------------------------------

PLAIN_WORDS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789", min_size=1, max_size=8
)
TYPO_WORDS = st.sampled_from(
    ["don’t", "“quoted”", "co‑operate", "ﬁrm", "46%", "1,000", "U.S.", "(AsiaNews)", "—", "…"]
)
WORDS = st.lists(
    st.one_of(PLAIN_WORDS, TYPO_WORDS),
    min_size=4,
    max_size=40,
    unique_by=lambda w: normalize(w).text,
)
SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "\n\n", "  ", "\u00a0", " \t\n "])


@st.composite
def text_and_span(draw: st.DrawFn) -> tuple[list[str], str, int, int]:
    """Distinct words joined by assorted whitespace, and a run of at least two of them."""
    words = draw(WORDS)
    seps = draw(st.lists(SEPARATORS, min_size=len(words) - 1, max_size=len(words) - 1))
    text = words[0] + "".join(s + w for s, w in zip(seps, words[1:], strict=True))
    i = draw(st.integers(0, len(words) - 2))
    j = draw(st.integers(i + 2, len(words)))
    return words, text, i, j


def word_span(words: list[str], text: str, i: int, j: int) -> str:
    """The original text from the start of word i to the end of word j-1."""
    pos, starts = 0, []
    for w in words:
        pos = text.index(w, pos)
        starts.append(pos)
        pos += len(w)
    return text[starts[i] : starts[j - 1] + len(words[j - 1])]


def usable(words: list[str]) -> bool:
    """Enough text to count as evidence, with no ellipsis and no stripped edge marks."""
    joined = normalize(" ".join(words)).text
    edge_marks = ("'", '"', "...", "-")
    return (
        len(joined) >= 12
        and "..." not in joined
        and not joined.startswith(edge_marks)
        and not joined.endswith(edge_marks)
    )


@given(text_and_span(), st.booleans())
def test_any_word_run_is_found_verbatim(
    case: tuple[list[str], str, int, int], retype: bool
) -> None:
    words, text, i, j = case
    assume(usable(words[i:j]))
    span = word_span(words, text, i, j)
    # Retyped: straight quotes, plain dashes, single spaces, wrapped in curly quotes.
    quote = f"“{normalize(span).text}”" if retype else span
    match = find_quote(quote, text)
    assert match is not None
    assert text[match.start : match.end] == match.quote
    assert normalize(match.quote).text == normalize(span.strip()).text
    assert (match.start, match.end) == (text.index(span), text.index(span) + len(span))


@given(text_and_span(), st.data())
def test_any_changed_word_is_refused(
    case: tuple[list[str], str, int, int], data: st.DataObject
) -> None:
    words, text, i, j = case
    quoted = list(words[i:j])
    k = data.draw(st.integers(0, len(quoted) - 1))
    how = data.draw(st.sampled_from(["foreign", "other", "drop", "double"]))
    if how == "foreign":
        quoted[k] = "zq" + quoted[k] + "x"  # a word the text does not have
    elif how == "other":
        quoted[k] = data.draw(st.sampled_from([w for w in words if w != quoted[k]]))
    elif how == "drop":  # an inner word: dropping an edge one leaves a true quote
        assume(0 < k < len(quoted) - 1)
        del quoted[k]
    else:
        quoted.insert(k, quoted[k])
    assume(usable(quoted))
    assert find_quote(" ".join(quoted), text) is None


@given(st.sampled_from(sorted(CORPUS.glob("*.txt"))), st.data())
def test_any_word_run_of_the_corpus_is_found(path: Path, data: st.DataObject) -> None:
    text = path.read_text(encoding="utf-8")
    words = text.split()
    i = data.draw(st.integers(0, len(words) - 4))
    j = data.draw(st.integers(i + 4, min(len(words), i + 40)))
    span = word_span(words, text, i, j)
    # Quote marks at the edges are left out of the match.
    expected = normalize(span).text.strip(" \"'")
    assume(len(expected) >= 12)
    match = find_quote(span, text)
    assert match is not None
    assert verify_span(text, match.start, match.end, match.quote)
    assert normalize(match.quote).text == expected
