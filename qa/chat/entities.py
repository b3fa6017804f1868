"""The named things a turn of a conversation involves: people, places, dates and other names.

Follow-ups need them to know who "he" is or what "there" means. For now they are found by rules
over the text (capitalised names, titles before a name, speech verbs after it, a short list of
places, years and dates) and, for people, by asking the corpus whether a name speaks there.
:func:`extract_entities` is the one function the conversation calls: entities stored in the index
(e.g. spaCy's) can replace it without touching the follow-up rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from qa.question.query import Query, transliterate
from qa.text.attribution import SPEECH
from qa.text.words import HONORIFICS, MONTH, ROLE_NOUNS, RU_MONTHS_GENITIVE, RU_ROLE_NOUNS, TITLES, alternation

Kind = Literal["person", "place", "date", "thing"]
IsPerson = Callable[[str], bool]


@dataclass(frozen=True)
class Entity:
    """A name in a text and what kind of thing it names."""

    text: str
    kind: Kind


# Where a name is a place (and so "there", not "he"): countries, cities and regions of the coverage
# and a few generic endings. A short list of geography, not of this corpus's people.
PLACES = frozenset(p.strip() for p in """
japan, russia, china, korea, north korea, south korea, united states, us, usa, america, europe, asia, ukraine,
ussr, soviet union, russian federation, moscow, tokyo, munich, singapore, buenos aires, osaka, washington,
beijing, hokkaido, sakhalin, kuril, kurils, kuriles, kuril islands, southern kurils, south kurils,
northern territories, iturup, kunashir, shikotan, habomai, malokurilskoye, far east, siberia, crimea,
япония, россия, китай, сша, москва, токио, курилы, итуруп, кунашир, шикотан, хабомаи, сахалин, хоккайдо
""".split(",") if p.strip())
_PLACE_ENDINGS = re.compile(r"(?i)\b(islands?|isles?|islets?|ridge|sea|strait|peninsula|prefecture|oblast|region|"
                            r"city|village|острова?|гряда)$")
# Words before a name that make it a person ("Foreign Minister Taro Kono", "Mr Lavrov").
_TITLES = re.compile(
    rf"(?i)\b(?:{alternation(ROLE_NOUNS + RU_ROLE_NOUNS + ('г-н',))[3:-1]}|{alternation(HONORIFICS)[3:-1]}\.?)\s+$")
# Capitalised words that start a sentence or a question, not names.
_NOT_NAMES = frozenset("""
a an the and but or so if in on at of for to by from with after before during as what which who whom whose
when where why how is are was were do does did has have had will would can could should may might must
he she it they we you i his her its their our this that these those there then according also however
meanwhile moreover yes no not tell say said sources source answer
что кто где когда почему зачем как какой какая какие а и но он она они это его ее её их там тогда
""".split())
_TITLES_ONLY = frozenset(TITLES)
_TITLES_ONLY_RE = "|".join(sorted(_TITLES_ONLY))
_WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
_NAME = r"[A-ZА-ЯЁ][\w'’-]*"
_NAME_RUN = re.compile(rf"{_NAME}(?:\s+(?:of\s+|de\s+|van\s+|von\s+)?{_NAME})*")
_YEAR = r"(?:1[89]\d\d|20\d\d)"
_MONTH = MONTH
DATE = re.compile(rf"\b(?:\d{{1,2}}\s+{_MONTH}(?:\s+{_YEAR})?|{_MONTH}\s+\d{{1,2}}(?:,?\s+{_YEAR})?|"
                  rf"(?:(?:early|late|mid)[ -])?{_MONTH}\s+{_YEAR}|{_YEAR}(?:-\d\d-\d\d)?|"
                  rf"\d{{1,2}}\s+{alternation(RU_MONTHS_GENITIVE)}(?:\s+{_YEAR})?)\b")


def is_place(name: str) -> bool:
    """Whether ``name`` names a place (a country, a city, an island...)."""
    low = name.lower().strip()
    return low in PLACES or transliterate(low) in PLACES or bool(_PLACE_ENDINGS.search(low))


# The words of a title phrase before a name ("Russian Foreign Minister", "former Prime Minister").
_TITLE_WORDS = frozenset(TITLES) | frozenset("""
ministers prime deputy foreign press senior chief general head russian japanese chinese american soviet former late
""".split())


def _trim(run: str) -> str:
    """A run of capitalised words without a leading word that is not part of a name, nor the titles
    before a person's name ("Russian Foreign Minister Sergey Lavrov" -> "Sergey Lavrov")."""
    words = run.split()
    while words and words[0].lower() in _NOT_NAMES:
        words.pop(0)
    titled = [i for i, w in enumerate(words) if w.lower() in _TITLE_WORDS]
    if titled and titled[-1] < len(words) - 1 and any(w.lower() in _TITLES_ONLY for w in words[: titled[-1] + 1]):
        words = words[titled[-1] + 1 :]
    while words and words[0].lower() in ("of", "de", "van", "von"):  # "Prime Minister of Japan" -> "Japan"
        words.pop(0)
    return " ".join(words)


def names(text: str) -> list[tuple[str, int]]:
    """Capitalised names in ``text`` (a run of capitalised words, sentence openers left out) and
    where each starts."""
    out = []
    for m in _NAME_RUN.finditer(text):
        name = _trim(m.group())
        if not name or DATE.fullmatch(name):
            continue
        start = m.start() + m.group().index(name)
        first_of_sentence = start == 0 or re.search(r"[.!?:\"“«(—-]\s*$", text[max(0, start - 3) : start])
        if first_of_sentence and " " not in name and not is_place(name) and not SPEECH.match(text[m.end():].lstrip()):
            continue  # "Russia" is kept; "Outwardly" is not (but "Kono said" is)
        out.append((name, start))
    return out


def _kind(name: str, text: str, start: int, query: Query | None, is_person: IsPerson | None) -> Kind:
    if is_place(re.sub(r"['’]s$", "", name)):  # "Japan's prime minister": Japan is a place
        return "place"
    if name.lower() in _WEEKDAYS:
        return "date"
    if query is not None and query.speaker is not None and query.speaker.surname in transliterate(name).split():
        return "person"
    before = text[max(0, start - 40) : start]
    rest = text[start + len(name):].strip(" ?!.")
    if re.search(r"(?i)^\s*(?:who|кто)\s+(?:is|was|are|were|такой|такая|такие)?\s*$", before) and not rest:
        return "person"  # "Who is Andrei Rudenko?" (the name is the rest of the question)
    after = text[start + len(name) : start + len(name) + 40]
    if _TITLES.search(before) or SPEECH.match(after.lstrip(" ,")):
        return "person"
    if is_person is not None and is_person(name):
        return "person"
    return "thing"


def name_kind(name: str, is_person: IsPerson | None = None) -> Kind:
    """The kind of a bare name ("Kono", "Munich", "Aegis Ashore"), as a follow-up gives it alone."""
    if DATE.fullmatch(name) or name.lower() in _WEEKDAYS:
        return "date"
    if is_place(name):
        return "place"
    if is_person is not None:
        return "person" if is_person(name) else "thing"
    return "person" if re.fullmatch(_NAME, name) else "thing"  # one capitalised word, no corpus to ask


def extract_entities(text: str, query: Query | None = None, is_person: IsPerson | None = None) -> list[Entity]:
    """The entities named in ``text`` (a question or an answer), in order of first mention, each
    once. ``query``: the parsed question, whose speaker is a person; ``is_person``: asks the
    corpus about a name the text alone does not settle."""
    found: dict[str, Entity] = {}
    for m in DATE.finditer(text):
        found.setdefault(m.group(), Entity(m.group(), "date"))
    for name, start in names(text):
        if name not in found and not any(name in e.text for e in found.values()):
            found[name] = Entity(name, _kind(name, text, start, query, is_person))
    by_place = {e.text: i for i, e in enumerate(found.values())}
    return sorted(found.values(), key=lambda e: (text.find(e.text), by_place[e.text]))


def corpus_people(index) -> IsPerson:
    """``is_person`` over an index (an ``IndexReader``): a name is a person if some passage puts a
    title before it ("Press Secretary Dmitry Peskov") or a speech verb after it ("Peskov said") or
    just before it ("said Dmitry Peskov"; not "told Izvestia", which names whom one speaks to)."""

    @lru_cache(maxsize=1024)
    def is_person(name: str) -> bool:
        surname = re.escape(transliterate(name).split()[-1])
        if len(surname) < 3:
            return False
        said = re.compile(rf"\b{surname}\b,?\s+(?:[a-z]+\s+){{0,2}}?(?:{SPEECH.pattern})|"
                          rf"\b(?:said|according to|writes|wrote)\s+(?:[A-Z][\w.-]*\s+){{0,2}}{surname}\b|"
                          rf"(?i:{_TITLES_ONLY_RE}|mr\.?|mrs\.?|ms\.?)\s+(?:[A-Z][\w.-]*\s+){{0,2}}{surname}\b")
        rows = index.rows_mentioning(transliterate(name).split()[-1], limit=40)
        return any(said.search(p.text) for p in index.passages(rows).values())

    return is_person
