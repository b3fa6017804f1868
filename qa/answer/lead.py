"""Leading with the fact: which candidate sentence holds an answer of the kind the question asks for.

Each kind of question (qa/question/kind.py) has a small named test of a sentence, giving 1 when
the sentence holds an answer of that kind that the question does not already state: a person or
organisation (who), a place (where), a date (when), a figure (number), several items (list), a
reason (why), a plain yes or no (yesno), a role (definition). Entities come from the index's
annotations (spaCy at index time, qa/index/annotate.py), with patterns for dates and figures besides.
``arrange`` puts the best sentence with such an answer first, then at most two supporting ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from qa.answer.select import KEEP_SHARE, MAX_SENTENCES, Picked, _best_first, _similar, recency
from qa.question.kind import PRESENT, question_type
from qa.question.query import Query, transliterate
from qa.text.words import FUNCTION_WORDS, MONTH, POSITION_WORDS, alternation

Entity = tuple[str, str]  # text, spaCy label

# How much holding an answer of the wanted kind counts (0.3 to 1.0: the same within a question or two on every set)
LEAD_WEIGHT = 1.0
# A short answer only when the lead sentence scores at least this (coverage + passage + MaxSim terms,
# qa/answer/select.py): over the seven English sets 23 of 24 right at 2.2, 29 of 34 at 2.0, 64 of 97 with no floor
SHORT_MIN_SCORE = 2.2

LABELS = {
    "who": {"PERSON", "ORG"},
    "where": {"GPE", "LOC", "FAC"},
    "when": {"DATE", "TIME"},
    "number": {"CARDINAL", "QUANTITY", "MONEY", "PERCENT"},
    "list": {"PERSON", "ORG", "NORP", "GPE", "LOC", "FAC", "PRODUCT", "EVENT", "LAW", "WORK_OF_ART"},
}
_MONTHS = MONTH
_DATE = re.compile(rf"\b(?:{_MONTHS}\s+\d{{1,2}}(?:,\s*\d{{4}})?|\d{{1,2}}\s+{_MONTHS}(?:\s+\d{{4}})?|"
                   rf"(?:in|since|until|by)\s+(?:{_MONTHS}\s+)?(?:19|20)\d\d|(?:19|20)\d\d)\b")
_FIGURE = re.compile(r"\b\d[\d,.]*\s*(?:%|percent|per cent|billion|million|thousand|km|kilometers|"
                     r"people|times)?|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|dozens?|hundreds?|"
                     r"thousands?)\b", re.IGNORECASE)
_REASON = re.compile(r"\b(?:because|due to|owing to|since|as a result|in order to|so as to|so that|the reason|"
                     r"thanks to|given that|for fear|in view of|amid|aimed at|in the hope|the goal|in exchange for|"
                     r"explained by|is explained|stems from|caused by|leads? to|would allow|will allow|"
                     r"which is why|that is why|therefore|hence|only after|only if|only when|unless|provided that)\b",
                     re.IGNORECASE)
_POLAR = re.compile(r"\b(?:not|no|never|nothing|cannot|can't|won't|doesn't|don't|didn't|isn't|aren't|wasn't|"
                    r"unlikely|refused|rejected|denied|impossible|neither|nor|yes|indeed|confirmed|agreed|"
                    r"continues to|still)\b|n't\b", re.IGNORECASE)
_ROLE = re.compile(rf"\b{alternation(POSITION_WORDS)}\b", re.IGNORECASE)
_ENUMERATION = re.compile(r"\b[\w-]+(?:\s+[\w-]+)?,\s+[\w-]+(?:\s+[\w-]+)?,?\s+and\s+[\w-]+", re.IGNORECASE)

_FUNCTION = frozenset(FUNCTION_WORDS)


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", transliterate(text))} - _FUNCTION


def _stems(words: set[str]) -> set[str]:
    return {w[:5] for w in words}


def new_entities(query: Query, entities: list[Entity], labels: set[str]) -> list[str]:
    """Texts of the entities with one of ``labels`` that share no word with the question ("Shinzo
    Abe" is not new to a question naming Abe; "Russian" not to one naming Russia)."""
    asked = _stems(_words(query.text))
    out = []
    for text, label in entities:
        words = _words(text)
        if label in labels and words and not _stems(words) & asked and text not in out:
            out.append(text)
    return out


def _entity_test(kind: str) -> Callable[[Query, Picked], float]:
    def test(query: Query, p: Picked) -> float:
        found = new_entities(query, p.entities, LABELS[kind])
        if not found and kind == "when":
            found = [m.group() for m in _DATE.finditer(p.text) if not _words(m.group()) <= _words(query.text)]
        if not found and kind == "number":
            found = [m.group() for m in _FIGURE.finditer(p.text) if not _words(m.group()) <= _words(query.text)]
        return 1.0 if found else 0.0

    test.__name__ = f"holds_{kind}"
    return test


def holds_list(query: Query, p: Picked) -> float:
    """Several items: two or more new entities, or an enumeration ("A, B and C")."""
    return 1.0 if len(new_entities(query, p.entities, LABELS["list"])) >= 2 or _ENUMERATION.search(p.text) else 0.0


def holds_reason(query: Query, p: Picked) -> float:
    """A reason: "because", "due to", "in order to", "the reason", ..."""
    return 1.0 if _REASON.search(p.text) else 0.0


def holds_polarity(query: Query, p: Picked) -> float:
    """A plain yes or no: a negation, or an affirmation such as "confirmed", "still"."""
    return 1.0 if _POLAR.search(p.text) else 0.0


def holds_role(query: Query, p: Picked) -> float:
    """A role: the person or thing the question names, with a title or role word beside it."""
    names = [w for w in _words(query.text) if len(w) > 3] or list(_words(query.text))
    text = p.text.lower()
    return 1.0 if any(n in text for n in names) and _ROLE.search(p.text) else 0.0


TESTS: dict[str, Callable[[Query, Picked], float]] = {
    "who": _entity_test("who"), "where": _entity_test("where"), "when": _entity_test("when"),
    "number": _entity_test("number"), "list": holds_list, "why": holds_reason, "yesno": holds_polarity,
    "definition": holds_role,
}


def kind(query: Query) -> str:
    """The kind of answer to lead with; for a question about the present, what it asks besides
    ("Who leads Japan now?": who)."""
    if query.asks != "present":
        return query.asks
    besides = question_type(PRESENT.sub("", query.text))
    return besides if besides in ("who", "when", "number") else "present"


def arrange(query: Query, items: list[Picked], limit: int = MAX_SENTENCES,
            lead: dict[int, float] | None = None) -> list[Picked]:
    """The answer's sentences: first the best lead — by ``lead`` (id -> score) where given, else the
    best that holds an answer of the wanted kind (its score raised by LEAD_WEIGHT x the test) —
    for a question about the present from the newest source among the relevant ones; then at
    most ``limit - 1`` supporting sentences, best first (newest first for the present)."""
    if not items:
        return []
    best = max(p.score for p in items)
    if lead is None:
        test = TESTS.get(kind(query))
        lead = {id(p): p.score + (LEAD_WEIGHT * test(query, p) if test else 0.0) for p in items}
        ranked = sorted(items, key=lambda p: -lead[id(p)])
        pool = [p for p in ranked if p.score >= KEEP_SHARE * best] or ranked
    else:
        pool = ranked = sorted(items, key=lambda p: -lead[id(p)])
    if query.recent:  # the newest source read leads (qa.answer.newest_first put its best passage first)
        newest = max(recency(p.passage) for p in items)
        pool = [p for p in ranked if recency(p.passage) == newest]
    lead = pool[0]
    others = [p for p in items
              if p.text not in lead.text and lead.text not in p.text and not _similar(p.text, lead.text)]
    rest = [p for p in _best_first(others, limit - 1) if p.score >= KEEP_SHARE * best]
    picked = [lead, *rest]
    if query.recent:
        picked = [lead, *sorted(picked[1:], key=lambda x: recency(x.passage), reverse=True)]
    return picked


_SHARE_ASKED = re.compile(r"\b(?:percent|percentage|per cent|share|proportion|by how much|%)|процент", re.IGNORECASE)
# what a short answer of each kind may be, most wanted first: a "who" question wants a person before
# an organisation; a "how many" question a count, not a percentage (unless it asks for a share)
SHORT_LABELS = {"who": (("PERSON",), ("ORG",)), "where": (("GPE", "LOC", "FAC"),), "when": (("DATE",),),
                "number": (("CARDINAL", "QUANTITY", "MONEY"),)}


def short_answer(query: Query, picked: list[Picked]) -> str | None:
    """The fact alone, when the question wants a person, place, date or figure and the lead
    sentence scores at least SHORT_MIN_SCORE and names exactly one new entity of the most wanted
    label (a person before an organisation for "who")."""
    wanted = kind(query)
    if not picked or wanted not in SHORT_LABELS or picked[0].score < SHORT_MIN_SCORE:
        return None
    tiers = SHORT_LABELS[wanted]
    if wanted == "number" and _SHARE_ASKED.search(query.text):
        tiers = (("PERCENT", "CARDINAL", "QUANTITY", "MONEY"),)
    for labels in tiers:
        found = new_entities(query, picked[0].entities, set(labels))
        if found:
            return found[0] if len(found) == 1 else None
    return None
