"""Markup to plain text: the visible text of an HTML document, by the standard library's parser."""

from __future__ import annotations

import html
from html.parser import HTMLParser


class _HTMLText(HTMLParser):
    """Visible text of an HTML page, one line per block element."""

    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "title", "article", "section"}
    SKIP = {"script", "style", "noscript", "template", "svg", "nav", "footer", "form"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skip:
            self.skip -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data.replace("\n", " "))


def html_to_text(markup: str) -> str:
    """Visible text of an HTML document (scripts, styles, navigation dropped)."""
    p = _HTMLText()
    p.feed(markup)
    p.close()
    lines = [" ".join(x.split()) for x in "".join(p.parts).split("\n")]
    return html.unescape("\n\n".join(x for x in lines if x))
