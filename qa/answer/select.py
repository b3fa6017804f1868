"""Choosing the answer's sentences: the best of the top passages, or what X said.

- Any question: the sentences of the best passages, scored by how much of the question's
  (IDF-weighted) vocabulary they hold, their passage's score and their own MaxSim with the
  question; for a question in another script, by multilingual similarity instead.
- "What did X say (about Y)?": the sentences in which X is the speaker (``qa/text/attribution.py``)
  across all articles, most relevant first, spread over articles.

Weights: a sentence's MaxSim counts ``SENTENCE_LATE_WEIGHT`` (answer text over the five English
sets of eval/: 0.848 without, 0.864 at 0.5 and 1, 0.860 at 2); a sentence within ``KEEP_SHARE`` of
the best one's score is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from qa.index.passages import Candidate, PassageRow
from qa.text.attribution import open_quote, quote_opening, statement_flags
from qa.text.names import name_matches
from qa.text.terms import coverage, tokenize

MAX_SENTENCES = 3
MAX_STATEMENTS = 8
ANSWER_PASSAGES = 5  # answer sentences come from the best passages
SENTENCE_LATE_WEIGHT = 1.0
PASSAGE_WEIGHT = 0.6  # a sentence's score: coverage + 0.6 x its passage's share of the best score
COSINE_WEIGHT = 0.3  # + 0.3 x its passage's cosine + SENTENCE_LATE_WEIGHT x its own MaxSim
RECENCY_WEIGHT = 0.5  # a question about the present: + 0.5 x how new the passage is, among them
MEANING_WEIGHT = 0.5  # another script: similarity + 0.5 x the passage's share of the best score
KEEP_SHARE = 0.75


@dataclass
class Picked:
    """A sentence chosen for the answer, with the passage that cites it."""

    text: str
    passage: PassageRow
    score: float
    passage_score: float
    entities: tuple[tuple[str, str], ...] = ()  # (text, label) of the named entities in ``text``


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


def entities_of(texts: list[str],
                entities: dict[str, list[tuple[int, int, str]]] | None) -> tuple[tuple[str, str], ...]:
    """(text, label) of the stored entities of each of ``texts`` (sentences)."""
    if not entities:
        return ()
    return tuple((t[a:b], label) for t in texts for a, b, label in entities.get(t, ()))


def score_sentences(cands: list[Candidate], rows: dict[int, PassageRow], terms: list[str], weights: dict[str, float],
                    recent: bool, late: dict[int, list[float] | None] | None = None,
                    entities: dict[str, list[tuple[int, int, str]]] | None = None) -> list[Picked]:
    """Every sentence of the top passages (``ANSWER_PASSAGES``), scored: question-term coverage,
    passage score and, where ``late`` gives it (row -> one value per sentence), the sentence's
    MaxSim with the question ("tax" finds "taxation"); with its named entities (``entities``:
    sentence text -> spans)."""
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
            pscore += RECENCY_WEIGHT * (_year(p) - y_min) / (y_max - y_min)
        sentence_late = (late or {}).get(c.row) or [neutral] * len(p.sentences)
        for i, (_, _, text) in enumerate(p.sentences):
            if len(text) < 25:
                continue
            cov = coverage(terms, weights, text)
            shown = with_antecedent(text, p.sentences[i - 1][2] if i else None)
            score = (cov + PASSAGE_WEIGHT * pscore + COSINE_WEIGHT * max(c.dense, 0)
                     + SENTENCE_LATE_WEIGHT * sentence_late[i])
            parts = [p.sentences[i - 1][2], text] if shown != text else [text]
            items.append(Picked(shown, p, score, c.score, entities_of(parts, entities)))
    return items


_BACK_REFERENCE = re.compile(r"(It|Its|This|That|These|Those|They|Their|He|His|She|Her)\b")


def with_antecedent(sentence: str, previous: str | None) -> str:
    """``sentence``, preceded by the sentence before it when it opens by referring back
    ("It was signed in 1999"), so the reader sees what "it" is."""
    if previous and len(previous) <= 400 and _BACK_REFERENCE.match(sentence):
        return f"{previous} {sentence}"
    return sentence


def recency(p: PassageRow) -> str:
    """Sort key, larger is newer: the stated date ("2019-02-17"), else the latest year mentioned."""
    return p.date or f"{_year(p):04d}"


def pick_statements(rows: dict[int, PassageRow], cos: dict[int, float], surname: str, terms: list[str],
                    weights: dict[str, float], limit: int = MAX_STATEMENTS,
                    speakers: dict[int, list[list[str]]] | None = None) -> list[Picked]:
    """Sentences in which ``surname`` is the speaker, most relevant first, spread over articles.
    ``speakers``: the index's speakers of each passage's sentences (qa/index/speakers.py, from a parse);
    a passage without them is read with qa/text/attribution.py's rules."""
    items: list[Picked] = []
    for row, p in rows.items():
        texts = [t for _, _, t in p.sentences]
        stored = (speakers or {}).get(row)
        if stored is not None:  # a cut quote is already its speaker's, sentence by sentence
            flags = [any(name_matches(n, surname) for n in names) for names in stored]
        else:
            flags = statement_flags(texts, surname)
            # A quote the splitter cut into sentences belongs to the attributed sentence that closes it
            # ('"In recent months ... In addition ... There is great potential," Kono said.').
            for i in range(len(texts) - 1, 0, -1):
                if flags[i] and not flags[i - 1]:
                    for j in quote_opening(texts, i):
                        flags[j] = True
        merged: list[tuple[str, bool]] = []
        for text, attributed in zip(texts, flags):
            if merged and merged[-1][1] and attributed and open_quote(merged[-1][0]):
                merged[-1] = (f"{merged[-1][0]} {text}", True)
            else:
                merged.append((text, attributed))
        for text, attributed in merged:
            if attributed:
                rel = cos.get(row, 0.0) + (coverage(terms, weights, text) if terms else 0.0)
                items.append(Picked(text, p, rel, cos.get(row, 0.0)))
    ranked = _best_first(items, limit * 3)
    if terms and ranked:  # "... say about Y": only statements about as relevant as the best (as in lead.arrange)
        ranked = [it for it in ranked if it.score >= KEEP_SHARE * ranked[0].score]
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


def score_by_meaning(cands: list[Candidate], rows: dict[int, PassageRow], similarity, passages: int = 3,
                     entities: dict[str, list[tuple[int, int, str]]] | None = None) -> list[Picked]:
    """For a question in another script: the sentences of the best ``passages``, scored by their
    closeness to it in meaning (``similarity(texts)``: one value per text) and their passage's
    share of the best score."""
    sentences = [(c, text) for c in cands[:passages] for _, _, text in rows[c.row].sentences if len(text) >= 25]
    sims = similarity([t for _, t in sentences]) if sentences else []
    top = cands[0].score or 1.0
    return [Picked(t, rows[c.row], float(sim) + MEANING_WEIGHT * c.score / top, c.score, entities_of([t], entities))
            for (c, t), sim in zip(sentences, sims)]
