"""Extractive answers: choose the sentences that answer, cite each, or abstain.

Two kinds of question:

- "What did X say (about Y)?" gathers sentences in which X is the speaker
  (reported speech or quotes attributed to X) across all articles.
- Anything else takes the best sentences of the top passages, scored by how
  much of the question's (IDF-weighted) vocabulary they contain and by their
  passage's retrieval score.

Abstention: when no passage is semantically close (dense cosine) *and* the
question's distinctive terms are missing from the best passages, the articles
do not answer it, and we say so rather than dress up unrelated citations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa.lexical import coverage, question_terms, tokenize  # noqa: F401 (re-exported)
from qa.retrieve import PassageRow

# Abstention thresholds, chosen on the whole eval set (not per question; errors are flat
# for DENSE_FLOOR 0-0.2 and COVERAGE_MIN 0.4-0.5; see README, "Evaluation").
DENSE_ANSWERABLE = 0.5  # a passage this close in meaning is on topic whatever the words
COVERAGE_MIN = 0.5  # else: share of the question's IDF mass found in one passage,
DENSE_FLOOR = 0.2  # and the best passage must be at least this close
ML_FLOOR = 0.2  # multilingual cosine (another scale than MiniLM's), for questions not in English
MAX_SENTENCES = 3
ANSWER_PASSAGES = 5  # answer sentences come from the best passages
# A sentence's MaxSim with the question (qa/retrieve.py) counts this much in choosing it. Answer text
# over the five English sets of eval/: 0.848 without, 0.864 at 0.5 and 1, 0.860 at 2.
SENTENCE_LATE_WEIGHT = 1.0
MAX_STATEMENTS = 8

_SPEECH_VERBS = (
    r"said|says|say|stated|states|told|tells|noted|notes|stressed|stresses|pointed out|announced|"
    r"underlined|indicated|argued|argues|suggested|believes|believed|emphasi[sz]ed|emphasi[sz]es|added|"
    r"explained|called|reiterated|urged|warned|insisted|confirmed|remarked|declared|commented|wrote|"
    r"writes|according to|recalled|acknowledged|admitted|claimed|expressed|assured|spoke")
SPEECH = re.compile(rf"\b({_SPEECH_VERBS})\b", re.IGNORECASE)
# ", he added" / ", she elaborately stated" inside a sentence; a named speaker ("Kono said") or a full
# name ("Toyohisa Kozuki") before it means someone else may be "he"
_PRONOUN_SAID = re.compile(r",\s*(?:he|she)\s+(?:\w+ly\s+)?(?:said|says|added|noted|stressed|stated|told|"
                           r"explained|emphasi[sz]ed|argued|insisted|warned|recalled|pointed out|underlined)\b")
_NAMED_SPEAKER = re.compile(r"\b[A-Z][a-z]+\s+(?:said|says|told|stated|noted|added|stressed|suggested)\b")
_FULL_NAME = re.compile(r"\b(?!(?:The|A|An|In|On|At|For|But|And|This|That|It)\b)[A-Z][a-z]+\s+[A-Z][a-z]+\b")
_QUOTE_MARKS = '"“”«»'
_QUOTE_START = re.compile(r"^[\"“«„'‘—–-]")
# Verbs of taking a position, for "He also took issue with ..." right after a sentence by the speaker.
_STANCE = re.compile(r"\b(took issue|takes issue|critici[sz]ed|rejected|dismissed|demanded|proposed|praised|"
                     r"welcomed|objected|denied|refused|questioned|condemned|called for|opposed)\b")
_SAY_QUESTION = re.compile(
    r"^\s*(?:so\s+)?what\s+(?:did|does|do|has|have|had|was|is)\s+(?P<who>.+?)\s+"
    r"(?:say|said|saying|state|stated|tell|told|think|thought|claim|announce|argue|mean|comment|"
    r"write|wrote|note|stress)\b(?P<rest>.*)$",
    re.IGNORECASE,
)
_SAY_RU = re.compile(
    r"^\s*что\s+(?:сказал|сказала|заявил|заявила|говорил|говорила|говорит|думает|считает)\s+"
    r"(?P<who>[^?,]+?)(?P<rest>(?:\s+(?:о|об|про|насчет|по поводу)\b.*)?)\??\s*$",
    re.IGNORECASE,
)
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
_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t",
     "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"],
))


def transliterate(text: str) -> str:
    """Russian Cyrillic to Latin letters (for matching names: Лавров -> Lavrov)."""
    out = []
    for ch in text:
        low = ch.lower()
        if low in _TRANSLIT:
            t = _TRANSLIT[low]
            out.append(t.capitalize() if ch != low else t)
        else:
            out.append(ch)
    return "".join(out)


def wants_recent(question: str) -> bool:
    """True for questions about the present ("now", "currently", "latest", or a present-tense
    yes/no question such as "Are the talks frozen?")."""
    if _RECENT.search(question):
        return True
    first = _FIRST_VERB.search(question)
    past = first is not None and first.group(1).lower() in ("was", "were", "did", "had", "would", "could", "said",
                                                             "told")
    return bool(_RECENT_WEAK.search(question)) and not past


@dataclass
class SpeakerQuestion:
    """A "what did X say" question: the speaker's surname and the topic, if any."""

    surname: str
    name: str
    topic: str


def parse_speaker_question(question: str) -> SpeakerQuestion | None:
    """Recognise "What did X say (about Y)?" in English or Russian."""
    m = _SAY_QUESTION.match(question) or _SAY_RU.match(question)
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
    return SpeakerQuestion(surname=names[-1], name=who, topic=rest.strip(" ?.!"))


def should_abstain_foreign(best_cosine: float, name_match: bool) -> bool:
    """For questions not in English: abstain unless a passage is close in the multilingual
    space or a transliterated name in the question occurs in the articles."""
    return best_cosine < ML_FLOOR and not name_match


def should_abstain(best_dense: float, best_coverage: float) -> bool:
    """Abstain unless some passage is close in meaning or shares the question's key terms."""
    if best_dense >= DENSE_ANSWERABLE:
        return False
    return best_coverage < COVERAGE_MIN or best_dense < DENSE_FLOOR


def _quote_opening(texts: list[str], i: int, reach: int = 3) -> range:
    """The sentences before ``texts[i]`` that belong to the quote it ends: back to the one that
    opens it (at most ``reach``), or none if ``texts[i]`` closes no quote left open before it."""
    if not _closes_quote(texts[i]):
        return range(0)
    for j in range(i - 1, max(i - 1 - reach, -1), -1):
        if _QUOTE_START.match(texts[j].lstrip()) and _open_quote(texts[j]):
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


def _open_quote(text: str) -> bool:
    """True if ``text`` starts a quotation it does not close."""
    t = text.lstrip()
    if t[:1] in "“«":
        return t.count("“") + t.count("«") > t.count("”") + t.count("»")
    if t[:1] in "—–":  # a dialogue dash opens a quote, as in "— Rather, such statements can be welcomed."
        # (not one the sentence closes itself: "— Japan must return to the dialogue, — Zakharova said.")
        return not any(q in t for q in _QUOTE_MARKS) and not re.search(r"[,.!?]\s*[—–]", t[1:])
    return t[:1] == '"' and t.count('"') % 2 == 1


def question_names(question: str) -> list[str]:
    """Capitalised words after the first, transliterated to Latin (Лавров -> Lavrov)."""
    words = re.findall(r"\w+", question)[1:]
    return [transliterate(w) for w in words if w[:1].isupper()]


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
        closing = sentence if not _open_quote(sentence) else next((t for t in following[:3] if _closes_quote(t)), None)
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


def speaks_in(p: PassageRow, surname: str) -> bool:
    """Whether ``surname`` is the speaker of some sentence of passage ``p``."""
    return any(statement_flags([t for _, _, t in p.sentences], surname))


@dataclass
class Picked:
    """A sentence chosen for the answer, with the passage that cites it."""

    text: str
    passage: PassageRow
    score: float
    passage_score: float


def when(p: PassageRow) -> str:
    """A source's date for display: the stated date, else the latest year it mentions."""
    if p.date:
        return p.date
    if p.year_hint:
        return f"undated, mentions {p.year_hint}"
    return "undated"


def _year(p: PassageRow) -> int:
    return int(p.date[:4]) if p.date else (p.year_hint or 0)


def _similar(a: str, b: str) -> bool:
    ta, tb = set(tokenize(a)), set(tokenize(b))
    if not ta or not tb:
        return a == b
    return len(ta & tb) / len(ta | tb) > 0.6


def _best_first(items: list[Picked], limit: int) -> list[Picked]:
    """The best-scored distinct items. A near-duplicate is dropped; an item that contains an
    already chosen one (a sentence shown with the one before it, a quote joined to its
    attribution) takes its place, so no sentence is shown twice."""
    out: list[Picked] = []
    for it in sorted(items, key=lambda x: -x.score):
        same = next((i for i, o in enumerate(out)
                     if it.text in o.text or o.text in it.text or _similar(it.text, o.text)), None)
        if same is not None:
            if out[same].text in it.text and len(it.text) > len(out[same].text):
                # its place and score, the longer text and the passage that holds all of it
                out[same] = replace(out[same], text=it.text, passage=it.passage)
            continue
        out.append(it)
        if len(out) >= limit:
            break
    return out


def pick_sentences(cands: list, rows: dict[int, PassageRow], terms: list[str], weights: dict[str, float],
                   recent: bool, limit: int = MAX_SENTENCES,
                   late: dict[int, list[float] | None] | None = None) -> list[Picked]:
    """The sentences of the top passages (``ANSWER_PASSAGES``) that best answer the question:
    question-term coverage, passage score and, where ``late`` gives it (row -> one value per
    sentence), the sentence's MaxSim with the question ("tax" finds "taxation")."""
    if not cands:
        return []
    top = max(c.score for c in cands) or 1.0
    years = [_year(rows[c.row]) for c in cands if _year(rows[c.row])]
    y_min, y_max = (min(years), max(years)) if years else (0, 0)
    items: list[Picked] = []
    # a passage without sentence values (tokens not matched) gets the mean of the others': neutral
    known = [v for values in (late or {}).values() if values for v in values]
    neutral = sum(known) / len(known) if known else 0.0
    for c in cands[:ANSWER_PASSAGES]:
        p = rows[c.row]
        pscore = c.score / top
        if recent and y_max > y_min:
            pscore += 0.5 * (_year(p) - y_min) / (y_max - y_min)
        sentence_late = (late or {}).get(c.row) or [neutral] * len(p.sentences)
        for i, (_, _, text) in enumerate(p.sentences):
            if len(text) < 25:
                continue
            cov = coverage(terms, weights, text)
            shown = with_antecedent(text, p.sentences[i - 1][2] if i else None)
            score = cov + 0.6 * pscore + 0.3 * max(c.dense, 0) + SENTENCE_LATE_WEIGHT * sentence_late[i]
            items.append(Picked(shown, p, score, c.score))
    return best_sentences(items, recent, limit)


_BACK_REFERENCE = re.compile(r"(It|Its|This|That|These|Those|They|Their|He|His|She|Her)\b")


def with_antecedent(sentence: str, previous: str | None) -> str:
    """``sentence``, preceded by the sentence before it when it opens by referring back
    ("It was signed in 1999"), so the reader sees what "it" is."""
    if previous and len(previous) <= 400 and _BACK_REFERENCE.match(sentence):
        return f"{previous} {sentence}"
    return sentence


def best_sentences(items: list[Picked], recent: bool, limit: int = MAX_SENTENCES) -> list[Picked]:
    """The best distinct sentences, within 75% of the best score; newest first if ``recent``."""
    picked = _best_first(items, limit)
    if not picked:
        return []
    best = picked[0].score
    picked = [p for p in picked if p.score >= 0.75 * best]
    if recent:
        picked.sort(key=lambda x: _recency(x.passage), reverse=True)
    return picked


def _recency(p: PassageRow) -> str:
    """Sort key, larger is newer: the stated date ("2019-02-17"), else the latest year mentioned."""
    return p.date or f"{_year(p):04d}"


def pick_statements(rows: dict[int, PassageRow], cos: dict[int, float], surname: str, terms: list[str],
                    weights: dict[str, float], limit: int = MAX_STATEMENTS) -> list[Picked]:
    """Sentences in which ``surname`` is the speaker, most relevant first, spread over articles."""
    items: list[Picked] = []
    for row, p in rows.items():
        texts = [t for _, _, t in p.sentences]
        flags = statement_flags(texts, surname)
        # A quote the splitter cut into sentences belongs to the attributed sentence that closes it
        # ('"In recent months ... In addition ... There is great potential," Kono said.').
        for i in range(len(texts) - 1, 0, -1):
            if flags[i] and not flags[i - 1]:
                for j in _quote_opening(texts, i):
                    flags[j] = True
        merged: list[tuple[str, bool]] = []
        for text, attributed in zip(texts, flags):
            if merged and merged[-1][1] and attributed and _open_quote(merged[-1][0]):
                merged[-1] = (f"{merged[-1][0]} {text}", True)
            else:
                merged.append((text, attributed))
        for text, attributed in merged:
            if attributed:
                rel = cos.get(row, 0.0) + (coverage(terms, weights, text) if terms else 0.0)
                items.append(Picked(text, p, rel, cos.get(row, 0.0)))
    ranked = _best_first(items, limit * 3)
    if terms and ranked:  # "... say about Y": only statements about as relevant as the best (as in best_sentences)
        ranked = [it for it in ranked if it.score >= 0.75 * ranked[0].score]
    # Round-robin over articles (each in its best-first order) so more than one is heard.
    by_doc: dict[str, list[Picked]] = {}
    for it in ranked:
        by_doc.setdefault(it.passage.doc_id, []).append(it)
    out: list[Picked] = []
    while len(out) < limit and any(by_doc.values()):
        for doc in sorted(by_doc, key=lambda d: -(by_doc[d][0].score if by_doc[d] else -9)):
            if by_doc[doc] and len(out) < limit:
                out.append(by_doc[doc].pop(0))
    out.sort(key=lambda x: -x.score)
    return out
