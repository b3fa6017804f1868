"""What a question asks for, from its form alone (English and Russian), cheaply.

One of: ``who`` (a person or organisation), ``where`` (a place), ``when`` (a date or year),
``number`` (how many / how much / a percentage), ``list`` (which four ...), ``why`` (a reason),
``yesno``, ``definition`` (who is X / what is X: a role), ``statement`` (what did X say),
``present`` (the state now), or ``other``. The answer layer leads with a sentence that holds an
answer of that kind (qa/answer/lead.py).
"""

from __future__ import annotations

import re

from qa.text.words import (
    QUESTION_SPEECH_VERBS,
    ROLE_NOUNS,
    RU_SAY_LEAD_IN,
    RU_SPEECH_VERBS,
    SAY_LEAD_IN,
    alternation,
)

TYPES = ("who", "where", "when", "number", "list", "why", "yesno", "definition", "statement", "present", "other")

_I = re.IGNORECASE
# Besides people named by their role, what "which ... ?" asks a "who" of: organisations and sides.
_WHO_NOUNS = ("agency", "outlet", "newspaper", "party", "company", "organisation", "organization", "person", "head",
              "country", "side")
# Ordered: the first rule that matches decides ("How many ... now?" is a number; "Who is X?" a definition).
_RULES: tuple[tuple[str, re.Pattern], ...] = (
    ("why", re.compile(r"\bwhy\b|\bhow does .+ (?:justify|explain)\b|"
                       r"^\s*(?:so\s+|and\s+)?(?:for what reason|what (?:is|was|were) the reasons?\b|"
                       r"what (?:made|makes|led|leads|prompted|caused|causes)\b|how come\b|"
                       r"почему|зачем|по какой причине|отчего)", _I)),
    ("number", re.compile(r"\b(?:how (?:many|much|long|far|large|big|often)|what (?:share|percentage|proportion|"
                          r"number|amount|volume|sum)|by how much|what was the (?:volume|value|total))\b|"
                          r"сколько|какой (?:объ[её]м|процент)|на сколько", _I)),
    ("when", re.compile(r"\b(?:in|on|since|by|until|from) (?:what|which) (?:year|date|day|month)\b|"
                        r"^\s*(?:and\s+)?(?:when\b|"
                        r"what (?:year|date|day|month)\b|which (?:year|date|day|month)\b|"
                        r"когда|в каком году|какого числа|в какой день|с какого)", _I)),
    ("where", re.compile(r"\b(?:on|in|at|off|from|to|near|of) (?:the (?:coast|shores?) of )?(?:what|which) (?:\w+ )?"
                         r"(?:islands?|city|cities|country|countries|place|venue|capital|region|town|village)\b|"
                         r"^\s*(?:and\s+)?(?:where\b|"
                         r"(?:what|which) (?:city|country|place|venue|capital)\b|"
                         r"где|куда|откуда|в каком (?:городе|месте))",
                         _I)),
    ("statement", re.compile(rf"^\s*{SAY_LEAD_IN}what (?:did|does|do|has|have|had|was|is|were)\s+.+?\s+"
                             rf"{alternation(QUESTION_SPEECH_VERBS)}\b|"
                             r"^\s*how did .+ (?:describe|characteri[sz]e|explain|assess)\b|"
                             r"^\s*according to [A-Z][\w.-]*(?: [A-Z][\w.-]*)*, what\b|"
                             rf"^\s*{RU_SAY_LEAD_IN}что (?:\w+ )?{alternation(RU_SPEECH_VERBS)}", _I)),
    ("definition", re.compile(r"^\s*(?:who|what)\s+(?:is|was|are|were)\s+(?!the\b|a\b|an\b|it\b|this\b|that\b|there\b|"
                              r"\w+ing\b)[A-Z\"“«][\w.\"”»'’ -]*\??\s*$|"
                              r"^\s*what (?:position|post|role|job|title|office)\b|"
                              r"^\s*what does .+ (?:mean|refer to)\b|"
                              r"^\s*(?:кто так(?:ой|ая|ие)|что так(?:ое|ой|ая)|кем (?:является|был|была)|"
                              r"какую должность)", _I)),
    ("yesno", re.compile(r"^\s*(?:and\s+)?(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|"
                         r"shall|may|might|must)\b(?!\s*(?:you|i)\b)|^\s*(?:есть ли|ли)\b|\bли\b", _I)),
    ("list", re.compile(r"\b(?:which|what|name the|list the)\s+(?:two|three|four|five|six|several|\d+)\b|"
                        r"^\s*(?:name|list)\b|\bwhich (?:\w+ )?(?:groups|fields|areas|countries|islands|parties|"
                        r"sectors|issues|topics)\b|какие|перечисл|назовите", _I)),
    ("who", re.compile(r"^\s*(?:and\s+)?(?:who|whom|whose)\b|\b(?:which|what) (?:\w+ ){0,6}?"
                       rf"{alternation(ROLE_NOUNS + _WHO_NOUNS)}\b|"
                       r"^\s*кто|^\s*(?:какой|какая|какое) (?:министр|агентство|партия|страна)", _I)),
)
_PRESENT_FIRST = frozenset({"who", "where", "definition", "yesno", "other"})  # "now" decides over these
PRESENT = re.compile(r"\b(?:now|nowadays|currently|current|today|at present|these days|latest|still|"
                      r"at the moment|right now)\b|сейчас|сегодня|нынешн|текущ|в настоящее время", _I)


def question_type(question: str) -> str:
    """The kind of answer ``question`` expects (see the module docstring)."""
    name = next((n for n, rule in _RULES if rule.search(question)), "other")
    if name in _PRESENT_FIRST and PRESENT.search(question):
        return "present"
    return name
