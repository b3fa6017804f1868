"""Rule-based cleaning of news-article text, keeping offsets into the original.

An article is read line by line and each line gets a kind:

- ``body``     — the article's own prose (indexed, citable);
- ``heading``  — a headline-like line inside the body (no final punctuation);
  it separates sections and is not cited;
- ``noise``    — translation disclaimers, breadcrumbs, share/follow widgets,
  photo credits, captions repeated as lines, header/dateline lines, trailing
  teasers for unrelated stories;
- ``comment``  — reader comments after the article (dropped: never the outlet's words).

The rules describe kinds of lines seen on news sites, not particular files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DISCLAIMER = re.compile(
    r"(not responsible for (any )?(mistakes|errors|inaccurac)"
    r"|(machine|automatic(ally)?|neural)[\w\s-]{0,40}translat"
    r"|translat\w*\s+(in)?to\s+\w+\s+by\b"
    r"|please refer to the (text|original)"
    r"|^\s*(Переведено|Перевод выполнен)"
    r"|translated (by|with|using) (google|yandex|deepl|bing|microsoft))",
    re.IGNORECASE,
)
_SOCIAL = re.compile(
    r"^\s*(share( it| this( article| story)?| on \w+)?|follow us( on \w+)?|subscribe( now)?|"
    r"tweet|print|e-?mail|advertisement|read more|related( articles| news| stories)?|"
    r"comments?|leave a comment|sign up( for)?[\w\s]*|newsletter|tags?:?.*|"
    r"поделиться|подписаться)\s*[:!.]?\s*$",
    re.IGNORECASE,
)
_PHOTO_CREDIT = re.compile(
    r"(?:^|(?<=[.!?])\s*|\s+)(?:\(?\s*(?:photo|image|picture|foto|фото)(?:\s+credit)?"
    r"(?:\s+by)?\s*[:|]\s*[^.:]{1,60}\)?)\s*$",
    re.IGNORECASE,
)
_BULLET_USERNAME = re.compile(r"^\s*[•·▪●◦*]\s*\S.{0,40}$")
_BREADCRUMB_ITEM = re.compile(r"^\s*[-–•›>»]\s+\S.{0,150}$")
_BREADCRUMB_PATH = re.compile(r"^\s*\S[^.!?]{0,40}(\s[>›»/|]\s\S[^.!?]{0,40}){1,}$")
_TERMINAL = re.compile(r"[.!?…:;\"'”’»)\]]\s*$")
HEADER_LINE = re.compile(r"^\s*[A-Z][\w .&'-]{1,40}\s*\|\s*(updated|published|posted|last updated)?\s*:?", re.I)


@dataclass
class Line:
    """A line of the original text and what it is."""

    start: int
    end: int  # exclusive, excluding the newline
    text: str
    kind: str = "body"


def split_lines(text: str) -> list[Line]:
    """Lines of ``text`` with their offsets (newline characters excluded)."""
    lines = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        stripped = raw.rstrip("\r\n")
        lines.append(Line(pos, pos + len(stripped), stripped))
        pos += len(raw)
    return lines


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def is_headline_like(text: str) -> bool:
    """A short line without sentence-final punctuation (a headline or teaser)."""
    t = text.strip()
    return bool(t) and len(t) <= 200 and not _TERMINAL.search(t) and len(t.split()) <= 25


def strip_photo_credit(line: Line) -> tuple[int, int] | None:
    """If the line ends with a photo credit, the span of the caption text left before it."""
    m = _PHOTO_CREDIT.search(line.text)
    if not m:
        return None
    cut = m.start()
    s = line.text[:cut].rstrip()
    return (line.start, line.start + len(s))


def classify(lines: list[Line]) -> str | None:
    """Assign a kind to every line in place; return the title (or None)."""
    nonblank = [ln for ln in lines if ln.text.strip()]
    for ln in nonblank:
        t = ln.text
        if _DISCLAIMER.search(t) or _SOCIAL.match(t) or HEADER_LINE.match(t):
            ln.kind = "noise"
    # A caption printed twice in a row (caption + alt text) is noise, both copies.
    for a, b in zip(nonblank, nonblank[1:]):
        if _norm(a.text) == _norm(b.text):
            a.kind = b.kind = "noise"
    # Breadcrumbs: a run of two or more short list items, or "A > B > C"
    # paths, before the first prose line.
    lead = []
    for ln in nonblank:
        if ln.kind == "noise":
            continue
        if _BREADCRUMB_PATH.match(ln.text):
            ln.kind = "noise"
            continue
        if _BREADCRUMB_ITEM.match(ln.text):
            lead.append(ln)
            continue
        break
    if len(lead) >= 2:
        for ln in lead:
            ln.kind = "noise"
    # Reader comments: a bullet followed by a short user name, then indented text.
    for i, ln in enumerate(nonblank):
        if ln.kind == "noise" or not _BULLET_USERNAME.match(ln.text):
            continue
        rest = nonblank[i + 1 : i + 2]
        if rest and rest[0].text[:1].isspace() and len(ln.text.split()) <= 4:
            for later in nonblank[i:]:
                later.kind = "comment"
            break
    # Title: the first remaining headline-like line.
    title = None
    for ln in nonblank:
        if ln.kind == "body" and is_headline_like(ln.text):
            title = ln.text.strip()
            ln.kind = "heading"
            break
        if ln.kind == "body":
            break
    # Photo credits; a caption that repeats the title or an earlier line is noise.
    seen: set[str] = set()
    for ln in nonblank:
        if ln.kind not in ("body", "heading"):
            continue
        span = strip_photo_credit(ln)
        key = _norm(ln.text)
        if span is not None:
            caption = _norm(ln.text[: span[1] - ln.start])
            if not caption or caption in seen or (title and caption == _norm(title)):
                ln.kind = "noise"
            else:
                ln.kind = "caption"
        elif ln.kind == "body" and key in seen and len(key) < 300:
            ln.kind = "noise"  # a line repeated verbatim: a caption or pull quote
        seen.add(key)
    # Trailing teasers: headline-like lines after the last prose line.
    for ln in reversed(nonblank):
        if ln.kind in ("noise", "comment"):
            continue
        if ln.kind in ("body", "heading") and is_headline_like(ln.text):
            ln.kind = "noise"
            continue
        break
    # Remaining headline-like lines in the body are sub-headings.
    for ln in nonblank:
        if ln.kind == "body" and is_headline_like(ln.text):
            ln.kind = "heading"
    for ln in lines:
        if not ln.text.strip():
            ln.kind = "blank"
    return title


def sections(lines: list[Line]) -> list[list[tuple[int, int]]]:
    """Runs of citable text: consecutive body/caption lines, blank lines allowed.

    Each section is a list of ``(start, end)`` spans (one per line, photo
    credits cut off). A passage never crosses a section boundary, so its span
    in the original never covers removed text.
    """
    out: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for ln in lines:
        if ln.kind == "blank":
            continue
        if ln.kind == "body":
            current.append((ln.start, ln.end))
            continue
        if current:
            out.append(current)
            current = []
        if ln.kind == "caption":
            span = strip_photo_credit(ln)
            if span and span[1] > span[0]:
                out.append([span])
    if current:
        out.append(current)
    return out
