"""What the reader model makes of the answer's candidate sentences.

The reader (``embeddings.reader``) reads the question with each of the best passages and scores
every span: the best span inside a candidate sentence says how well that sentence answers, the
passage's "no answer" score how likely it is that none of it does. Those scores, put on one scale
across the question's candidates, are the features the lead and abstention use
(``FEATURES``; their weights are fitted by ``training/fit_answer.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qa.answer.abstain import should_abstain
from qa.answer.select import Picked
from qa.index.passages import PassageRow
from qa.question.query import Query

READ_PASSAGES = 5  # passages the reader reads: those the candidate sentences come from


@dataclass(frozen=True)
class Evidence:
    """The reader's view of one candidate sentence."""

    span: tuple[int, int] | None  # the best span inside the sentence: offsets in ``Picked.text``
    score: float  # that span's score (start + end logit); -inf when none
    null: float  # its passage's "no answer" score
    has: float  # its passage's has-answer probability
    prob: float = 0.0  # the span's share among the question's candidates (softmax of ``score``)

    @property
    def margin(self) -> float:
        """How far the span beats its passage's "no answer"."""
        return self.score - self.null


def passage_text(p: PassageRow) -> str:
    """The passage as the reader reads it: its sentences, one space apart."""
    return " ".join(t for _, _, t in p.sentences)


def read(reader, question: str, picked: list[Picked]) -> dict[int, Evidence]:
    """Evidence for each candidate (keyed by ``id(picked item)``): their passages read in one batch."""
    passages = list({p.passage.row: p.passage for p in picked}.values())[:READ_PASSAGES]
    texts = [passage_text(p) for p in passages]
    readings = dict(zip((p.row for p in passages),
                        zip(texts, reader.read(question, [(p.title, t) for p, t in zip(passages, texts)]))))
    out: dict[int, Evidence] = {}
    for item in picked:
        got = readings.get(item.passage.row)
        if got is None:
            continue
        text, reading = got
        at = text.find(item.text)
        span = reading.best_span(at, at + len(item.text)) if at >= 0 else None
        if span is None:
            out[id(item)] = Evidence(None, -math.inf, reading.null, reading.has_answer)
        else:
            out[id(item)] = Evidence((span.start - at, span.end - at), span.score, reading.null, reading.has_answer)
    scores = np.array([e.score for e in out.values()], np.float64)
    if len(scores) and np.isfinite(scores).any():
        z = np.exp(scores - scores[np.isfinite(scores)].max())
        z = np.where(np.isfinite(scores), z, 0.0)
        for (key, e), prob in zip(list(out.items()), z / z.sum()):
            out[key] = Evidence(e.span, e.score, e.null, e.has, float(prob))
    return out


def span_text(item: Picked, e: Evidence) -> str | None:
    """The text of the best span of ``item``, trimmed of the punctuation around it."""
    if e.span is None:
        return None
    text = item.text[e.span[0] : e.span[1]].strip(" ,;:.\"'“”‘’()[]")
    return text or None


@dataclass
class Draft:
    """An English question's candidate sentences, scored and read, before anything is chosen."""

    query: Query
    picked: list[Picked]  # the candidate sentences, with the rules' scores
    evidence: dict[int, Evidence]  # id(candidate) -> what the reader makes of it (empty without a reader)
    best_dense: float  # the best passage's cosine with the question
    best_cov: float  # the best passage's share of the question's IDF-weighted terms
    sentence_dense: float | None = None  # for a doubtful question: the best sentences' cosine


# ---------------------------------------------------------------- what the evidence decides
# Weights fitted by training/fit_answer.py (see its docstring for the data and the command) on
# 2,691 questions (458 news from the in-sample eval/ sets, 2,233 from SQuAD train articles the
# reader never saw), with the shipped reader (step 1,200). Lead right first: news 0.784 -> 0.821,
# SQuAD 0.815 -> 0.852 (rules' score + kind test alone -> with the reader's margin). Abstains on
# news 2.4 % of answerable, 59.0 % of unanswerable (rules alone 1.1 %, 53.8 %); SQuAD 1.4 %, 51.6 %
# (rules alone 1.1 %, 32.1 %).

# The lead: the candidate with the highest sum of these features times their weights.
LEAD_WEIGHTS = {"rules": 1.0, "test": 0.25, "prob": 0.0, "margin": 0.25}
# Answer at all: a logistic model of the question's best evidence; answer when it says at least
# ANSWER_MIN, or DOUBTFUL_MIN when retrieval doubts too (abstain.should_abstain on the best cosine
# and coverage: no passage or sentence close in meaning and the question's terms not covered).
ANSWER_WEIGHTS = {"bias": -0.458, "margin": 1.951, "has": 1.344, "coverage": 0.83, "dense": 0.211}
ANSWER_MIN = 0.32
DOUBTFUL_MIN = 0.86
# Short answers stay the rules' (lead.short_answer): no floor on the reader's span share made its
# spans exact for 80 % of the questions (news <= 74 %, SQuAD <= 57 %; training/fit_answer.py measures
# them with these bounds).
SHORT_MAX_WORDS = 8
NO_SHORT = frozenset({"yesno", "statement", "why", "list"})  # kinds whose answer is a sentence, not a span


def lead_features(d: Draft, test=None) -> dict[str, np.ndarray]:
    """One value per candidate for each lead feature: the rules' score (a share of the best), the
    kind test (1 when the sentence holds an answer of the kind asked for), the reader's share of the
    span scores and its margin over "no answer" (in tens of logits, clipped)."""
    rules = np.array([p.score for p in d.picked])
    ev = [d.evidence.get(id(p)) for p in d.picked]
    return {
        "rules": rules / (rules.max() or 1.0),
        "test": np.array([test(d.query, p) if test else 0.0 for p in d.picked]),
        "prob": np.array([e.prob if e else 0.0 for e in ev]),
        "margin": np.array([np.clip(e.margin / 10, -2, 2) if e and math.isfinite(e.margin) else -2.0 for e in ev]),
    }


def lead_scores(d: Draft, test=None) -> dict[int, float]:
    """Each candidate's lead score (keyed by ``id``)."""
    f = lead_features(d, test)
    total = sum(LEAD_WEIGHTS[k] * f[k] for k in LEAD_WEIGHTS)
    return {id(p): float(v) for p, v in zip(d.picked, total)}


def answer_features(d: Draft) -> dict[str, float]:
    """The question's best evidence: the reader's best margin and has-answer probability, the best
    passage's term coverage and cosine (those of the rules' abstention)."""
    ev = [e for e in d.evidence.values() if math.isfinite(e.margin)]
    return {
        "bias": 1.0,
        "margin": float(np.clip(max((e.margin for e in ev), default=-20.0) / 10, -2, 2)),
        "has": max((e.has for e in d.evidence.values()), default=0.0),
        "coverage": d.best_cov,
        "dense": max(d.best_dense, d.sentence_dense or 0.0),
    }


def doubtful(f: dict[str, float]) -> bool:
    """Whether retrieval alone would abstain on these answer features (the rules' test)."""
    return should_abstain(f["dense"], f["coverage"])


def answerable(d: Draft) -> bool:
    """Whether the evidence says the articles answer the question."""
    f = answer_features(d)
    z = sum(ANSWER_WEIGHTS[k] * f[k] for k in ANSWER_WEIGHTS)
    floor = DOUBTFUL_MIN if doubtful(f) else ANSWER_MIN
    return 1 / (1 + math.exp(-z)) >= floor


