"""HTML to text: the visible text of a page, laid out in lines and paragraphs as a browser shows
it, with the title, date and outlet its markup gives (<title>, <h1>, <meta>, <time pubdate>).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

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


def html_to_text(html: str) -> tuple[str, dict[str, str]]:
    """The visible text of an HTML page and its title, date and outlet as found in its markup
    (keys "title", "date", "outlet", each only when found); ValueError when it cannot be parsed."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError) as err:
        raise ValueError(f"HTML that cannot be parsed ({err})") from err
    meta = dict(parser.meta)
    if parser.title or parser.h1:
        meta["title"] = parser.title or parser.h1
    return parser.text(), meta
