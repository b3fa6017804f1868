"""The rerank's scorers: small named functions, and every weight in one table.

A candidate's score is the sum, in table order, of each scorer's weighted value. The first stage
scores every candidate; the late stage (MaxSim over the stored token states, the costliest) only
the best ``LATE_DEPTH`` after it, which it reorders above the rest. Weights were chosen on the
question sets of eval/ looking for flat regions (see docs/evaluation.md):

- cosine + 0.5·coverage + 0.3·BM25: hit@1 is flat (0.86-0.88) for 0.3-0.7 / 0.2-0.3;
- speaker 0.2 (a "what did X say" question, a passage in which X speaks): the same for 0.1-0.3;
- MaxSim 2: hit@1 over the four English sets flat for 2-10; SciFact nDCG@10 drops 0.002 at 2;
- best sentence's MaxSim 1: over the six English sets hit@1 0.886 -> 0.890 / 0.903 / 0.900 at
  0.5 / 1 / 2, no set lower.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from embeddings.token_index import TokenStates
from qa.index.chunking import embed_text
from qa.index.passages import Candidate, PassageRow, joinable
from qa.index.reader import IndexReader
from qa.question.query import Query
from qa.text.attribution import statement_flags
from qa.text.names import name_matches
from qa.text.terms import coverage as term_coverage
from qa.text.words import FUNCTION_WORDS, QUESTION_WORDS

RERANK_DEPTH = 20  # the rerank reorders the fused top 2 x this, drawn from each retriever's top 2 x this
LATE_DEPTH = 10  # MaxSim for the best this many: the same figures for 10, 20 and 40 on all four sets
# Word pieces that carry no content for MaxSim (besides punctuation and "##" suffix pieces): the
# question words and function words; BM25's list (qa/text/terms.py) has no question words, which as
# rare passage words would weigh most.
LATE_STOP = frozenset(QUESTION_WORDS + ("did", "does", "do", "is", "was", "were", "be") + FUNCTION_WORDS)

TokenStarts = Callable[[PassageRow], np.ndarray]
"""Where the encoder's tokens of a passage's embedded text (``embed_text``) start."""


@dataclass
class Pool:
    """The candidates being scored and what the scorers read about them."""

    query: Query
    index: IndexReader
    cands: list[Candidate]
    rows: dict[int, PassageRow]
    late: LateScores | None = None  # the late stage's MaxSim values, computed once for its scorers


@dataclass
class LateScores:
    """MaxSim of the question with each candidate passage, and with each of its sentences."""

    passage: dict[int, float]
    sentences: dict[int, list[float] | None] = field(default_factory=dict)


Scorer = Callable[[Pool, float], list[float]]
"""A scorer gives each candidate of the pool its weighted value (weight first: ``w * x / y``)."""


def cosine(pool: Pool, w: float) -> list[float]:
    """The candidate's cosine with the question (MiniLM, or multilingual for other scripts)."""
    return [w * c.dense for c in pool.cands]


def coverage(pool: Pool, w: float) -> list[float]:
    """The IDF-weighted share of the question's terms the passage contains."""
    terms = list(pool.query.search_terms)
    weights = pool.index.idf_weights(terms)
    return [w * term_coverage(terms, weights, pool.rows[c.row].text) for c in pool.cands]


def bm25(pool: Pool, w: float) -> list[float]:
    """BM25, as a share of the pool's best."""
    best = max(c.lexical for c in pool.cands) or 1.0
    return [w * c.lexical / best for c in pool.cands]


def speaker(pool: Pool, w: float) -> list[float]:
    """For "what did X say": the passage has X speaking, not merely named (the index's speakers,
    from a parse; else qa/text/attribution.py's rules)."""
    who = pool.query.speaker
    if who is None:
        return [0.0] * len(pool.cands)
    stored = pool.index.speakers([c.row for c in pool.cands], pool.rows) if pool.index is not None else {}
    return [w if (any(name_matches(n, who.surname) for names in stored[c.row] for n in names) if c.row in stored
                  else speaks_in(pool.rows[c.row], who.surname)) else 0.0 for c in pool.cands]


def maxsim(pool: Pool, w: float) -> list[float]:
    """Late interaction: each content word piece of the question takes its best cosine with a token
    of the passage; IDF-weighted mean (embeddings/token_index.py)."""
    return [w * pool.late.passage[c.row] for c in pool.cands]


def sentence_maxsim(pool: Pool, w: float) -> list[float]:
    """The same for the passage's best sentence: a passage one of whose sentences holds the whole
    question. Without sentence values the passage's MaxSim stands in (neutral, not a penalty)."""
    return [w * max(pool.late.sentences.get(c.row) or [pool.late.passage[c.row]]) for c in pool.cands]


FIRST_STAGE: tuple[tuple[str, float, Scorer], ...] = (
    ("cosine", 1.0, cosine), ("coverage", 0.5, coverage), ("bm25", 0.3, bm25), ("speaker", 0.2, speaker))
LATE_STAGE: tuple[tuple[str, float, Scorer], ...] = (("maxsim", 2.0, maxsim), ("sentence_maxsim", 1.0, sentence_maxsim))
MULTILINGUAL: tuple[tuple[str, float, Scorer], ...] = (("cosine", 1.0, cosine), ("bm25", 0.3, bm25))
"""Questions in another script: multilingual cosine and BM25 over the transliterated question."""

WEIGHTS = {name: w for name, w, _ in FIRST_STAGE + LATE_STAGE}


def stage_scores(pool: Pool, table: tuple[tuple[str, float, Scorer], ...]) -> list[float]:
    """The sum, in table order, of every scorer's weighted values."""
    total = [0.0] * len(pool.cands)
    for _, w, scorer in table:
        total = [t + v for t, v in zip(total, scorer(pool, w))]
    return total


# ---------------------------------------------------------------- late interaction


def late_query(index: IndexReader, qtokens: TokenStates | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The question's content word pieces for MaxSim and their IDF weights (see LATE_STOP); None
    without token states in the index or the question, or without content pieces."""
    if index.tokens is None or qtokens is None or qtokens.pieces is None:
        return None
    keep = [i for i, p in enumerate(qtokens.pieces) if p.isalnum() and p.lower() not in LATE_STOP]
    if not keep:
        return None
    return np.asarray(qtokens.states[keep], np.float32), index.token_idf(qtokens.ids[keep])


def late_scores(index: IndexReader, pieces: tuple[np.ndarray, np.ndarray], passages: list[PassageRow],
                starts: TokenStarts | None) -> LateScores:
    """MaxSim of the question's ``pieces`` with each passage and, given ``starts``, each sentence."""
    passage = index.tokens.maxsim(*pieces, [p.row for p in passages])
    return LateScores(passage, sentence_scores(index, pieces, passages, starts) if starts else {})


def sentence_scores(index: IndexReader, pieces: tuple[np.ndarray, np.ndarray], passages: list[PassageRow],
                    starts: TokenStarts) -> dict[int, list[float] | None]:
    """For each passage (by row), the MaxSim of the question with each of its sentences: a
    sentence's tokens are those that start in it. None for a passage whose starts are not those of
    its stored tokens."""
    q, weights = pieces
    out: dict[int, list[float] | None] = {}
    for p in passages:
        states = index.tokens.states_of(p.row)
        token_starts = starts(p)
        if not joinable(p) or len(states) != len(token_starts):
            out[p.row] = None
            continue
        # each sentence's first token: the first whose span starts at or after the sentence
        at = np.asarray(token_starts, np.int64) - (len(embed_text(p.title, p.text)) - len(p.text))
        first = np.searchsorted(at, np.cumsum([0] + [len(t) + 1 for _, _, t in p.sentences[:-1]]))
        filled = first < np.append(first[1:], len(at))  # sentences with tokens (not cut off)
        if not filled.any():
            out[p.row] = None
            continue
        # einsum, not BLAS: OpenBLAS's worker threads spin after a product and slowed the next ONNX run
        best = np.maximum.reduceat(np.einsum("td,md->tm", states, q), first[filled], axis=0)
        scores = np.full(len(p.sentences), np.nan, np.float32)
        scores[filled] = best @ weights / weights.sum()
        # a sentence past the encoder's length limit has no tokens: the passage's mean, neutral
        out[p.row] = np.where(filled, scores, np.nanmean(scores)).tolist()
    return out


def speaks_in(p: PassageRow, surname: str) -> bool:
    """Whether ``surname`` is the speaker of some sentence of passage ``p``."""
    return any(statement_flags([t for _, _, t in p.sentences], surname))
