"""Extractive answers: choose the sentences that answer, cite each, or abstain.

``answer`` takes the ranked passages of any question; ``statements`` the passages naming the X of
"what did X say (about Y)". Both read a :class:`Space`: the question's vector and a way to compare
texts with it, in MiniLM's space for English questions or the multilingual one for questions in
another script. This package reads retrieval's types and never the index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qa.answer.abstain import COVERAGE_MIN, DENSE_ANSWERABLE, should_abstain, should_abstain_foreign
from qa.answer.compose import abstention, compose, not_named, not_on_topic, statements_header
from qa.answer.lead import TESTS, arrange, kind, short_answer
from qa.answer.reading import Draft, answerable, lead_scores, read
from qa.answer.select import (
    ANSWER_PASSAGES,
    MAX_STATEMENTS,
    Picked,
    pick_statements,
    recency,
    score_by_meaning,
    score_sentences,
    when,
)
from qa.index.passages import Candidate, PassageRow
from qa.question.query import Query, question_names
from qa.text.terms import coverage, tokenize
from qa.types import Answer


@dataclass(frozen=True)
class Space:
    """The vector space a question is compared in: MiniLM, or multilingual for another script."""

    multilingual: bool
    vector: np.ndarray
    encode: Callable[[list[str]], np.ndarray]

    def similarity(self, texts: list[str]) -> np.ndarray:
        """Cosine of each text with the question."""
        return self.encode(texts) @ np.ravel(self.vector)


Entities = dict[str, list[tuple[int, int, str]]]  # sentence text -> named-entity spans (the index's annotations)


def answer(query: Query, cands: list[Candidate], rows: dict[int, PassageRow], weights: dict[str, float],
           space: Space, entities: Entities | None = None, passages: int | None = None, reader=None) -> Answer:
    """The best sentences of the first ``passages`` ranked passages ``cands`` (``weights``: the IDF
    of the question's terms, a term no article uses weighted as the rarest), led by the one that
    answers best; or an abstention. With a ``reader`` (``embeddings.reader.Reader``), the reader
    model's evidence chooses the lead, the short answer and whether to answer at all; without one,
    the rules of ``lead`` and ``abstain`` do. For a question about the present, the newest
    source's best passage among all ``cands`` joins the first ones when it is about as relevant
    (``newest_first``)."""
    if space.multilingual:
        return _by_meaning(query, _first(query, cands, rows, weights, passages), rows, space, entities)
    return decide(draft(query, cands, rows, weights, space, entities, passages, reader))


def _first(query: Query, cands: list[Candidate], rows: dict[int, PassageRow], weights: dict[str, float],
           passages: int | None) -> list[Candidate]:
    """The first ``passages`` candidates (for the present, the newest source's best among them)."""
    if query.recent:
        cands = newest_first(cands, rows, list(query.terms), weights)
    return cands[:passages] if passages else cands


def draft(query: Query, cands: list[Candidate], rows: dict[int, PassageRow], weights: dict[str, float],
          space: Space, entities: Entities | None = None, passages: int | None = None, reader=None) -> Draft:
    """Score the sentences of the first ``passages`` candidates and, with a ``reader``, read them."""
    cands = _first(query, cands, rows, weights, passages)
    terms = list(query.terms)
    best_cov = max((coverage(terms, weights, rows[c.row].text) for c in cands), default=0.0)
    best_dense = max((c.dense for c in cands), default=0.0)
    if not cands:
        return Draft(query, [], {}, best_dense, best_cov)
    late = {c.row: c.sentence_late for c in cands[:ANSWER_PASSAGES]}  # from the rerank
    picked = score_sentences(cands, rows, terms, weights, query.recent, late, entities)
    evidence = read(reader, query.text, picked) if reader is not None and picked else {}
    sentence_dense = None
    if picked and should_abstain(best_dense, best_cov):
        # A short question ("Aegis Ashore") is close to a sentence, not to a whole passage:
        # judge it by the best sentences too (rarely needed, so they are encoded only here).
        sentence_dense = float(np.max(space.similarity([p.text for p in arrange(query, picked)[:3]])))
    return Draft(query, picked, evidence, best_dense, best_cov, sentence_dense)


def decide(d: Draft) -> Answer:
    """The answer a draft makes: the lead and its support, the short answer, or an abstention."""
    query = d.query
    if not d.picked:
        return abstention(query.text)
    dense = max(d.best_dense, d.sentence_dense or 0.0)
    if d.evidence:
        if not answerable(d):
            return abstention(query.text)
        scores = lead_scores(d, TESTS.get(kind(query)))
        picked = arrange(query, d.picked, lead=scores)
        return compose(query.text, picked, query.recent, short=short_answer(query, picked))
    if should_abstain(d.best_dense, d.best_cov) and (d.best_cov < COVERAGE_MIN or should_abstain(dense, d.best_cov)):
        return abstention(query.text)
    picked = arrange(query, d.picked)
    return compose(query.text, picked, query.recent, short=short_answer(query, picked))


CLOSEST_OF = 4  # statements compared with the question by meaning (encoding them costs ~5 ms each)
CLOSEST_WORDS = 60  # ... from their first words (a long quote's start says what it is about)


RECENT_SHARE = 0.6  # the newest source's best passage is read first if it holds this share of the terms of the best


def newest_first(cands: list[Candidate], rows: dict[int, PassageRow], terms: list[str],
                 weights: dict[str, float]) -> list[Candidate]:
    """``cands`` with the best passage of the newest source (stated date, else the latest year it
    reports) moved first, when it holds at least RECENT_SHARE of the question's (IDF-weighted) terms
    that the best-covered passage holds: about the question, only newer. (Scores are not compared:
    the rerank's late stage raises only the first ten.)"""
    if not cands:
        return cands
    cov = {c.row: coverage(terms, weights, rows[c.row].text) for c in cands}
    newest = max(recency(rows[c.row]) for c in cands)
    best = max((c for c in cands if recency(rows[c.row]) == newest), key=lambda c: cov[c.row])
    if best is cands[0] or not cov[best.row] or cov[best.row] < RECENT_SHARE * max(cov.values()):
        return cands
    return [best, *[c for c in cands if c is not best]]


def _by_meaning(query: Query, cands: list[Candidate], rows: dict[int, PassageRow], space: Space,
                entities: Entities | None) -> Answer:
    """A question in another script: abstain unless a passage is close in the multilingual space
    or a name it gives occurs in the articles; sentences chosen by meaning."""
    names = [t for n in question_names(query.text) for t in tokenize(n)]
    name_match = bool(names) and any(set(names) & set(tokenize(p.text)) for p in rows.values())
    if not cands or should_abstain_foreign(max(c.dense for c in cands), name_match):
        return abstention(query.text)
    picked = arrange(query, score_by_meaning(cands, rows, space.similarity, entities=entities))
    return compose(query.text, picked, query.recent, short=short_answer(query, picked))


def statements(query: Query, rows: dict[int, PassageRow], cos: dict[int, float], weights: dict[str, float],
               space: Space, speakers: dict[int, list[list[str]]] | None = None) -> Answer | None:
    """What the speaker of ``query`` said, from ``rows`` (the passages naming them; ``cos``: their
    cosine with the question, or with "X topic" when it has one; ``weights``: the IDF of the
    topic's terms; ``speakers``: the index's speakers of each passage's sentences), or None when no
    sentence of theirs is found (answer from the passages then)."""
    who = query.speaker
    header = statements_header(who.name)
    if space.multilingual:  # no terms to match: every statement, the closest to the topic by meaning first
        picked = pick_statements(rows, cos, who.surname, [], {}, limit=3 * MAX_STATEMENTS, speakers=speakers)
        if picked and who.topic:
            sims = space.similarity([p.text for p in picked])
            picked = [picked[i] for i in np.argsort(-sims, kind="stable")]
        picked = picked[:MAX_STATEMENTS]
        return compose(query.text, picked, False, header=header) if picked else None
    terms = list(who.topic_terms) if who.topic else []
    picked = pick_statements(rows, cos, who.surname, terms, weights, speakers=speakers)
    if not picked:
        return None
    if who.topic and terms and max(coverage(terms, weights, s.text) for s in picked) == 0 \
            and max(cos.values()) < DENSE_ANSWERABLE:
        return abstention(query.text, not_on_topic(who.name, who.topic))
    if who.topic:  # "... about Y": of the first few, the statement closest to the question leads
        head, tail = picked[:CLOSEST_OF], picked[CLOSEST_OF:]
        texts = [" ".join(p.text.split()[:CLOSEST_WORDS]) for p in head]
        sims = space.similarity(texts)
        rel = [float(sim) + coverage(terms, weights, p.text) for p, sim in zip(head, sims)]
        picked = [head[i] for i in sorted(range(len(head)), key=lambda i: -rel[i])] + tail
    return compose(query.text, picked, False, header=header)


__all__ = ["Draft", "Picked", "Space", "abstention", "answer", "compose", "decide", "draft", "not_named",
           "pick_statements", "statements", "when"]
