"""A question, parsed once: the ``Query`` every later step reads.

``parse_query`` cleans the text and finds what the question asks for: its script (questions not in
English take the multilingual path), the speaker frame of "what did X say (about Y)", whether it
asks about the present, and its terms. The engine then adds the vectors (``Query.encoded``).
Nothing downstream parses the question again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from embeddings.multilingual import is_foreign
from embeddings.token_index import TokenStates
from qa.errors import QuestionError
from qa.question.kind import question_type
from qa.text.terms import query_tokens, question_terms
from qa.text.words import QUESTION_SPEECH_VERBS, RU_SAY_LEAD_IN, RU_SPEECH_VERBS, SAY_LEAD_IN, alternation

MAX_QUESTION_CHARS = 2000

_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)\s]+\)")
_MD_EMPHASIS = re.compile(r"(?<!\w)(\*\*|__|\*|_|`)(\S(?:.*?\S)?)\1(?!\w)")


def strip_markup(text: str) -> str:
    """The words of a question pasted with HTML or Markdown: tags, entities, emphasis and links removed."""
    if "<" in text or "&" in text:  # the articles' HTML reader, imported only when needed (cold start)
        from qa.text.markup import html_to_text

        text = html_to_text(text)
    text = _MD_LINK.sub(r"\1", text)
    for _ in range(2):  # **_nested_**
        text = _MD_EMPHASIS.sub(r"\2", text)
    return text


def clean_question(question: str) -> str:
    """Normalise a question (markup removed); raise QuestionError if it is empty or too long."""
    q = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in question)
    if len(q) <= 4 * MAX_QUESTION_CHARS:
        q = strip_markup(q)
    q = " ".join(q.split())
    if not q:
        raise QuestionError("the question is empty")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS:,}")
    return q


# ---------------------------------------------------------------- transliteration

def transliterate(text: str) -> str:
    """Letters of other scripts to Latin ones, for matching names (Лавров -> Lavrov, Кузьминков ->
    Kuzminkov): ``anyascii``, less the apostrophes it writes for soft and hard signs; Latin text
    is left as it is."""
    if text.isascii():
        return text
    return "".join(ch if ch.isascii() or not ch.isalpha() else _latin(ch) for ch in text)


@lru_cache(maxsize=4096)
def _latin(ch: str) -> str:
    from anyascii import anyascii

    return anyascii(ch).replace("'", "").replace('"', "")


def question_names(question: str) -> list[str]:
    """Capitalised words after the first, transliterated to Latin (Лавров -> Lavrov)."""
    words = re.findall(r"\w+", question)[1:]
    return [transliterate(w) for w in words if w[:1].isupper()]


# ---------------------------------------------------------------- the present

# Words that ask about the present whatever the tense ("What was said most recently?"); "new" only
# as in "what's new": "the new cabinet" names a thing and asks nothing about the present.
_RECENT = re.compile(
    r"\b(now|nowadays|currently|current|latest|newest|today|at present|these days|this year|"
    r"most recent|most recently|(?:what's|what is|anything|something) new)\b|"
    r"сейчас|сегодня|нынешн|текущ|последн|недавн|^\s*(ли|есть ли)\b",
    re.IGNORECASE,
)
# Weaker signs ("recently", "still", a yes/no question in the present), unless the question is put
# in the past ("Which accord had recently come into force?", "What recent gains did Kono cite?").
_RECENT_WEAK = re.compile(r"\b(recent|recently|still)\b|^\s*(is|are|does|do|has|have)\b", re.IGNORECASE)
_FIRST_VERB = re.compile(r"\b(is|are|am|was|were|do|does|did|has|have|had|will|would|can|could|said|says|told|tells)\b",
                         re.IGNORECASE)


def wants_recent(question: str) -> bool:
    """True for questions about the present ("now", "currently", "latest", or a present-tense
    yes/no question such as "Are the talks frozen?")."""
    if _RECENT.search(question):
        return True
    first = _FIRST_VERB.search(question)
    past = first is not None and first.group(1).lower() in ("was", "were", "did", "had", "would", "could", "said",
                                                             "told")
    return bool(_RECENT_WEAK.search(question)) and not past


# ---------------------------------------------------------------- "what did X say"

_SAY_QUESTION = re.compile(
    rf"^\s*{SAY_LEAD_IN}what\s+(?:did|does|do|has|have|had|was|is)\s+(?P<who>.+?)\s+"
    rf"{alternation(QUESTION_SPEECH_VERBS)}\b(?P<rest>.*)$",
    re.IGNORECASE,
)
_RU_SAID = alternation(RU_SPEECH_VERBS)
_SAY_RU = re.compile(
    rf"^\s*{RU_SAY_LEAD_IN}что\s+{_RU_SAID}\s+"
    r"(?P<who>[^?,]+?)(?P<rest>(?:\s+(?:о|об|про|насчет|по поводу)\b.*)?)\??\s*$",
    re.IGNORECASE,
)
_SAY_RU_NAME_FIRST = re.compile(  # "Что Лавров сказал о ...?"
    rf"^\s*{RU_SAY_LEAD_IN}[Чч]то\s+(?P<who>[А-ЯЁ][\w-]+(?:\s+[А-ЯЁ][\w-]+)?)\s+{_RU_SAID}"
    r"(?P<rest>(?:\s+\w+)*?(?:\s+(?:о|об|про|насчет|по поводу)\b.*)?)\??\s*$")


@dataclass(frozen=True)
class SpeakerQuestion:
    """A "what did X say" question: the speaker's surname and the topic, if any."""

    surname: str
    name: str
    topic: str
    topic_terms: tuple[str, ...] = ()  # the topic's content terms


def parse_speaker_question(question: str) -> SpeakerQuestion | None:
    """Recognise "What did X say (about Y)?" in English or Russian."""
    m = _SAY_QUESTION.match(question) or _SAY_RU.match(question) or _SAY_RU_NAME_FIRST.match(question)
    if not m:
        return None
    who = m.group("who").strip(" ?\"'“”«»")
    who = re.sub(r"^(the|mr\.?|mrs\.?|ms\.?|dr\.?|г-н)\s+", "", who, flags=re.IGNORECASE)
    if re.search("[а-яё]", who, re.IGNORECASE):
        who = transliterate(who)
        who = " ".join(w.capitalize() for w in who.split())
    names = [w for w in re.findall(r"[A-Z][\w'-]+", who)]
    if not names:
        return None
    rest = re.sub(r"^\s*(about|on|regarding|concerning|of|о|об|про)\b", "", m.group("rest") or "",
                  flags=re.IGNORECASE)
    topic = rest.strip(" ?.!")
    return SpeakerQuestion(surname=names[-1], name=who, topic=topic, topic_terms=tuple(question_terms(topic)))


# ---------------------------------------------------------------- the Query


@dataclass(frozen=True)
class Query:
    """A question as every step reads it. Text parts come from :func:`parse_query`; the vectors
    from the engine's encoders (:meth:`encoded`): ``vector`` and ``tokens`` (MiniLM, English
    questions; token states only where the index keeps them), ``ml_vector`` (multilingual)."""

    text: str
    foreign: bool  # mostly not Latin letters: the English model cannot read it
    speaker: SpeakerQuestion | None  # "what did X say (about Y)"
    recent: bool  # asks about the present
    asks: str  # the kind of answer it expects (qa/question/kind.py): who, where, when, why, yesno...
    terms: tuple[str, ...]  # content terms for choosing answer sentences (question words left out)
    search_terms: tuple[str, ...]  # terms for BM25 and the rerank's coverage (function words left out)
    vector: np.ndarray | None = field(default=None, compare=False)
    tokens: TokenStates | None = field(default=None, compare=False)
    ml_vector: np.ndarray | None = field(default=None, compare=False)

    @property
    def latin(self) -> str:
        """The text with Cyrillic transliterated (BM25 matches names in another script)."""
        return transliterate(self.text) if self.foreign else self.text

    def encoded(self, vector: np.ndarray | None = None, tokens: TokenStates | None = None,
                ml_vector: np.ndarray | None = None) -> Query:
        """This query with its vectors."""
        return replace(self, vector=vector, tokens=tokens, ml_vector=ml_vector)


_NOT_STATE = frozenset({"why", "number", "when", "list", "statement"})


def parse_query(question: str) -> Query:
    """Clean and analyse a question (raises QuestionError when it is empty or too long)."""
    text = clean_question(question)
    asks = question_type(text)
    # "Why won't Japan sign now?" asks for a reason, "How many ... now?" for a figure: the newest
    # source leads only where the question asks for the state of things
    recent = wants_recent(text) and asks not in _NOT_STATE
    return Query(text=text, foreign=is_foreign(text), speaker=parse_speaker_question(text),
                 recent=recent, asks=asks, terms=tuple(question_terms(text)),
                 search_terms=tuple(dict.fromkeys(query_tokens(text))))
