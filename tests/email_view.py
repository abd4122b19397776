"""What a reader sees of the summary email: the visible text of the HTML part and the figures in it.

The two parts of the email must show the same figures; comparing the digit runs of each part as
a multiset catches a row, a column or a footnote one part has and the other lacks, whatever the
layout (tables in HTML, aligned columns in text).
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

_HIDDEN = {"head", "style", "title", "script"}
_BREAKS = {"br", "p", "div", "tr", "td", "th", "li", "ul", "table", "h1", "h2", "h3"}


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        if tag in _BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden -= 1
        if tag in _BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The text a reader sees in ``html`` (no head, styles or comments), cells on their own lines."""
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n\s*\n+", "\n", "".join(parser.parts)).strip()


def figures(text: str) -> Counter[str]:
    """Every run of digits in ``text``, counted (``24 000`` is ``24`` and ``000`` in both parts)."""
    return Counter(re.findall(r"\d+", text))
