"""Who says what: reported speech and quotes attributed to a person, sentence by sentence.

Rules over the sentence text: "X said", "said X", "according to X", "X, for his part, noted";
"..., he added, ..." and "He also took issue with ..." continuing the sentence before; a quote the
splitter cut into sentences belongs to the attribution that closes it. Used by the rerank (a
passage in which X speaks) and by the answers to "what did X say".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.text.words import SAID_VERBS, SPEECH_VERBS, alternation

SPEECH = re.compile(rf"\b{alternation(SPEECH_VERBS, capture=True)}\b", re.IGNORECASE)
# ", he added" / ", she elaborately stated" inside a sentence; a named speaker ("Kono said") or a full
# name ("Toyohisa Kozuki") before it means someone else may be "he"
_PRONOUN_SAID = re.compile(rf",\s*(?:he|she)\s+(?:\w+ly\s+)?{alternation(SAID_VERBS)}\b")
_NAMED_SPEAKER = re.compile(rf"\b[A-Z][a-z]+\s+{alternation(SAID_VERBS)}\b")
_FULL_NAME = re.compile(r"\b(?!(?:The|A|An|In|On|At|For|But|And|This|That|It)\b)[A-Z][a-z]+\s+[A-Z][a-z]+\b")
_QUOTE_MARKS = '"“”«»'
_QUOTE_START = re.compile(r"^[\"“«„'‘—–-]")
# Verbs of taking a position, for "He also took issue with ..." right after a sentence by the speaker.
_STANCE = re.compile(r"\b(took issue|takes issue|critici[sz]ed|rejected|dismissed|demanded|proposed|praised|"
                     r"welcomed|objected|denied|refused|questioned|condemned|called for|opposed)\b")
def quote_opening(texts: list[str], i: int, reach: int = 3) -> range:
    """The sentences before ``texts[i]`` that belong to the quote it ends: back to the one that
    opens it (at most ``reach``), or none if ``texts[i]`` closes no quote left open before it."""
    if not _closes_quote(texts[i]):
        return range(0)
    for j in range(i - 1, max(i - 1 - reach, -1), -1):
        if _QUOTE_START.match(texts[j].lstrip()) and open_quote(texts[j]):
            return range(j, i)
        if any(q in texts[j] for q in _QUOTE_MARKS):
            break  # another quote's marks: where this one opens is unclear
    return range(0)


def _closes_quote(text: str) -> bool:
    """True if ``text`` ends a quotation opened before it: its first quote mark closes
    ('…partnership," Kono said'), not opens ('Lavrov said: "We…')."""
    t = text.strip()
    first = re.search(r'["“”]', t)
    if first is None:
        return False
    if first.group() == "”":
        return True
    return first.group() == '"' and t.count('"') % 2 == 1 and first.start() > 0 and not t[first.start() - 1].isspace() \
        and t[first.start() - 1] not in ":—–-("


def open_quote(text: str) -> bool:
    """True if ``text`` starts a quotation it does not close."""
    t = text.lstrip()
    if t[:1] in "“«":
        return t.count("“") + t.count("«") > t.count("”") + t.count("»")
    if t[:1] in "—–":  # a dialogue dash opens a quote, as in "— Rather, such statements can be welcomed."
        # (not one the sentence closes itself: "— Japan must return to the dialogue, — Zakharova said.")
        return not any(q in t for q in _QUOTE_MARKS) and not re.search(r"[,.!?]\s*[—–]", t[1:])
    return t[:1] == '"' and t.count('"') % 2 == 1


def is_statement_by(sentence: str, surname: str, prev_attributed: bool, following: Sequence[str] = ()) -> bool:
    """Whether ``sentence`` reports what ``surname`` said (or continues their quote); ``following``:
    the sentences after it, to see who a quote it opens is attributed to where it closes."""
    low = sentence.lower()
    sur = surname.lower()
    for m in re.finditer(r"\b" + re.escape(sur) + r"\b", low):
        after = sentence[m.end() : m.end() + 70]
        before = sentence[max(0, m.start() - 40) : m.start()]
        v_after = SPEECH.search(after)
        if v_after:
            # "Lavrov said", "Lavrov, for his part, indicated" - not "Kono and Lavrov were held after X announced"
            between = after[: v_after.start()]
            passive = re.match(r"(?:believed|said|thought)\s+to\b", after[v_after.start():])  # "Abe, believed to be"
            if (len(between.split()) <= 5 and not re.search(r"[A-Z]", between) and not passive
                    and not re.search(r"\b(was|were|is|are|has|had|been|and|but|while|with|after|before)\b",
                                      between)):
                return True
        if re.search(r"\b(said|says|stated|told|noted|[Aa]ccording to|wrote|writes)\s+(?:[A-Z][\w.-]*\s+){0,3}$",
                     before):
            return True
    if prev_attributed and re.match(r"(He|She)\b", sentence.strip()):
        head = sentence.strip()[:90]
        return bool(SPEECH.search(head) or _STANCE.search(head))
    pronoun = _PRONOUN_SAID.search(sentence) if prev_attributed else None
    if pronoun and not (_NAMED_SPEAKER.search(sentence) or _FULL_NAME.search(sentence[: pronoun.start()])):
        return True  # "..., he added, stressing that ...": the speaker of the sentence before
    if prev_attributed and _QUOTE_START.match(sentence.strip()):
        # whose words the quote says they are, where it closes: in this sentence or a later one (not
        # known at the end of a passage: the next passage, which repeats this sentence, can tell)
        closing = sentence if not open_quote(sentence) else next((t for t in following[:3] if _closes_quote(t)), None)
        if closing is None:
            return False
        return all(m.group().split()[0].lower() == sur for m in _NAMED_SPEAKER.finditer(closing))
    return False


def statement_flags(texts: list[str], surname: str) -> list[bool]:
    """For consecutive sentences, whether each reports what ``surname`` said."""
    flags: list[bool] = []
    for i, text in enumerate(texts):
        flags.append(is_statement_by(text, surname, bool(flags and flags[-1]), texts[i + 1 : i + 4]))
    return flags
