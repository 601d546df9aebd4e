"""Firm positions: the stance of each firm the corpus names, from real cues over real documents,
with verified quotes; renderers; and the LLM path against a recording OpenAI-compatible fake."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hkqa.api import Hkqa
from hkqa.config import Settings
from hkqa.errors import ConfigError
from hkqa.firms import Firm, FirmLexicon
from hkqa.llm import OpenAICompatibleLLM, llm_name, load_llm
from hkqa.positions import (
    CSV_COLUMNS,
    MARKDOWN_COLUMNS,
    NO_POSITION,
    STANCES,
    attribute_sentences,
    positions_csv,
    positions_for,
    positions_markdown,
    sentence_cues,
)
from hkqa.types import Document, FirmPosition
from hkqa.verify import verify_span
from tests.fake_openai import FakeOpenAI

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

PAUSED = ["Facebook", "WhatsApp", "Twitter", "Google", "Microsoft", "Zoom", "Telegram"]
COMPLIED = ["Apple", "Yahoo", "Cisco"]


@pytest.fixture()
def hkqa(corpus_index: Path) -> Hkqa:
    return Hkqa(Settings(index_dir=corpus_index))


@pytest.fixture()
def rows(hkqa: Hkqa) -> list[FirmPosition]:
    return hkqa.positions(use_llm=False)


def by_firm(rows: list[FirmPosition]) -> dict[str, FirmPosition]:
    return {r.firm: r for r in rows}


def doc(doc_id: str, text: str, *, date: str | None = None, outlet: str | None = None) -> Document:
    return Document(doc_id=doc_id, text=text, date=date, outlet=outlet, content_hash=doc_id)


def lexicon_with(*firms: Firm) -> FirmLexicon:
    return FirmLexicon([*FirmLexicon.load().firms(), *firms])


def assert_quotes_verbatim(rows: list[FirmPosition], docs: dict[str, Document]) -> None:
    for row in rows:
        assert len(row.quote_stances) == len(row.quotes)
        for quote in row.quotes:
            text = docs[quote.doc_id].text
            assert quote.verified
            assert text[quote.start : quote.end] == quote.quote
            assert verify_span(text, quote.start, quote.end, quote.quote)


# -- the bar on the bundled corpus --------------------------------------------------------------


@pytest.mark.parametrize("firm", PAUSED)
def test_firms_that_paused_data_requests(rows: list[FirmPosition], firm: str) -> None:
    row = by_firm(rows)[firm]
    assert row.stance == "paused"
    assert row.stance_label == STANCES["paused"]
    assert row.quote_stances[0] == "paused"
    assert row.backend == "cues"


@pytest.mark.parametrize("firm", COMPLIED)
def test_firms_that_gave_in_before(rows: list[FirmPosition], firm: str) -> None:
    row = by_firm(rows)[firm]
    assert row.stance == "complied_past"
    assert any(firm in q.quote for q in row.quotes)


def test_signal_never_held_data(rows: list[FirmPosition]) -> None:
    row = by_firm(rows)["Signal"]
    assert row.stance == "never_held_data"
    assert "paused" not in row.secondary_stances
    assert "Signal" in row.quotes[0].quote


def test_microsoft_pauses_while_reviewing(rows: list[FirmPosition]) -> None:
    row = by_firm(rows)["Microsoft"]
    assert row.stance == "paused"
    assert "reviewing" in row.secondary_stances
    assert "reviewing" in row.quote_stances


def test_every_stance_has_a_verified_quote_that_carries_its_cue(
    rows: list[FirmPosition], hkqa: Hkqa
) -> None:
    docs = {d.doc_id: d for d in hkqa.documents()}
    assert_quotes_verbatim(rows, docs)
    for row in rows:
        if row.stance == NO_POSITION:
            assert not row.quotes and row.stance_label == "no statement found"
            continue
        assert row.quotes, row.firm
        for quote, stance in zip(row.quotes, row.quote_stances, strict=True):
            assert stance in {c.stance for c in sentence_cues(quote.quote)}, (row.firm, quote)
        assert row.stance not in row.secondary_stances
        assert set(row.quote_stances) == {row.stance, *row.secondary_stances}


def test_only_firms_the_corpus_names_appear(rows: list[FirmPosition], hkqa: Hkqa) -> None:
    firms = by_firm(rows)
    assert "Amazon" not in firms
    # Tencent is only implied, as WeChat's owner: WeChat appears, Tencent does not.
    assert "WeChat" in firms and firms["WeChat"].owner == "Tencent"
    assert "Tencent" not in firms
    text = " ".join(d.text for d in hkqa.documents())
    named = {m.firm for m in hkqa.lexicon.find(text)}
    assert set(firms) == named
    for row in rows:
        assert row.mentioned_in, row.firm


def test_rows_are_sorted_by_stance_then_name(rows: list[FirmPosition]) -> None:
    order = list(STANCES)
    keys = [(order.index(r.stance), r.firm.casefold()) for r in rows]
    assert keys == sorted(keys)


def test_zoom_suspending_accounts_is_not_what_makes_it_paused(rows: list[FirmPosition]) -> None:
    row = by_firm(rows)["Zoom"]
    assert row.stance == "paused"
    assert all("suspended the accounts" not in q.quote for q in row.quotes)


def test_twitter_sources_disagree_on_timing(rows: list[FirmPosition]) -> None:
    firms = by_firm(rows)
    disagreement = firms["Twitter"].disagreement
    assert disagreement is not None and "timing" in disagreement
    assert "since" in disagreement and "immediately after" in disagreement
    assert firms["Signal"].disagreement is None


def test_outlets_count_near_duplicates_once(rows: list[FirmPosition], hkqa: Hkqa) -> None:
    docs = {d.doc_id: d for d in hkqa.documents()}
    for row in rows:
        assert row.n_outlets <= len(row.outlets)
        primary = [q for q, s in zip(row.quotes, row.quote_stances, strict=True) if s == row.stance]
        labels = {docs[d].outlet or d for q in primary for d in [q.doc_id, *q.also_reported_by]}
        assert set(row.outlets) == labels
    microsoft = by_firm(rows)["Microsoft"]
    # Its statement is carried by two documents near-verbatim: one source, not two.
    assert any(q.also_reported_by for q in microsoft.quotes)
    assert microsoft.n_outlets < len(microsoft.outlets)
    assert microsoft.earliest_date == min(
        docs[d].date or "9999" for q in microsoft.quotes for d in [q.doc_id, *q.also_reported_by]
    )


def test_explicit_firms_include_unnamed_ones_as_no_position(hkqa: Hkqa) -> None:
    got = hkqa.positions(firms=["amazon", "whatsapp inc"], use_llm=False)
    assert [(r.firm, r.stance) for r in got] == [("WhatsApp", "paused"), ("Amazon", NO_POSITION)]
    assert got[1].mentioned_in == [] and got[1].quotes == []
    with pytest.raises(ConfigError) as info:
        hkqa.positions(firms=["Nokiaa"], use_llm=False)
    assert info.value.hint


# -- cue rules on documents written for the test ------------------------------------------------


def stances(docs: list[Document], lexicon: FirmLexicon | None = None) -> dict[str, str]:
    return {r.firm: r.stance for r in positions_for(docs, lexicon or FirmLexicon.load())}


def test_a_collective_statement_gives_every_firm_named() -> None:
    text = (
        "Reddit, Discord and Pinterest said on Tuesday that they will no longer process data "
        "requests from the police."
    )
    assert stances([doc("d", text)]) == dict.fromkeys(["Discord", "Pinterest", "Reddit"], "paused")


def test_joining_firms_that_will_not_provide_information() -> None:
    text = (
        "The list of companies that will not hand over information on their users to the "
        "authorities is growing.\n\nYesterday, Dropbox and Viber joined Reddit, saying that they "
        "want to assess the impact of the law."
    )
    rows = positions_for([doc("d", text)], FirmLexicon.load())
    assert {r.firm: r.stance for r in rows} == dict.fromkeys(
        ["Dropbox", "Reddit", "Viber"], "paused"
    )
    for row in rows:
        assert row.secondary_stances == ["reviewing"]
        assert row.quotes[0].quote.startswith("The list of companies")
        assert row.firm in row.quotes[0].quote


def test_negations_requests_for_comment_and_other_suspensions_are_no_stance() -> None:
    text = (
        "Discord has not paused its processing of data requests. Reddit did not reply to "
        "requests for comment. In June, Pinterest suspended the accounts of some activists. "
        "If Dropbox refuses to cooperate with government requests, it could be fined."
    )
    assert set(stances([doc("d", text)]).values()) == {NO_POSITION}


def test_a_spokesperson_quoted_after_the_firm_speaks_for_it() -> None:
    text = (
        "Pinterest was asked about the law on Monday. “We have stopped handing over user data,” "
        "the company said. “These firms must leave,” Jane Doe, a legislator, said."
    )
    row = positions_for([doc("d", text)], FirmLexicon.load())[0]
    assert (row.firm, row.stance) == ("Pinterest", "paused")
    # The quote reaches back to the sentence naming the firm, so it shows who speaks.
    assert row.quotes[0].quote.startswith("Pinterest was asked")
    assert "Jane Doe" not in row.quotes[0].quote
    sentences = attribute_sentences(doc("d", text), FirmLexicon.load())
    assert [s.actors for s in sentences] == [("Pinterest",), ("Pinterest",), ()]


def test_a_subsidiary_statement_counts_for_its_owner_but_an_implied_owner_has_no_row() -> None:
    lexicon = lexicon_with(Firm(name="Acme Corp"), Firm(name="Acme Messenger", owner="Acme Corp"))
    statement = "Acme Messenger said it has paused all processing of data requests."
    alone = positions_for([doc("a", statement)], lexicon)
    assert [(r.firm, r.owner) for r in alone] == [("Acme Messenger", "Acme Corp")]
    both = by_firm(positions_for([doc("a", statement), doc("b", "Acme Corp sells ads.")], lexicon))
    assert both["Acme Corp"].stance == "paused"
    assert both["Acme Corp"].quotes[0].quote == statement


def test_a_possessive_mention_is_not_the_speaker() -> None:
    text = "Facebook, WhatsApp's parent firm, said it is reviewing the details of the new law."
    assert stances([doc("d", text)]) == {"Facebook": "reviewing", "WhatsApp": NO_POSITION}
    alone = "Google's spokesperson said it has suspended all data requests."
    assert stances([doc("d", alone)]) == {"Google": "paused"}


def test_never_held_data_outranks_a_hypothetical_pause() -> None:
    text = (
        "Viber said: “We would announce that we are stopping too, but we never started turning "
        "over user data. Also, we don't have user data to turn over.”"
    )
    row = positions_for([doc("d", text)], FirmLexicon.load())[0]
    assert row.stance == "never_held_data" and row.secondary_stances == []


def test_sources_disagreeing_on_timing_and_on_permanence() -> None:
    docs = [
        doc("a", "Reddit said it suspended data requests last week.", outlet="Daily A"),
        doc("b", "Reddit suspended data requests immediately after the law took effect."),
        doc("c", "Dropbox said it has paused data requests.", date="2020-07-07"),
        doc("d", "Dropbox will no longer process data requests.", date="2020-07-06"),
    ]
    rows = by_firm(positions_for(docs, FirmLexicon.load()))
    timing = rows["Reddit"].disagreement
    assert timing is not None
    assert "last week" in timing and "immediately after the law took effect" in timing
    assert "Daily A" in timing and "b says" in timing
    permanence = rows["Dropbox"].disagreement
    assert permanence is not None and "temporary" in permanence
    assert rows["Dropbox"].earliest_date == "2020-07-06"


def test_re_reported_statements_collapse_and_count_as_one_source() -> None:
    statement = (
        "Reddit said it has suspended the processing of user data requests from the Hong Kong "
        "police pending a review."
    )
    docs = [
        doc("a", f"Markets fell on Monday. {statement}"),
        doc("b", f"{statement} Analysts were not surprised."),
        doc("c", "Reddit confirmed it halted all data transfers to the authorities.", outlet="C"),
    ]
    row = positions_for(docs, FirmLexicon.load())[0]
    paused = [q for q, s in zip(row.quotes, row.quote_stances, strict=True) if s == "paused"]
    assert len(paused) == 2
    assert sorted(row.outlets) == ["C", "a", "b"]
    assert row.n_outlets == 2
    twice = next(q for q in paused if q.also_reported_by)
    assert {twice.doc_id, *twice.also_reported_by} == {"a", "b"}


TEMPLATES = {
    "paused": [
        "{firm} said on Monday that it has {verb} the processing of data requests from the police.",
        "{firm} said it will no longer {serve} user data to the authorities.",
    ],
    "complied_past": ["In the past, {firm} {past} user data to the authorities, a report found."],
    "never_held_data": [
        "{firm} said it has never {stored} user data.",
        "{firm} said: {lq}We don{ap}t have any user data to hand over.{rq}",
    ],
    "expects_to_comply": ["{firm} said it would have little choice but to comply with the law."],
    "reviewing": ["{firm} said it is {reviewing} the implications of the new law."],
}
FILLERS = [
    "The city has seen protests for months.",
    "Analysts expect more rules next year.",
    "Officials did not give details.",
    "Hong Kong Police Set Out New Rules",
]
SAFE_FIRMS = ["Reddit", "Dropbox", "Netflix", "Pinterest", "Discord", "Viber", "Huawei", "Xiaomi"]


@st.composite
def statements(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    firms = draw(st.lists(st.sampled_from(SAFE_FIRMS), min_size=1, max_size=3, unique=True))
    parts: list[str] = []
    expected = {}
    for firm in firms:
        stance = draw(st.sampled_from(sorted(TEMPLATES)))
        template = draw(st.sampled_from(TEMPLATES[stance]))
        curly = draw(st.booleans())
        sentence = template.format(
            firm=firm,
            verb=draw(st.sampled_from(["paused", "suspended", "halted", "stopped"])),
            serve=draw(st.sampled_from(["provide", "hand over", "share"])),
            past=draw(st.sampled_from(["handed over", "provided", "disclosed", "shared"])),
            stored=draw(st.sampled_from(["stored", "kept", "collected"])),
            reviewing=draw(st.sampled_from(["reviewing", "assessing", "studying"])),
            lq="“" if curly else '"',
            rq="”" if curly else '"',
            ap="’" if curly else "'",
        )
        parts += [*draw(st.lists(st.sampled_from(FILLERS), max_size=2)), sentence]
        expected[firm] = stance
    separators = draw(st.lists(st.sampled_from([" ", "\n\n", "  ", "\n\n\n"]), min_size=len(parts)))
    text = "".join(p + s for p, s in zip(parts, separators, strict=False))
    return text, expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_statements_in_any_document_get_their_stance_with_verbatim_quotes(
    case: tuple[str, dict[str, str]],
) -> None:
    text, expected = case
    document = doc("user", text)
    rows = positions_for([document], FirmLexicon.load())
    assert {r.firm: r.stance for r in rows} == expected
    assert_quotes_verbatim(rows, {"user": document})
    for row in rows:
        assert row.firm in row.quotes[0].quote


# -- a user's documents in a temp index ---------------------------------------------------------

USER_DOCS = {
    "acme.txt": (
        "Acme Chat stops handing Hong Kong user data to police\n\n"
        "Acme Chat said on Tuesday that it has stopped handing over user information to the "
        "Hong Kong police. “We will not provide any data until the rules are clear,” the company "
        "said. The city has seen protests for months.\n"
    ),
    "others.txt": (
        "Reddit said it would have little choice but to comply with the new rules. Dropbox said "
        "it is assessing the implications of the legislation. Pinterest handed over account data "
        "to the authorities in 2019, a report found.\n"
    ),
}


@pytest.fixture(scope="module")
def user_rows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[FirmPosition]]:
    root = tmp_path_factory.mktemp("user-docs")
    folder = root / "docs"
    folder.mkdir()
    for name, text in USER_DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    firms_file = root / "firms.json"
    firms_file.write_text(json.dumps({"firms": [{"name": "Acme Chat"}]}), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in __import__("os").environ if n.startswith("HKQA_")]:
            mp.delenv(name)
        app = Hkqa(Settings(index_dir=root / "index", firms_file=firms_file))
        app.index()
        app.index([folder])
        yield app.positions(use_llm=False)


def test_a_users_documents_get_the_right_stances(user_rows: list[FirmPosition]) -> None:
    firms = by_firm(user_rows)
    assert firms["Acme Chat"].stance == "paused"
    assert firms["Acme Chat"].quotes[0].doc_id == "acme"
    assert firms["Reddit"].stance == "expects_to_comply"
    assert firms["Dropbox"].stance == "reviewing"
    assert firms["Pinterest"].stance == "complied_past"
    # The bundled corpus still reads the same next to them.
    assert all(firms[f].stance == "paused" for f in PAUSED)
    assert firms["Signal"].stance == "never_held_data"
    assert "Amazon" not in firms


# -- renderers ----------------------------------------------------------------------------------


def test_markdown_is_a_table_with_one_row_per_firm(rows: list[FirmPosition]) -> None:
    lines = positions_markdown(rows).splitlines()
    assert lines[0] == "| " + " | ".join(MARKDOWN_COLUMNS) + " |"
    assert set(lines[1].replace("|", "")) == {"-"}
    assert len(lines) == len(rows) + 2
    for line, row in zip(lines[2:], rows, strict=True):
        cells = [c.strip() for c in line.replace("\\|", "").split("|")[1:-1]]
        assert len(cells) == len(MARKDOWN_COLUMNS)
        assert cells[0].startswith(row.firm) and cells[1] == row.stance
        assert "\n" not in line


def test_csv_parses_back_to_the_rows(rows: list[FirmPosition]) -> None:
    parsed = list(csv.DictReader(io.StringIO(positions_csv(rows))))
    assert len(parsed) == len(rows)
    for record, row in zip(parsed, rows, strict=True):
        assert list(record) == CSV_COLUMNS
        assert record["firm"] == row.firm and record["stance"] == row.stance
        assert record["quote"] == (row.quotes[0].quote if row.quotes else "")
        assert int(record["n_outlets"]) == row.n_outlets


def test_json_round_trips_through_the_model(rows: list[FirmPosition]) -> None:
    dumped = json.dumps([r.model_dump() for r in rows])
    assert [FirmPosition.model_validate(d) for d in json.loads(dumped)] == rows


# -- the LLM path, against a recording fake server ----------------------------------------------


def fake_llm(fake: FakeOpenAI) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(
        base_url=fake.base_url, model="fake-model", max_tokens=256, context_window=4096
    )


def test_llm_labels_without_a_verified_quote_do_not_stand(
    corpus_index: Path, rows: list[FirmPosition]
) -> None:
    with FakeOpenAI() as fake:
        for _ in range(len(rows)):
            fake.enqueue(
                json.dumps(
                    {
                        "stance": "expects_to_comply",
                        "secondary": [],
                        "sentence": 1,
                        "quote": "we will hand every message to the police",
                    }
                )
            )
        app = Hkqa(Settings(index_dir=corpus_index), llm=fake_llm(fake))
        got = app.positions(use_llm=True)
    assert got == rows
    requests = fake.chat_requests
    assert len(requests) == len(rows)
    asked = []
    for request in requests:
        assert request.body["response_format"] == {"type": "json_object"}
        prompt = request.body["messages"][-1]["content"]
        asked.append(prompt.split("Firm: ", 1)[1].split("\n", 1)[0])
        assert '<sentence number="1">' in prompt
    assert sorted(asked) == sorted(r.firm for r in rows)


def test_an_llm_label_with_a_verified_quote_stands() -> None:
    sentence = "Acme said that Hong Kong police inquiries about its users will go unanswered."
    document = doc("user", f"The city has seen protests for months. {sentence}")
    lexicon = lexicon_with(Firm(name="Acme"))
    assert positions_for([document], lexicon)[0].stance == NO_POSITION
    with FakeOpenAI() as fake:
        fake.enqueue(
            json.dumps(
                {
                    "stance": "paused",
                    "secondary": ["reviewing"],
                    "sentence": 1,
                    "quote": "police inquiries about its users will go unanswered",
                }
            )
        )
        row = positions_for([document], lexicon, llm=fake_llm(fake))[0]
        prompt = fake.chat_requests[0].body["messages"][-1]["content"]
    assert sentence in prompt and "Firm: Acme" in prompt
    assert (row.stance, row.backend) == ("paused", "openai:fake-model")
    # A secondary stance the sources do not show is not taken from the LLM.
    assert row.secondary_stances == []
    quote = row.quotes[0]
    assert quote.quote == "police inquiries about its users will go unanswered"
    assert document.text[quote.start : quote.end] == quote.quote and quote.verified


def test_an_llm_quote_from_outside_the_cited_sentence_does_not_stand() -> None:
    document = doc(
        "user",
        "Reddit said it will no longer provide user data to the police. "
        "Officials said every firm will comply with the new law.",
    )
    with FakeOpenAI() as fake:
        fake.enqueue(
            json.dumps(
                {
                    "stance": "expects_to_comply",
                    "secondary": [],
                    "sentence": 1,
                    "quote": "every firm will comply with the new law",
                }
            )
        )
        row = positions_for([document], FirmLexicon.load(), llm=fake_llm(fake))[0]
    assert (row.stance, row.backend) == ("paused", "cues")


# -- the real bundled GGUF through llama-cpp ----------------------------------------------------


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> LLM:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    return load_llm(
        Settings(
            index_dir=tmp_path_factory.mktemp("gguf"),
            llm_model_path="bundled",
            llm_n_ctx=2048,
            llm_max_tokens=160,
        )
    )


@pytest.mark.llm
def test_bundled_model_labels_stand_only_on_verified_quotes(gguf: LLM) -> None:
    document = doc(
        "user",
        "Reddit said on Monday that it has paused all processing of data requests from the "
        "Hong Kong police.",
    )
    offline = by_firm(positions_for([document], FirmLexicon.load()))
    rows = positions_for([document], FirmLexicon.load(), llm=gguf)
    assert {r.firm for r in rows} == set(offline)
    assert_quotes_verbatim(rows, {"user": document})
    for row in rows:
        if row.backend == "cues":
            assert row == offline[row.firm]
        else:
            assert row.backend == llm_name(gguf) and row.stance in STANCES
            assert row.stance != NO_POSITION and row.quote_stances[0] == row.stance
