"""The firm lexicon: matching rules, ownership, user extensions and bad lexicon files."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkqa.errors import ConfigError
from hkqa.firms import Firm, FirmLexicon

CORPUS = Path(__file__).resolve().parent.parent / "hkqa" / "corpus"


@pytest.fixture(scope="module")
def lexicon() -> FirmLexicon:
    return FirmLexicon.load()


def corpus_text(prefix: str) -> str:
    (path,) = CORPUS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def surfaces(lexicon: FirmLexicon, text: str) -> list[tuple[str, str]]:
    return [(m.firm, m.surface) for m in lexicon.find(text)]


# Firms each bundled article names, read off the articles by hand (owners not included).
CORPUS_FIRMS = {
    "000": ["Facebook", "Google", "Microsoft", "Twitter"],
    "001": ["Facebook", "Google", "Microsoft", "Yahoo"],
    "002": ["Apple", "Cisco", "Facebook", "Google", "Microsoft", "Twitter", "Yahoo", "Zoom"],
    "003": [
        "Facebook", "Google", "Instagram", "Signal", "Telegram", "Twitter", "WhatsApp", "YouTube",
    ],
    "004": ["Facebook", "Google", "Microsoft", "Telegram", "Twitter", "WeChat", "WhatsApp"],
}  # fmt: skip


@pytest.mark.parametrize("prefix", sorted(CORPUS_FIRMS))
def test_corpus_firms(lexicon: FirmLexicon, prefix: str) -> None:
    text = corpus_text(prefix)
    assert lexicon.firms_in(text, owners=False) == CORPUS_FIRMS[prefix]
    for mention in lexicon.find(text):
        assert text[mention.start : mention.end] == mention.surface


def test_corpus_owners_are_added(lexicon: FirmLexicon) -> None:
    # 004 names WeChat but never Tencent, its owner.
    assert "Tencent" in lexicon.firms_in(corpus_text("004"))
    assert "Tencent" not in lexicon.firms_in(corpus_text("004"), owners=False)


def test_case_variants_in_corpus_match(lexicon: FirmLexicon) -> None:
    found = surfaces(lexicon, corpus_text("003"))
    assert ("WhatsApp", "Whatsapp") in found
    assert ("YouTube", "Youtube") in found


def test_ambiguous_words_match_only_capitalised(lexicon: FirmLexicon) -> None:
    text = (
        "Signal said no. A weak signal. Zoom, the video-conferencing programme, let users zoom in. "
        "An apple a day; Apple said. Send a telegram via Telegram. Draw a line on-line with Line. "
        "A meta question for Meta. The alphabet of Alphabet. An oracle told Oracle."
    )
    assert surfaces(lexicon, text) == [
        ("Signal", "Signal"),
        ("Zoom", "Zoom"),
        ("Apple", "Apple"),
        ("Telegram", "Telegram"),
        ("Line", "Line"),
        ("Facebook", "Meta"),
        ("Google", "Alphabet"),
        ("Oracle", "Oracle"),
    ]


def test_unambiguous_names_match_in_any_case(lexicon: FirmLexicon) -> None:
    text = "whatsapp, FACEBOOK, Twitter, youtube and tiktok"
    assert [firm for firm, _ in surfaces(lexicon, text)] == [
        "WhatsApp", "Facebook", "Twitter", "YouTube", "TikTok",
    ]  # fmt: skip


def test_word_boundaries_and_possessives(lexicon: FirmLexicon) -> None:
    text = "Facebook's rule, WhatsApp’s reply, Google-owned YouTube; Facebooker, Zoomed, iSignal."
    assert surfaces(lexicon, text) == [
        ("Facebook", "Facebook"),
        ("WhatsApp", "WhatsApp"),
        ("Google", "Google"),
        ("YouTube", "YouTube"),
    ]


def test_longest_alias_wins(lexicon: FirmLexicon) -> None:
    text = "Meta Platforms Inc. and Zoom Video Communications, then Meta\nPlatforms and Meta."
    mentions = lexicon.find(text)
    assert [(m.firm, m.surface) for m in mentions] == [
        ("Facebook", "Meta Platforms Inc."),
        ("Zoom", "Zoom Video Communications"),
        ("Facebook", "Meta\nPlatforms"),
        ("Facebook", "Meta"),
    ]
    assert all(text[m.start : m.end] == m.surface for m in mentions)


def test_firms_in_adds_owners(lexicon: FirmLexicon) -> None:
    assert lexicon.firms_in("WhatsApp paused") == ["Facebook", "WhatsApp"]
    assert lexicon.firms_in("WhatsApp paused", owners=False) == ["WhatsApp"]
    assert lexicon.firms_in("What did TikTok and LinkedIn do?") == [
        "ByteDance", "LinkedIn", "Microsoft", "TikTok",
    ]  # fmt: skip
    assert lexicon.firms_in("nothing here") == []


def test_firms_outside_the_corpus_are_known(lexicon: FirmLexicon) -> None:
    names = lexicon.names()
    assert names == sorted(names)
    others = ["Amazon", "TikTok", "ByteDance", "Netflix", "Snapchat", "Reddit", "Huawei", "Baidu",
              "Weibo", "Line", "Viber", "IBM", "Oracle", "Dropbox", "Alibaba"]  # fmt: skip
    for name in others:
        assert name in names
        assert lexicon.firms_in(f"Did {name} hand over data?", owners=False) == [name]


def test_resolve_owner_subsidiaries_aliases(lexicon: FirmLexicon) -> None:
    facebook = lexicon.resolve("meta platforms")
    assert facebook is not None and facebook.name == "Facebook"
    signal = lexicon.resolve("signal")
    assert signal is not None and signal.name == "Signal"
    assert lexicon.resolve("  WhatsApp   Inc ") is not None
    assert lexicon.resolve("Acme Widgets") is None
    assert lexicon.owner_of("whatsapp") == "Facebook"
    assert lexicon.owner_of("Facebook") is None
    assert lexicon.owner_of("Acme Widgets") is None
    assert lexicon.subsidiaries("Meta") == ["Instagram", "WhatsApp"]
    assert lexicon.subsidiaries("Microsoft") == ["LinkedIn", "Skype"]
    assert lexicon.subsidiaries("Signal") == []
    aliases = lexicon.aliases_for("meta")
    assert aliases[0] == "Facebook"
    assert {"Meta", "Meta Platforms", "Facebook Inc"} <= set(aliases)
    assert lexicon.aliases_for("Acme Widgets") == []


def test_bundled_lexicon_is_cached(lexicon: FirmLexicon) -> None:
    assert FirmLexicon.load() is lexicon


# --- properties -------------------------------------------------------------------------------

VOCAB = [
    "Facebook", "facebook", "Meta", "meta", "Meta Platforms", "WhatsApp", "Whatsapp", "Signal",
    "signal", "Zoom", "zoom", "Zoom Video", "Line", "line", "Yahoo!", "Apple", "Google-owned",
    "TikTok", "the", "firm", "said", "Facebooker", "Alphabet", "alphabet", "Amazon.com",
]  # fmt: skip
SEPARATORS = [" ", "\n", ", ", "'s ", "’s ", "-", ".", "", "  ", "\u00a0", "x"]

texts = st.lists(st.tuples(st.sampled_from(VOCAB), st.sampled_from(SEPARATORS)), max_size=25).map(
    lambda parts: "".join(w + s for w, s in parts)
)


def reference_find(lexicon: FirmLexicon, text: str) -> list[tuple[str, int, int]]:
    """Leftmost-longest alias matching, one alias at a time: slow but plainly right."""
    patterns = []
    for firm in lexicon.firms():
        for alias, exact in firm.surface_forms():
            body = r"\s+".join(re.escape(t) for t in alias.split())
            flags = 0 if exact else re.IGNORECASE
            patterns.append((firm.name, re.compile(rf"(?<!\w){body}(?!\w)", flags)))
    found, pos = [], 0
    while pos < len(text):
        best = None
        for name, pattern in patterns:
            m = pattern.match(text, pos)
            if m and (best is None or m.end() > best[2]):
                best = (name, m.start(), m.end())
        if best:
            found.append(best)
            pos = best[2]
        else:
            pos += 1
    return found


@settings(max_examples=200, deadline=None)
@given(texts)
def test_find_agrees_with_reference(text: str) -> None:
    lexicon = FirmLexicon.load()
    mentions = lexicon.find(text)
    assert [(m.firm, m.start, m.end) for m in mentions] == reference_find(lexicon, text)
    assert lexicon.firms_in(text, owners=False) == sorted({m.firm for m in mentions})


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_find_offsets_hold_on_any_text(text: str) -> None:
    lexicon = FirmLexicon.load()
    previous_end = 0
    for mention in lexicon.find(text):
        assert text[mention.start : mention.end] == mention.surface
        assert previous_end <= mention.start < mention.end
        previous_end = mention.end
        firm = lexicon.resolve(mention.surface)
        assert firm is not None and firm.name == mention.firm


def test_find_is_fast_on_a_large_text(lexicon: FirmLexicon) -> None:
    text = "".join(corpus_text(p) for p in CORPUS_FIRMS) * 80  # about 1 MB
    started = time.perf_counter()
    firms = lexicon.firms_in(text)
    assert time.perf_counter() - started < 3.0
    assert "WhatsApp" in firms


# --- user files ---------------------------------------------------------------------------------


def write(tmp_path: Path, content: object, name: str = "firms.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return path


def test_user_file_adds_and_extends_firms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "firms": [
                {"name": "HYBE", "aliases": ["HYBE Corporation"], "case_sensitive": True},
                {"name": "Weverse", "aliases": ["Weverse Company"], "owner": "hybe"},
                {"name": "whatsapp", "aliases": ["WA Messenger"]},
                {"name": "LinkedIn", "owner": "Snap"},
            ]
        },
    )
    extended = FirmLexicon.load(path)
    assert extended.firms_in("Weverse Company and the WA Messenger") == [
        "Facebook", "HYBE", "Weverse", "WhatsApp",
    ]  # fmt: skip
    assert extended.owner_of("Weverse") == "HYBE"
    assert extended.owner_of("LinkedIn") == "Snap"
    assert extended.subsidiaries("Microsoft") == ["Skype"]
    assert "WA Messenger" in extended.aliases_for("WhatsApp")
    assert extended.firms_in("hybe") == []  # the user asked for exact case
    # The bundled lexicon is left as it was.
    bundled = FirmLexicon.load()
    assert bundled.resolve("WA Messenger") is None
    assert bundled.owner_of("LinkedIn") == "Microsoft"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ({"firms": [{"name": "Acme", "colour": "red"}]}, "firms.0.colour"),
        ({"firms": [{"aliases": ["x"]}]}, "firms.0.name"),
        ({"firms": [{"name": "  "}]}, "must not be blank"),
        ({"companies": []}, "expected shape"),
        ({"firms": [{"name": "Acme", "owner": "Nobody Corp"}]}, "'Nobody Corp', which is not"),
        ({"firms": [{"name": "Acme", "aliases": ["Telegram Messenger"]}]}, "names both"),
        ({"firms": [{"name": "Acme", "owner": "Facebook"}, {"name": "Facebook", "owner": "Acme"}]},
         "circle"),
        ({"firms": [{"name": "Acme", "owner": "Acme"}]}, "cannot own itself"),
    ],
)  # fmt: skip
def test_bad_user_file_names_file_and_problem(
    tmp_path: Path, content: object, problem: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ConfigError) as err:
        FirmLexicon.load(path)
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_missing_user_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        FirmLexicon.load(tmp_path / "nope.json")


def test_lexicon_from_firms_directly() -> None:
    lexicon = FirmLexicon(
        [Firm(name="Acme", aliases=["Acme Corp"]), Firm(name="Widget", owner="acme")]
    )
    assert lexicon.firms_in("the widget maker") == ["Acme", "Widget"]
    assert lexicon.find("") == []
    assert FirmLexicon([]).firms_in("Facebook") == []
