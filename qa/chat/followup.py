"""Follow-up questions: recognise one and rewrite it as a stand-alone question.

Pure functions over the turns before (each a :class:`Turn`: the question as understood, its parsed
``Query``, the answer and the entities both name). A message is a follow-up only when it clearly
leans on the previous turn:

- an ellipsis: "and Kono?", "what about the INF treaty?", "and about X?", "and in 2017?", "а Коно?";
  "and what did Kono say?" after a "what did X say about Y" takes its topic;
- a bare question word: "why?", "when was that?", "and where?", "почему?", "когда это было?";
- a pronoun with no name of its own kind in the message: he/she/his/her, it/its, they/them/their,
  there, then, "about that" (он, она, его, её, там, тогда, об этом).

It is rewritten against the previous turn: the speaker frame ("what did X say about Y"), the
topic, or the entity of the right kind (a person for "he", a place for "there", a date for "then").
Anything else, and any follow-up whose referent cannot be found, stands alone (``None``): a full
question with its own subject starts fresh even when it shares a word with the turn before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.chat.entities import Entity, IsPerson, extract_entities, name_kind
from qa.question.query import Query, parse_speaker_question, transliterate
from qa.text.terms import question_terms, tokenize
from qa.text.words import ROLE_NOUNS, RU_ROLE_NOUNS, alternation
from qa.types import Answer


@dataclass(frozen=True)
class Turn:
    """One question and answer of a conversation, as the next turn reads it."""

    question: str  # as understood (a follow-up's rewritten text)
    query: Query
    answer: Answer
    asked: tuple[Entity, ...] = ()  # the entities the question names
    answered: tuple[Entity, ...] = ()  # the entities the answer names

    def entities(self, kind: str) -> list[Entity]:
        """Entities of ``kind``, the question's first, then the answer's."""
        return [e for e in (*self.asked, *self.answered) if e.kind == kind]


def make_turn(question: str, query: Query, answer: Answer, is_person: IsPerson | None = None) -> Turn:
    """A turn with the entities of its question and of its answer (an abstention names none)."""
    answered = () if answer.abstained else tuple(extract_entities(answer.answer, None, is_person))
    return Turn(question, query, answer, tuple(extract_entities(question, query, is_person)), answered)


# ---------------------------------------------------------------- recognising a follow-up

_LEAD = re.compile(r"^(?:and|but|so|also|then|and then|okay|ok|а|и|но|ну|тогда)\b[,\s]*", re.IGNORECASE)
_ABOUT = re.compile(
    r"^(?:(?P<what>what|how)\s+about|what\s+of|(?P<explicit>about|on|regarding|concerning)|"
    r"(?:а\s+)?(?:как|что)\s+насч[её]т|(?P<ru>о|об|про|насч[её]т))\s+(?P<x>.+)$", re.IGNORECASE)
_BARE_WH = re.compile(
    r"^(?P<wh>why|when|where|who|how|how come|what for|почему|зачем|когда|где|кто|как|отчего|"
    r"(?:for|to|with|by|from|since|until|для|с|к|от|до)\s+(?:whom|when|where|кого|кем|кому|когда|каких пор)|"
    r"кому|откуда|куда)"
    r"(?:\s+(?:so|exactly|then|not|же|именно|так))?"
    r"(?:\s+(?:(?:is|was|were|are|did|does|do)\s+)?(?:that|this|it|they|he|she|это|он|она|они|так)"
    r"(?:\s+(?:happen|happened|take place|took place|say that|said|do that|do so|say so|mean|было|был|была|были|"
    r"произошло|случилось|сказал|сказала))?)?"
    r"|(?P<who>who|кто)\s+(?:said|say|says|сказал)\s+(?:that|this|it|so|это|так)$",
    re.IGNORECASE)
# Words that make a message a clause of its own rather than an ellipsis ("and Kono?")
_VERBS = re.compile(
    r"\b(is|are|was|were|am|be|been|do|does|did|has|have|had|will|would|can|could|should|may|might|must|"
    r"say|says|said|tell|told|think|agree|agreed|want|wants|mean|happen|happened|"
    r"what|which|who|whom|whose|when|where|why|how|"
    r"что|кто|где|когда|почему|зачем|как|какой|какая|какие|сказал|сказала|заявил|заявила|был|была|было|были)\b",
    re.IGNORECASE)
_MAX_ELLIPSIS_WORDS = 6


def _strip_lead(text: str) -> tuple[str, bool]:
    """The message without a leading "and"/"а" (and whether it had one)."""
    out = _LEAD.sub("", text, count=1)
    return out, out != text


def _core(text: str) -> str:
    return text.strip().rstrip(" ?!.…").strip()


# ---------------------------------------------------------------- rewriting helpers


def _ru(text: str) -> bool:
    return bool(re.search("[а-яё]", text, re.IGNORECASE))


def _question(text: str) -> str:
    """``text`` as a question: capitalised, one question mark."""
    text = _core(text)
    return text[:1].upper() + text[1:] + "?"


def _lower_first(text: str) -> str:
    """``text`` with its first word in lower case, unless that word is a name or an acronym."""
    first = text.split(maxsplit=1)[0] if text.split() else ""
    return text if first[:2].isupper() or not _AUX.match(first) else text[:1].lower() + text[1:]


def _span(text: str, name: str) -> tuple[int, int] | None:
    """Where ``name`` (or, in another script or an inflected form, its surname) is in ``text``,
    with the capitalised words just before it (a first name)."""
    m = re.search(rf"\b{re.escape(name)}\b", text)
    if m is None:
        surname = transliterate(name.split()[-1]).lower()
        m = next((w for w in re.finditer(r"[\w'-]+", text) if transliterate(w.group()).lower().startswith(surname)
                  and len(w.group()) <= len(surname) + 3), None)
    if m is None:
        return None
    start = m.start()
    while True:
        b = re.search(r"([A-ZА-ЯЁ][\w'-]+)\s+$", text[:start])
        if b is None or b.group(1).lower() in ("what", "did", "does", "what's", "что", "сказал", "заявил"):
            break
        start = b.start(1)
    return start, m.end()


def _replace(text: str, span: tuple[int, int], new: str) -> str:
    return text[: span[0]] + new + text[span[1] :]


def _topic_span(turn: Turn) -> tuple[int, int] | None:
    """Where the topic of a "what did X say about Y" is in the turn's question, its preposition
    included ("about the peace treaty", "о мирном договоре")."""
    sp = turn.query.speaker
    if sp is None or not sp.topic:
        return None
    i = turn.question.find(sp.topic)
    if i < 0:
        return None
    prep = re.search(r"\b(about|on|regarding|concerning|of|о|об|про)\s+$", turn.question[:i], re.IGNORECASE)
    return (prep.start() if prep else i), i + len(sp.topic)


def _mentioned(x: str, turn: Turn) -> bool:
    """Whether the turn (its question, answer or cited passages) mentions most of ``x``'s terms."""
    terms = question_terms(transliterate(x))
    if not terms:
        return False
    said = set(tokenize(" ".join([turn.question, turn.answer.answer, *(c.text for c in turn.answer.citations)])))
    return 2 * sum(t in said for t in terms) >= len(terms)


def _kind(x: str, turn: Turn, is_person: IsPerson | None) -> str:
    bare = re.sub(r"^(?:in|on|at|for|from|to|with|by|during|after|before|в|во|на|для|с|к|по)\s+", "", x,
                  flags=re.IGNORECASE)
    if re.fullmatch(r"(?:the\s+)?(?:19|20)\d\ds", bare):
        return "date"
    if not re.fullmatch(r"[A-ZА-ЯЁ][\w'-]*(?:\s+[A-ZА-ЯЁ][\w'-]*)*|[\d\w ,.-]*\d[\d\w ,.-]*", bare):
        return "thing"  # not a name: "the INF treaty", "visa requirements"
    known = next((e.kind for e in (*turn.asked, *turn.answered) if _same_name(e.text, bare)), None)
    return known or name_kind(bare, is_person)


def _same_name(a: str, b: str) -> bool:
    """"Lavrov" and "Sergey Lavrov", "Лавров" and "Lavrov": the same surname."""
    sa, sb = transliterate(a).split()[-1].lower(), transliterate(b).split()[-1].lower()
    return sa == sb or (len(sa) > 3 and len(sb) > 3 and (sa.startswith(sb) or sb.startswith(sa)))


# ---------------------------------------------------------------- the three kinds of follow-up


_WH_PREV = re.compile(
    r"^(?P<wh>what|which|who|whom|whose|when|where|why|how(?:\s+(?:much|many|large|long|often|big))?|"
    r"что|кто|когда|где|почему|зачем|как|какой|какая|какие|сколько)\s+(?P<rest>.+)$", re.IGNORECASE)
_AUX = re.compile(r"^(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could|should)\b", re.IGNORECASE)


def _bare_wh(wh: str, turn: Turn) -> str | None:
    """"Why?" after "When did Japan ease visa requirements?" -> "Why did Japan ease visa requirements?"."""
    wh = wh.lower()
    prev = _core(turn.question)
    sp = turn.query.speaker
    if wh in ("who", "кто"):
        return None  # "who?" asks for a subject the previous question already had
    if sp is not None:
        span = _span(prev, sp.name)
        who = prev[span[0] : span[1]] if span else sp.name
        t = _topic_span(turn)
        topic = f" {prev[t[0] : t[1]]}" if t else ""
        if _ru(prev):
            return _question(f"{wh} {who} говорил{topic}" if topic else f"{wh} {who} это сказал")
        if wh in ("why", "how come", "what for"):
            return _question(f"why did {who} say that{topic}")
        return _question(f"{wh} did {who} {'speak' + topic if topic else 'say that'}")
    m = _WH_PREV.match(prev)
    if turn.query.asks == "definition":
        return None  # "Who is Andrei Rudenko?" then "why?": nothing to ask why of
    if m is not None:
        rest = m.group("rest")
        if _ru(prev) or _AUX.match(rest):
            return _question(f"{wh} {rest}")
        return None  # "Which four islands are ...": no clean way to ask why
    if _AUX.match(prev):
        return _question(f"{wh} {_lower_first(prev)}")
    return None


def _ellipsis(x: str, explicit: bool, turn: Turn, is_person: IsPerson | None) -> str | None:
    """"and Kono?" / "and about the INF treaty?" / "and in 2017?" against the previous turn."""
    x = _core(x)
    if not x:
        return None
    prev = _core(turn.question)
    sp = turn.query.speaker
    if re.fullmatch(r"(?:him|her|he|she|them|they|он|она|его|её|ее|они|их|ним|ней|нему)", x, re.IGNORECASE):
        others = [e for e in turn.entities("person") if not any(_same_name(e.text, a.text) for a in turn.asked)]
        if sp is None or not others:
            return None
        span = _span(prev, sp.name)
        return _question(_replace(prev, span, others[0].text)) if span else None
    kind = "thing" if explicit else _kind(x, turn, is_person)
    if sp is not None:
        if kind == "person":
            span = _span(prev, sp.name)
            return _question(_replace(prev, span, x)) if span else None
        if not explicit and not _mentioned(x, turn):
            return None
        topic = _topic_span(turn)
        about = ("о " if _ru(prev) else "about ") + re.sub(r"^(?:about|on|о|об|про)\s+", "", x, flags=re.IGNORECASE)
        return _question(_replace(prev, topic, about) if topic else f"{prev} {about}")
    # a preposition phrase for the same one in the previous question ("and for Chinese tourists?")
    prep = re.match(r"(in|on|at|for|from|to|with|by|during|after|before|в|во|на|для|с|к|по)\s+", x, re.IGNORECASE)
    slots = [e for e in turn.asked if e.kind == kind]
    if kind in ("person", "date", "place") and slots:
        span = _span(prev, slots[0].text) if kind == "person" else (prev.find(slots[0].text),
                                                                  prev.find(slots[0].text) + len(slots[0].text))
        if span and span[0] >= 0:
            new = x
            if prep and re.search(rf"\b{prep.group(1)}\s+$", prev[: span[0]], re.IGNORECASE):
                new = x[prep.end() :]
            return _question(_replace(prev, span, new))
    if prep:
        n = len(x[prep.end() :].split())
        m = re.search(rf"\b{prep.group(1)}\s+(?:the\s+)?(?:[\w'-]+\s+){{0,{n - 1}}}[\w'-]+", prev, re.IGNORECASE)
        if m:
            return _question(_replace(prev, m.span(), x))
    if not _mentioned(x, turn):
        return None
    return _question(f"{prev}: what about {x}" if not _ru(prev) else f"{prev}: а {x}")


_PERSON_PRONOUNS = re.compile(r"\b(he|him|his|she|her|himself|herself|он|она|его|её|ее|ему|ей|него|неё|нее|нему|ней|"
                              r"ним|нём|нем)\b", re.IGNORECASE)
_ROLE_BEFORE = re.compile(rf"\b{alternation(ROLE_NOUNS + RU_ROLE_NOUNS)}\b", re.IGNORECASE)
_IT = re.compile(r"\b(it|its|этого|этом|это)\b", re.IGNORECASE)
_DUMMY_IT = re.compile(r"\bit\s+(?:is|was|'s)\s+\w+\s+(?:that|to)\b|\bis\s+it\s+(?:true|possible|likely|so)\b"
                       r"|\bэто\s+(?:правда|возможно)", re.IGNORECASE)
_THEY = re.compile(r"\b(they|them|their|они|их|им|ними)\b", re.IGNORECASE)
_THERE = re.compile(r"\b(there|там)\b", re.IGNORECASE)
_EXISTENTIAL = re.compile(r"\b(?:there\s+(?:is|are|was|were|has|have|had|will|would)|(?:is|are|was|were)\s+there)\b",
                          re.IGNORECASE)
_THEN = re.compile(r"\b(then|at that time|тогда)\b", re.IGNORECASE)
_ABOUT_THAT = re.compile(r"\b(about|on|regarding)\s+(that|this)\s*$|\b(об\s+этом|про\s+это)\b", re.IGNORECASE)


def _referent_thing(turn: Turn) -> str | None:
    t = _topic_span(turn)
    if t:
        return re.sub(r"^(?:about|on|regarding|concerning|of|о|об|про)\s+", "", turn.question[t[0] : t[1]],
                      flags=re.IGNORECASE)
    m = re.match(r"^(?:what|who)\s+(?:is|was|are|were)\s+(?P<x>.+?)\??$", turn.question, re.IGNORECASE)
    if m and len(m.group("x").split()) <= 6:
        return m.group("x")
    things = [e.text for e in turn.asked if e.kind == "thing"]
    if things:
        return things[0]
    m = re.search(r"\b(?:about|on|regarding|concerning)\s+(?P<x>(?:the\s+)?[\w'’ -]{3,60}?)\s*\??$", turn.question,
                  re.IGNORECASE)  # "When did Lavrov speak about the peace treaty?": the peace treaty
    return m.group("x") if m else None


def _joined(names: list[str]) -> str | None:
    return f"{names[0]} and {names[1]}" if len(names) >= 2 else None


def _pronouns(text: str, turn: Turn, is_person: IsPerson | None) -> str | None:
    """A message whose pronoun has no name of its kind in it, the pronoun replaced by its referent."""
    own = extract_entities(text, None, is_person)
    ru = _ru(text)
    out = text
    changed = False
    m = _PERSON_PRONOUNS.search(out)
    if m and not any(e.kind == "person" for e in own) and not _ROLE_BEFORE.search(out[: m.start()]):
        sp = turn.query.speaker
        people = turn.entities("person")
        name = people[0].text if people else (sp.name if sp else None)
        if name is None:
            return None

        def person(mm: re.Match) -> str:
            w = mm.group(1).lower()
            nxt = out[mm.end() :].lstrip()
            possessive = w == "his" or (w == "her" and nxt[:1].isalpha()
                                        and not re.match(r"(?:about|to|on|in|at|for|with|from|that|\?)\b", nxt))
            return f"{name}'s" if possessive else name

        out = _PERSON_PRONOUNS.sub(person, out)
        changed = True
    m = _ABOUT_THAT.search(out)
    if m:
        thing = _referent_thing(turn)
        if thing is None:
            return None
        out = out[: m.start()] + ("о " if ru else "about ") + thing + out[m.end() :]
        changed = True
    m = _IT.search(out)
    if m and not _DUMMY_IT.search(out) and not (ru and m.group(1).lower() == "это") \
            and not any(e.kind == "thing" for e in own):
        thing = _referent_thing(turn)
        if thing is None:
            return None
        out = re.sub(r"\b(it|its|этого|этом)\b", lambda mm: thing + ("'s" if mm.group(1).lower() == "its" else ""),
                     out, flags=re.IGNORECASE)
        changed = True
    m = _THEY.search(out)
    if m and not ru and sum(e.kind in ("person", "place") for e in own) < 2:
        group = _joined([e.text for e in turn.asked if e.kind == "person"]) \
            or _joined([e.text for e in turn.asked if e.kind == "place"])
        if group is None:
            return None
        out = re.sub(r"\b(they|them|their)\b", lambda mm: group + ("'s" if mm.group(1).lower() == "their" else ""),
                     out, flags=re.IGNORECASE)
        changed = True
    m = _THERE.search(out)
    if m and not _EXISTENTIAL.search(out) and not any(e.kind == "place" for e in own):
        places = turn.entities("place")
        if not places:
            return None
        out = out[: m.start()] + ("в " if ru else "in ") + places[0].text + out[m.end() :]
        changed = True
    m = _THEN.search(out)
    if m and not any(e.kind == "date" for e in own) and not re.match(r"^\s*(?:and\s+)?then\b", text, re.IGNORECASE):
        dates = turn.entities("date")
        if not dates:
            return None
        d = dates[0].text
        prep = "в" if ru else ("on" if re.search(r"\d{1,2}\D+\d{4}|\w+ \d{1,2}\b|day$", d) else "in")
        out = out[: m.start()] + f"{prep} {d}" + out[m.end() :]
        changed = True
    return _question(out) if changed else None


# ---------------------------------------------------------------- the entry point


def resolve(question: str, history: Sequence[Turn], is_person: IsPerson | None = None) -> str | None:
    """``question`` rewritten as a stand-alone question against the last turn of ``history``, or
    None when it stands alone (or is a follow-up whose referent cannot be found)."""
    if not history:
        return None
    turn = history[-1]
    text, lead = _strip_lead(question.strip())
    core = _core(text)
    if not core:
        return None
    m = _BARE_WH.fullmatch(core)
    if m:
        return _bare_wh(m.group("wh") or m.group("who"), turn)
    m = _ABOUT.match(core)
    if m and (lead or m.group("what") or m.group("explicit") is None or len(core.split()) <= _MAX_ELLIPSIS_WORDS):
        if m.group("ru") and not lead:
            return None  # "о чём ..." needs its "а"
        explicit = bool(m.group("explicit") or m.group("ru"))
        return _ellipsis(m.group("x"), explicit and turn.query.speaker is not None, turn, is_person)
    if lead and len(core.split()) <= _MAX_ELLIPSIS_WORDS and not _VERBS.search(core):
        return _ellipsis(core, False, turn, is_person)
    if lead:
        inherited = _inherit_topic(core, turn)
        if inherited:
            return inherited
    return _pronouns(text, turn, is_person)


def incomplete(question: str) -> bool:
    """Whether ``question`` cannot stand alone: a bare question word ("why?", "when was that?") or
    a short "and ...?" with no verb. (Unresolved, it is better asked again in full.)"""
    text, lead = _strip_lead(question.strip())
    core = _core(text)
    if not core:
        return False
    return bool(_BARE_WH.fullmatch(core)) or (lead and len(core.split()) <= _MAX_ELLIPSIS_WORDS
                                              and not _VERBS.search(core))


def _inherit_topic(core: str, turn: Turn) -> str | None:
    """"And what did Kono say?" after "What did Lavrov say about the peace treaty?" -> the topic."""
    mine = parse_speaker_question(core)
    t = _topic_span(turn)
    if mine is None or mine.topic or t is None:
        return None
    return _question(f"{core} {turn.question[t[0] : t[1]]}")
