"""Rule-based sentence splitting that keeps character offsets.

Copes with abbreviations ("Mr.", "U.S.", "Jan."), initials ("V. Kuzminkov"),
decimals ("19.6"), and quotes: a sentence ending inside a quote (``."``) ends
after the closing quote, and ``"...," Lavrov said.`` stays one sentence.
"""

from __future__ import annotations

import re

# Words that end with a period but rarely end a sentence.
ABBREVIATIONS = frozenset((
    "mr mrs ms dr prof st jr sr vs etc e.g i.e cf al gen sen rep gov lt col capt sgt maj adm rev hon no nos "
    "vol fig pp inc ltd co corp dept est approx jan feb mar apr jun jul aug sep sept oct nov dec mt ft op "
    "univ assn bros"
).split())

_CLOSERS = "\"'”’»)]"
_OPENERS = "\"'“‘«(["
# A candidate boundary: terminal punctuation, optional closing quotes/brackets,
# then whitespace, then something that can start a sentence.
_BOUNDARY = re.compile(
    r"(?P<end>[.!?…]+[" + re.escape(_CLOSERS) + r"]*)(?P<space>\s+)"
    r"(?=[" + re.escape(_OPENERS) + r"\-–—]*[A-ZА-ЯЁ0-9\u3040-\u30ff\u4e00-\u9fff])"
)
_WORD_BEFORE = re.compile(r"([\w.]+)$")


def _is_abbreviation(text: str, dot_index: int) -> bool:
    """True if the period at ``dot_index`` belongs to an abbreviation or initial."""
    m = _WORD_BEFORE.search(text, 0, dot_index)
    if not m:
        return False
    word = m.group(1)
    bare = word.rstrip(".").lower()
    if bare in ABBREVIATIONS:
        return True
    # Single capital initial ("V.") or dotted acronyms ("U.S", "U.N")
    return bool(re.fullmatch(r"[A-ZА-Я]", word) or re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word))


def split_sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Split ``text`` into sentences; return ``(start, end)`` spans (plus ``offset``).

    Spans exclude surrounding whitespace and cover every non-space character
    of ``text`` exactly once, in order.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    for m in _BOUNDARY.finditer(text):
        end_punct = m.group("end")
        if end_punct == "." and _is_abbreviation(text, m.start("end")):
            continue
        end = m.end("end")
        if end <= start:
            continue
        spans.append((start, end))
        start = m.end("space")
    if start < n:
        spans.append((start, n))
    result = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            result.append((s + offset, e + offset))
    return result
