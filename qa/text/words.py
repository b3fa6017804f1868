"""The word lists several stages share, in one place: speech verbs, role words, months, function words.

Each list is a tuple of lower-case words or short phrases; :func:`alternation` turns one into a
regular-expression group. Where two places really need different lists, both are named here with
the reason; a list used by one module alone stays in that module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# ---------------------------------------------------------------- speech

# Verbs that report speech as articles write them (inflected forms): "Lavrov said", "according to".
SPEECH_VERBS = (
    "said", "says", "say", "stated", "states", "told", "tells", "noted", "notes", "stressed", "stresses",
    "pointed out", "announced", "underlined", "indicated", "argued", "argues", "suggested", "believes",
    "believed", "emphasised", "emphasized", "emphasises", "emphasizes", "added", "explained", "called",
    "reiterated", "urged", "warned", "insisted", "confirmed", "remarked", "declared", "commented", "wrote",
    "writes", "according to", "recalled", "acknowledged", "admitted", "claimed", "expressed", "assured",
    "spoke")
# The narrower set that marks reported speech even right after a pronoun or a bare surname (", he
# added", "Kono stressed"): SPEECH_VERBS also holds words such as "called" or "believed", which there
# more often mean something else ("Kono called Lavrov", "Abe, believed to be ...").
SAID_VERBS = (
    "said", "says", "told", "stated", "noted", "added", "stressed", "suggested", "explained", "emphasised",
    "emphasized", "argued", "insisted", "warned", "recalled", "pointed out", "underlined")
# The same verbs as spaCy lemmatises them, with the verbs of taking a position: the parse sees "took
# issue" or "rejected" as a statement only where the verb is the head of the clause.
SPEECH_LEMMAS = frozenset(
    "say tell state note stress add believe write emphasise emphasize suggest warn announce explain "
    "point underline indicate argue reiterate urge insist confirm remark declare comment recall "
    "acknowledge admit claim express assure speak clarify mention report outline assess thank "
    "call criticise criticize reject dismiss demand propose praise welcome object deny refuse "
    "question condemn oppose regret list hope think predict describe answer reply respond "
    "announce caution complain vow promise".split())
# The forms a question uses for them ("What did X say / think / mean?"): base forms, not articles' tenses.
QUESTION_SPEECH_VERBS = (
    "say", "said", "saying", "state", "stated", "tell", "told", "think", "thought", "claim", "announce",
    "argue", "mean", "comment", "write", "wrote", "note", "stress", "ask", "asked", "urge", "urged", "warn",
    "warned", "propose", "proposed", "suggest", "suggested", "believe", "emphasise", "emphasize",
    "emphasised", "emphasized")
RU_SPEECH_VERBS = (
    "сказал", "сказала", "заявил", "заявила", "говорил", "говорила", "говорит", "думает", "считает",
    "написал", "написала", "пишет")

# ---------------------------------------------------------------- roles

# Formal titles that stand before a name ("Foreign Minister Taro Kono", "Ambassador ..."): a run of
# capitalised words after one of these names a person.
TITLES = (
    "minister", "president", "premier", "secretary", "ambassador", "spokesman", "spokeswoman",
    "spokesperson", "chairman", "director")
# People an article names by their role, and that "the ..." can refer back to ("the expert said").
ROLE_NOUNS = TITLES + (
    "prime minister", "expert", "analyst", "researcher", "scholar", "professor", "fellow", "diplomat",
    "envoy", "official", "leader", "politician", "lawmaker", "counterpart")
# What an answer to "Who is X?" or "What is X's role?" names: the role nouns and the words of a
# position's phrase ("deputy head of the ministry", "founder", "member").
POSITION_WORDS = ROLE_NOUNS + (
    "ministry", "head", "deputy", "chief", "editor", "governor", "member", "senator", "press secretary",
    "adviser", "advisor", "founder")
RU_ROLE_NOUNS = ("министр", "президент", "премьер", "посол", "замминистра", "эксперт")
HONORIFICS = ("mr", "mrs", "ms", "dr", "prof")

# ---------------------------------------------------------------- dates

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
MONTH_ABBREVIATIONS = ("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec")
RU_MONTHS_GENITIVE = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
                      "октября", "ноября", "декабря")

# ---------------------------------------------------------------- function words

QUESTION_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how")
# Articles, prepositions, conjunctions and possessives: words that never carry a fact.
FUNCTION_WORDS = ("the", "of", "a", "an", "and", "in", "on", "at", "to", "for", "by", "from", "with", "as",
                  "its", "his", "her", "their", "this", "that", "it")


# What a follow-up may start with before "what did X say": "and", "so", ... / "а", "и"
SAY_LEAD_IN = r"(?:(?:so|and|but|then|ok|okay)[\s,]+)?"
RU_SAY_LEAD_IN = r"(?:[АаИи]\s+)?"


def alternation(words: Iterable[str], capture: bool = False) -> str:
    """A regex group matching any of ``words`` (longest first; a space matches any run of spaces)."""
    parts = sorted({re.escape(w).replace(r"\ ", r"\s+") for w in words}, key=lambda w: (-len(w), w))
    return ("(" if capture else "(?:") + "|".join(parts) + ")"


MONTH = "(?:" + "|".join(w.capitalize() for w in MONTHS + MONTH_ABBREVIATIONS) + r")\.?"
"""A month's name or abbreviation as articles write it ("January", "Jan.", "Sept"): case-sensitive."""


def month_number(name: str) -> int:
    """1-12 for a month's name or abbreviation ("Sept." -> 9)."""
    return [m[:3] for m in MONTHS].index(name.lower()[:3]) + 1
