"""Ingestion: the bundled corpus, every kind of bad input, HTML/Markdown, metadata and decoding."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkqa.errors import IngestError
from hkqa.firms import FirmLexicon
from hkqa.ingest import (
    SUPPORTED_SUFFIXES,
    LoadResult,
    bundled_corpus_paths,
    decode_text,
    find_date,
    find_outlet,
    guess_title,
    iter_paths,
    load_documents,
    normalize_newlines,
    read_document,
)

MAX = 20_000_000


@pytest.fixture(scope="module")
def lexicon() -> FirmLexicon:
    return FirmLexicon.load()


def load(paths: list[Path], lexicon: FirmLexicon, max_bytes: int = MAX) -> LoadResult:
    return load_documents(paths, lexicon=lexicon, max_bytes=max_bytes)


def reasons(result: LoadResult) -> dict[str, str]:
    return {s.path: s.reason for s in result.skipped}


# --- the bundled corpus -------------------------------------------------------------------------

# Read off the articles by hand: (title, date, outlet) per file prefix.
EXPECTED = {
    "000": (None, "2020-09-30", None),
    "001": ("US Official: HK tech Firms May Be Handing User Data to China", None, None),
    "002": ("Web giants will not heed, for now, the Hong Kong security law", None, "AsiaNews"),
    "003": (
        "U.S. Tech Giants Suspend Co-operation With Hong Kong Authorities Following National "
        "Security Law",
        None,
        None,
    ),
    "004": ("US tech giants halt Hong Kong police help", None, None),
}


def test_bundled_corpus_paths() -> None:
    paths = bundled_corpus_paths()
    assert paths == sorted(paths)
    assert [p.name[:3] for p in paths] == sorted(EXPECTED)
    assert all(p.suffix == ".txt" and p.is_file() for p in paths)


def test_bundled_corpus_loads_with_metadata(lexicon: FirmLexicon) -> None:
    paths = bundled_corpus_paths()
    result = load(paths, lexicon)
    assert result.skipped == []
    assert [d.doc_id for d in result.documents] == [p.stem for p in paths]
    for doc, path in zip(result.documents, paths, strict=True):
        title, date, outlet = EXPECTED[doc.doc_id[:3]]
        assert (doc.title, doc.date, doc.outlet) == (title, date, outlet), doc.doc_id
        assert doc.text == path.read_text(encoding="utf-8")  # kept exactly as written
        assert doc.source == str(path)
        assert doc.content_hash == hashlib.sha256(doc.text.encode()).hexdigest()
        assert doc.firms == lexicon.firms_in(doc.text)
        if date:
            assert doc.date_day == (dt.date.fromisoformat(date) - dt.date(1970, 1, 1)).days
        else:
            assert doc.date_day is None
    first = result.documents[0]
    assert first.text.startswith(" date 2020-09-30 Big tech firms")
    assert first.date_day == 18535
    assert "Tencent" in result.documents[4].firms  # owner of WeChat, which 004 names


# --- a folder of good and bad files -------------------------------------------------------------

GOOD_TEXT = "Facebook pauses data requests\n\nFacebook said on Monday it would pause.\n"


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "good.txt").write_text(GOOD_TEXT, "utf-8")
    (root / "with space.txt").write_text("Zoom suspends activist accounts\n\nZoom acted.", "utf-8")
    (root / "ünïcödé 中文.txt").write_text("Unicode named file about WeChat\n\nIt is.", "utf-8")
    (root / 'it\'s "quoted".md').write_text("Intro line\n\n# Quoted heading\n\nText.", "utf-8")
    (root / "latin1.txt").write_bytes(
        "Un café à Hong Kong\n\nTelegram a dit non.".encode("latin-1")
    )
    (root / "cp1252.txt").write_bytes(b"Signal said \x93no\x94 \x96 twice\r\nsecond line\r")
    (root / "page.html").write_text(
        "<html><head><title>Twitter halts requests</title></head>"
        "<body><p>Twitter said so.</p></body></html>",
        "utf-8",
    )
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.md").write_text(" \n\t\n  \n", "utf-8")
    (root / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00 some zip-like bytes")
    (root / "controls.txt").write_bytes(bytes(range(1, 9)) * 20 + b"text")
    (root / "big.txt").write_text("Facebook " * 100, "utf-8")
    (root / "report.pdf").write_bytes(b"%PDF-1.4")
    (root / "letter.docx").write_bytes(b"PK")
    (root / "README").write_text("no extension", "utf-8")
    (root / "blank.html").write_text("<html><script>var x;</script><p>  </p></html>", "utf-8")
    (root / ".hidden.txt").write_text("Hidden file about Facebook", "utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "notes.txt").write_text("Hidden folder", "utf-8")
    sub = root / "sub"
    sub.mkdir()
    (sub / "good.md").write_text("# Same stem as good.txt\n\nText.", "utf-8")
    (sub / "nested.txt").write_text("Nested article about Apple\n\nApple said.", "utf-8")
    (sub / "loop").symlink_to("..", target_is_directory=True)
    (root / "self").symlink_to("self")
    (root / "dangling.txt").symlink_to("gone.txt")
    (root / "link.txt").symlink_to("good.txt")  # sorted after good.txt, so it is the twin
    os.mkfifo(root / "pipe.txt")
    return root


def test_messy_folder(messy: Path, lexicon: FirmLexicon) -> None:
    missing = messy / "missing.txt"
    result = load([messy, missing], lexicon, max_bytes=500)
    by_id = {d.doc_id: d for d in result.documents}
    assert sorted(by_id) == sorted(
        ["good", "with space", "ünïcödé 中文", "it's \"quoted\"", "latin1", "cp1252", "page",
         "nested"]
    )  # fmt: skip
    assert by_id["good"].text == GOOD_TEXT
    assert by_id["good"].title == "Facebook pauses data requests"
    assert by_id["latin1"].text == "Un café à Hong Kong\n\nTelegram a dit non."
    assert by_id["cp1252"].text == "Signal said “no” – twice\nsecond line\n"
    assert by_id["cp1252"].firms == ["Signal"]
    assert by_id['it\'s "quoted"'].title == "Quoted heading"
    assert by_id["page"].title == "Twitter halts requests"
    assert by_id["page"].text == "Twitter halts requests\n\nTwitter said so."
    assert by_id["ünïcödé 中文"].firms == ["Tencent", "WeChat"]

    skipped = reasons(result)
    expected = {
        messy / "empty.txt": "empty file",
        messy / "blank.md": "empty file (whitespace only)",
        messy / "binary.txt": "binary file (contains NUL bytes)",
        messy / "controls.txt": "binary file (too many control characters)",
        messy / "big.txt": "larger than 500 bytes",
        messy / "report.pdf": "unsupported file type '.pdf'",
        messy / "letter.docx": "unsupported file type '.docx'",
        messy / "README": "unsupported file type (no extension)",
        messy / "blank.html": "no visible text in the HTML",
        messy
        / "sub"
        / "good.md": f"duplicate doc_id 'good' (already read from {messy / 'good.txt'})",
        messy / "sub" / "loop": f"symlink loop (leads back to {messy})",
        messy / "self": "symlink loop",
        messy / "dangling.txt": "broken symlink",
        messy / "link.txt": f"same file as {messy / 'good.txt'}",
        messy / "pipe.txt": "not a regular file (a device, socket or pipe)",
        missing: "no such file or directory",
    }
    assert skipped == {str(p): r for p, r in expected.items()}
    assert not any(".hidden" in p or ".git" in p for p in skipped)


def test_iter_paths_is_sorted_and_deterministic(messy: Path) -> None:
    files, _ = iter_paths([messy])
    assert files == iter_paths([messy])[0]
    top = [f.name for f in files if f.parent == messy]
    assert top == sorted(top)
    assert all(f.suffix.lower() in SUPPORTED_SUFFIXES for f in files)


def test_explicit_files_and_duplicates(tmp_path: Path, lexicon: FirmLexicon) -> None:
    a = tmp_path / "a.txt"
    a.write_text("Google said no\n", "utf-8")
    (tmp_path / "other").mkdir()
    b = tmp_path / "other" / "a.TXT"
    b.write_text("Another a\n", "utf-8")
    hidden = tmp_path / ".explicit.txt"
    hidden.write_text("Given by name, so read\n", "utf-8")
    result = load([a, a, b, hidden, tmp_path / "x.pdf"], lexicon)
    assert [d.doc_id for d in result.documents] == ["a", ".explicit"]
    assert reasons(result) == {
        str(a): f"same file as {a}",
        str(b): f"duplicate doc_id 'a' (already read from {a})",
        str(tmp_path / "x.pdf"): "no such file or directory",
    }


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block without root's power to read anything, when the tests run as root."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.seteuid(65534)
    except OSError as err:
        pytest.skip(f"running as root and cannot drop privileges to test permissions: {err}")
    try:
        yield
    finally:
        os.seteuid(0)


def test_permission_denied(lexicon: FirmLexicon) -> None:
    # A world-readable folder outside pytest's private temp dir, so only the modes set here count.
    root = Path(tempfile.mkdtemp(prefix="hkqa-perm-"))
    try:
        root.chmod(0o755)
        (root / "ok.txt").write_text("Readable article\n", "utf-8")
        (root / "secret.txt").write_text("Unreadable article\n", "utf-8")
        (root / "secret.txt").chmod(0o000)
        (root / "locked").mkdir()
        (root / "locked" / "inside.txt").write_text("In a locked folder\n", "utf-8")
        (root / "locked").chmod(0o000)
        with unprivileged():
            result = load([root], lexicon)
            with pytest.raises(IngestError, match="permission denied"):
                read_document(root / "secret.txt", lexicon=lexicon, max_bytes=MAX)
        assert [d.doc_id for d in result.documents] == ["ok"]
        assert reasons(result) == {
            str(root / "secret.txt"): "permission denied",
            str(root / "locked"): "permission denied",
        }
    finally:
        (root / "locked").chmod(0o755)
        shutil.rmtree(root)


def test_read_document_errors_name_path_and_reason(tmp_path: Path, lexicon: FirmLexicon) -> None:
    cases = {
        "empty.txt": (b"", "empty file"),
        "slides.pdf": (b"%PDF", "unsupported file type '.pdf'"),
        "big.md": (b"x" * 11, "larger than 10 bytes"),
        "nul.htm": (b"<p>\x00</p>", "binary file (contains NUL bytes)"),
        "c1.txt": (b"\x81\x8d\x8f\x90\x9d" * 2, "not valid text in UTF-8, cp1252 or latin-1"),
    }
    for name, (data, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(IngestError) as err:
            read_document(path, lexicon=lexicon, max_bytes=10)
        assert str(path) in str(err.value) and reason in str(err.value)
    with pytest.raises(IngestError, match="no such file"):
        read_document(tmp_path / "nope.txt", lexicon=lexicon, max_bytes=10)
    with pytest.raises(IngestError, match="not a regular file"):
        (tmp_path / "folder.txt").mkdir()
        read_document(tmp_path / "folder.txt", lexicon=lexicon, max_bytes=10)


# --- HTML and Markdown --------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <meta property="og:site_name" content="Hong Kong  Free Press">
  <meta property="article:published_time" content="2020-07-07T10:15:00+08:00">
  <title>Zoom &amp; Microsoft pause requests</title>
  <style>p { color: red }</style>
  <script>var hidden = "Facebook";</script>
</head>
<body>
  <nav><a href="/">Home</a></nav>
  <h1>Zoom &amp; Microsoft   pause requests</h1>
  <p>Microsoft said it
     was &ldquo;pausing&rdquo; responses.<br>A second line&nbsp;here.</p>
  <script>document.write("Twitter")</script>
  <ul><li>One</li><li>Two &#8211; three</li></ul>
  <p>Caf&eacute;   talk.</p>
</body>
</html>
"""


def test_html_visible_text_and_metadata(tmp_path: Path, lexicon: FirmLexicon) -> None:
    path = tmp_path / "page.html"
    path.write_text(PAGE, "utf-8")
    doc = read_document(path, lexicon=lexicon, max_bytes=MAX)
    assert doc.text == (
        "Zoom & Microsoft pause requests\n\nHome\n\nZoom & Microsoft pause requests\n\n"
        "Microsoft said it was “pausing” responses.\nA second line here.\n\n"
        "One\nTwo – three\n\nCafé talk."
    )
    assert doc.title == "Zoom & Microsoft pause requests"
    assert doc.outlet == "Hong Kong Free Press"
    assert (doc.date, doc.date_day) == ("2020-07-07", 18450)
    assert doc.firms == ["Microsoft", "Zoom"]  # not Facebook or Twitter, which only scripts name


def test_html_title_from_h1_and_duplicate_title_dropped(
    tmp_path: Path, lexicon: FirmLexicon
) -> None:
    path = tmp_path / "h1.htm"
    path.write_text("<h1>Apple complies</h1><p>July 6, 2020</p><p>Body.</p>", "utf-8")
    doc = read_document(path, lexicon=lexicon, max_bytes=MAX)
    assert (doc.title, doc.date, doc.outlet) == ("Apple complies", "2020-07-06", None)
    path.write_text("<title>Same</title><h1>Same</h1><p>Body text.</p>", "utf-8")
    assert read_document(path, lexicon=lexicon, max_bytes=MAX).text == "Same\n\nBody text."
    path.write_text("<div>one<br/>two<br><br>three <b>bold</b>  <i>it</i></div>", "utf-8")
    assert read_document(path, lexicon=lexicon, max_bytes=MAX).text == "one\ntwo\n\nthree bold it"
    path.write_text("<table><tr><th>Firm</th><th>Stance</th></tr><tr><td>Zoom</td>"
                    "<td>paused</td></tr></table>", "utf-8")  # fmt: skip
    assert read_document(path, lexicon=lexicon, max_bytes=MAX).text == "Firm Stance\nZoom paused"
    path.write_text("<pre>keep\n\n  lines</pre><p>after</p>", "utf-8")
    assert read_document(path, lexicon=lexicon, max_bytes=MAX).text == "keep\n\nlines\n\nafter"


def test_html_declared_charset(tmp_path: Path, lexicon: FirmLexicon) -> None:
    path = tmp_path / "big5.html"
    body = "<meta charset='big5'><p>香港國安法 Facebook</p>"
    path.write_bytes(body.encode("big5"))
    assert read_document(path, lexicon=lexicon, max_bytes=MAX).text == "香港國安法 Facebook"


def test_markdown_is_kept_as_written(tmp_path: Path, lexicon: FirmLexicon) -> None:
    text = "Some preface\n\n```\n# not a heading\n```\n# **Google** and [Alphabet](x) #\n\nBody."
    path = tmp_path / "note.markdown"
    path.write_text(text, "utf-8")
    doc = read_document(path, lexicon=lexicon, max_bytes=MAX)
    assert doc.text == text
    assert doc.title == "Google and Alphabet"


# --- metadata heuristics ------------------------------------------------------------------------

HEADLINE = "Tech firms pause data requests\n\n"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (" date 2020-09-30 Big tech firms may be complying with requests.", "2020-09-30"),
        ("July 6, 2020", "2020-07-06"),
        ("6 July 2020", "2020-07-06"),
        ("Jul. 6, 2020", "2020-07-06"),
        ("Sept 6th, 2020 09:00", "2020-09-06"),
        ("By Jane Doe | July 6, 2020 | 3 min read", "2020-07-06"),
        ("Published on: 2020/07/06 — the law has been in force for a week now, and firms react.",
         "2020-07-06"),
        ("HONG KONG, July 6, 2020 (Reuters) - Facebook, Google and Twitter said on Monday they "
         "would pause processing requests for user data.", "2020-07-06"),
        ("13/07/2020", "2020-07-13"),
        ("07/13/2020", "2020-07-13"),
        ("07/07/2020", "2020-07-07"),
        ("07/08/2020, 15.48", None),
        ("2020-02-30", None),
        ("In June, Zoom suspended the accounts of activists marking the 1989 Tiananmen massacre.",
         None),
        ("The law, imposed on June 30, 2020 by Beijing, removes protections Hong Kong residents "
         "had enjoyed under the one country, two systems principle.", None),
        ("Imposed on June 30 by Beijing.", None),
        ("Imposed on June 30, 2020 by Beijing.", None),
        ("Jane Doe, Hong Kong, Monday 6 July 2020, 15.48 | 3 min read", "2020-07-06"),
        ("Firms respond to the July 1, 2020 law as the city waits", None),
    ],
)  # fmt: skip
def test_find_date(head: str, expected: str | None) -> None:
    found = find_date(HEADLINE + head + "\n\nBody text.")
    assert (found.isoformat() if found else None) == expected


def test_a_date_in_the_headline_is_not_the_publication_date() -> None:
    assert find_date("Hong Kong law: July 1, 2020\n\nBody.") is None
    assert find_date("July 6, 2020\n\nBody.") == dt.date(2020, 7, 6)


def test_find_date_only_looks_at_the_head() -> None:
    body = "\n\n".join(f"Paragraph {i} of the article, without any date in it." for i in range(40))
    assert find_date(HEADLINE + body + "\n\nJuly 6, 2020") is None
    assert find_date(HEADLINE + "July 6, 2020\n\n" + body) == dt.date(2020, 7, 6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hong Kong (AsiaNews) – The list of giants is growing.", "AsiaNews"),
        ("WASHINGTON, July 6 (Reuters) - Facebook said on Monday it would pause.", "Reuters"),
        ("Source: South China Morning Post", "South China Morning Post"),
        ("By Jane Doe for The Guardian", "The Guardian"),
        ("Published by Hong Kong Free Press on July 6, 2020", "Hong Kong Free Press"),
        ("Body text.\n\n© 2020 Nikkei Asia. All rights reserved.", "Nikkei Asia"),
        ("A spokesperson for Facebook told TechCrunch it will pause.", None),
        ("The official spoke to China, said The Guardian.", None),
        ("News of the suspension was first reported by The Wall Street Journal.", None),
        ("Facebook (FB) – the company said it would pause.", None),
        ("Tang Yan/SOPA Images/Shutterstock", None),
        ("Source: a person familiar with the matter said the firms would comply.", None),
    ],
)  # fmt: skip
def test_find_outlet(text: str, expected: str | None, lexicon: FirmLexicon) -> None:
    assert find_outlet(HEADLINE + text, lexicon=lexicon) == expected


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [
        ("Zoom suspends activists' accounts", "Zoom suspends activists' accounts"),
        ("  Why did Apple comply?  ", "Why did Apple comply?"),
        ("Facebook said on Monday that it would pause the processing of data requests.", None),
        ("By Jane Doe", None),
        ("July 6, 2020", None),
        ("date 2020-07-06 Tech news", None),
        ("Datebook makers pause sales", "Datebook makers pause sales"),
        ("Technology", None),
        ("lowercase start is not a headline", None),
        ("Home | News | Tech:", None),
        ("A" * 120 + " " + "B" * 100, None),
    ],
)
def test_guess_title(first_line: str, expected: str | None) -> None:
    assert guess_title("\n" + first_line + "\n\nBody.") == expected


# --- decoding -----------------------------------------------------------------------------------


def test_decoding_examples() -> None:
    assert decode_text(b"\xef\xbb\xbfBOM dropped\r\n") == "BOM dropped\n"
    assert decode_text("caf\u00e9".encode("latin-1")) == "café"
    assert decode_text(b"\x93quoted\x94 \x85") == "“quoted” …"
    assert decode_text("utf-16 text\r\n".encode("utf-16")) == "utf-16 text\n"
    assert decode_text(b"a\rb\r\nc\n\rd") == "a\nb\nc\n\nd"
    with pytest.raises(IngestError, match="NUL"):
        decode_text(b"abc\x00def")
    with pytest.raises(IngestError, match="control characters"):
        decode_text("\x01\x02\x03 utf-16 junk".encode("utf-16"))


PRINTABLE = st.characters(
    blacklist_categories=("Cs", "Cc"), whitelist_characters="\t\n\r\f"
)  # every character a text file may hold


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=PRINTABLE))
def test_utf8_text_round_trips(text: str) -> None:
    text = text.removeprefix("\ufeff")  # a leading BOM is dropped on purpose
    assert decode_text(text.encode("utf-8")) == normalize_newlines(text)


@settings(max_examples=300, deadline=None)
@given(st.text())  # surrogates are left out by default
def test_any_text_decodes_or_is_refused(text: str) -> None:
    try:
        decoded = decode_text(text.encode("utf-8"))
    except IngestError as err:
        assert "binary" in str(err)
        assert any((c < " " and c not in "\t\n\r\f") or c == "\x7f" for c in text)
    else:
        assert decoded == normalize_newlines(text.removeprefix("\ufeff"))
        assert "\r" not in decoded


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=PRINTABLE, min_size=1).filter(str.strip))
def test_saved_files_round_trip(text: str) -> None:
    lexicon = FirmLexicon.load()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.txt"
        path.write_bytes(text.encode("utf-8"))
        doc = read_document(path, lexicon=lexicon, max_bytes=MAX)
    assert doc.text == normalize_newlines(text.removeprefix("\ufeff"))


# --- scale ----------------------------------------------------------------------------------------


def test_thousands_of_files_load_quickly(tmp_path: Path, lexicon: FirmLexicon) -> None:
    article = bundled_corpus_paths()[3].read_text("utf-8")
    for i in range(2000):
        folder = tmp_path / f"batch{i // 100:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"doc{i:04d}.txt").write_text(f"Article number {i}\n\n{article}", "utf-8")
    started = time.perf_counter()
    result = load([tmp_path], lexicon)
    elapsed = time.perf_counter() - started
    assert len(result.documents) == 2000 and result.skipped == []
    assert elapsed < 20, f"2000 files took {elapsed:.1f}s"


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(alphabet="<>/!-[]&;#x pa\n\"'=", max_size=80).map(str.encode),
    ),
    st.sampled_from([".txt", ".md", ".html"]),
)
def test_any_bytes_load_or_are_skipped(data: bytes, suffix: str) -> None:
    lexicon = FirmLexicon.load()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"doc{suffix}"
        path.write_bytes(data)
        result = load([path], lexicon)
    assert len(result.documents) + len(result.skipped) == 1
    for doc in result.documents:
        assert doc.text.strip() and "\r" not in doc.text
    for skipped in result.skipped:
        assert skipped.path == str(path) and skipped.reason
