"""Retrieval: a parsed ``Query`` in, ranked ``Candidate`` passages out.

Every path draws dense and/or BM25 candidates from the index, fuses them (``qa/search/fusion.py``)
and, in the default mode, reranks them with the table of ``qa/search/scorers.py``. Questions in another
script (when the index has multilingual vectors) take the multilingual path whatever the mode,
except ``bm25``, which matches the transliterated question. Nothing here changes a candidate:
each step returns new ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from qa.index.passages import Candidate, draw, fold_overlaps, to_hit
from qa.index.reader import IndexReader
from qa.index.where import Where
from qa.question.query import Query
from qa.search.fusion import fuse
from qa.search.scorers import (
    FIRST_STAGE,
    LATE_DEPTH,
    LATE_STAGE,
    MULTILINGUAL,
    RERANK_DEPTH,
    Pool,
    TokenStarts,
    late_query,
    late_scores,
    stage_scores,
)
from qa.types import Hit

CANDIDATES = 50  # each retriever's list is at least this deep


class Mode(StrEnum):
    """How ``qa search --mode`` ranks (the CLI's choices are these values)."""

    RERANK = "rerank"
    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"


@dataclass(frozen=True)
class Path:
    """What a mode draws and how it fuses: the dense list, the BM25 list, the fusion method."""

    dense: bool
    lexical: bool
    fusion: str


PATHS = {Mode.HYBRID: Path(True, True, "rrf"), Mode.DENSE: Path(True, False, "dense"),
         Mode.BM25: Path(False, True, "lexical")}


def multilingual(index: IndexReader, query: Query) -> bool:
    """Whether ``query`` takes the multilingual path (another script, and vectors for it)."""
    return query.foreign and index.has_multilingual


def retrieve(index: IndexReader, query: Query, k: int, mode: Mode = Mode.RERANK,
             starts: TokenStarts | None = None, where: Where | None = None) -> list[Candidate]:
    """The top ``k`` passages for ``query`` (``starts``: see :func:`qa.search.scorers.sentence_scores`;
    ``where``: only from the articles it admits, a filter the index applies as it searches)."""
    if mode is not Mode.BM25 and multilingual(index, query):
        return _multilingual(index, query, k, where)
    if mode is Mode.BM25:  # names are what BM25 can match in a question in another script: Лавров -> Lavrov
        return _fused(index, query.latin, None, k, PATHS[mode], where=where)
    if mode is not Mode.RERANK:
        return _fused(index, query.text, query.vector, k, PATHS[mode], where=where)
    # Rerank the RRF top 2*RERANK_DEPTH drawn from each retriever's top 2*RERANK_DEPTH: deep enough
    # that a passage only one retriever ranks first is not lost to RRF's preference for passages in
    # both lists. Asked for more, the rest of the fused list follows them, reordered by the same
    # score without MaxSim: the top never depends on k.
    pool = _fused(index, query.text, query.vector, 2 * RERANK_DEPTH, PATHS[Mode.HYBRID], RERANK_DEPTH, where)
    ranked = rerank(index, query, pool, starts, late=True)
    if k > len(ranked):
        have = {c.row for c in ranked}
        rest = [c for c in _fused(index, query.text, query.vector, k, PATHS[Mode.HYBRID], where=where)
                if c.row not in have]
        ranked += rerank(index, query, rest, late=False)
    return ranked[:k]


def _fused(index: IndexReader, text: str, qvec, k: int, path: Path, candidates: int = CANDIDATES,
           where: Where | None = None) -> list[Candidate]:
    """The top ``k`` of the fused lists, each ``max(k, candidates)`` deep; a lexical candidate
    gets its exact cosine when the question has a vector."""
    n = max(k, candidates)
    dense = index.dense(qvec, n, where) if qvec is not None and path.dense else []
    lexical = index.bm25(text, n, where) if path.lexical else []
    fused = fuse(dense, lexical, path.fusion)
    cos = dict(dense)
    if path.lexical and qvec is not None:
        missing = [r for r in fused if r not in cos]
        if missing:
            cos.update(index.cosines(qvec, missing))
    lex = dict(lexical)
    order = sorted(fused, key=lambda r: (-fused[r], r))[:k]
    return [Candidate(r, fused[r], cos.get(r, 0.0), lex.get(r, 0.0)) for r in order]


def _multilingual(index: IndexReader, query: Query, k: int, where: Where | None = None) -> list[Candidate]:
    """A question not in English: multilingual vectors fused with BM25 over the transliterated
    question (names: Лавров -> Lavrov), scored by the MULTILINGUAL table."""
    n = max(CANDIDATES, k)
    dense = index.dense_ml(query.ml_vector, n, where)
    lexical = index.bm25(query.latin, n, where)
    fused = fuse(dense, lexical, "rrf")
    cos = dict(dense)
    missing = [r for r in fused if r not in cos]
    if missing:
        cos.update(index.ml_cosines(query.ml_vector, missing))
    lex = dict(lexical)
    cands = [Candidate(r, 0.0, cos[r], lex.get(r, 0.0)) for r in fused]
    pool = Pool(query, index, cands, {})
    scored = [replace(c, score=s) for c, s in zip(cands, stage_scores(pool, MULTILINGUAL))]
    return sorted(scored, key=lambda c: (-c.score, c.row))[:k]


def rerank(index: IndexReader, query: Query, cands: list[Candidate], starts: TokenStarts | None = None,
           late: bool = True) -> list[Candidate]:
    """``cands`` reordered by the first-stage scorers and, with ``late`` where the index and the
    question have token states, the late stage for the best LATE_DEPTH (which then carry their
    sentences' MaxSim, for the answer layer)."""
    if not cands:
        return cands
    pool = Pool(query, index, cands, index.passages([c.row for c in cands]))
    first = [replace(c, score=s) for c, s in zip(cands, stage_scores(pool, FIRST_STAGE))]
    first.sort(key=lambda c: (-c.score, c.row))
    pieces = late_query(index, query.tokens) if late else None
    if pieces is None:
        return first
    top = first[:LATE_DEPTH]
    scores = late_scores(index, pieces, [pool.rows[c.row] for c in top], starts)
    top_pool = Pool(query, index, top, pool.rows, scores)
    top = [replace(c, score=c.score + s, sentence_late=_tuple(scores.sentences.get(c.row)))
           for c, s in zip(top, stage_scores(top_pool, LATE_STAGE))]
    return sorted(top, key=lambda c: (-c.score, c.row)) + first[LATE_DEPTH:]


def _tuple(values: list[float] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(values)


def hits(index: IndexReader, cands: list[Candidate], k: int) -> list[Hit]:
    """The top ``k`` results, overlapping passages folded into one (each with its best score)."""
    rows = index.passages([c.row for c in cands])
    folded = fold_overlaps([rows[c.row] for c in cands])[:k]
    return [to_hit(p, rank, cands[first].score) for rank, (p, first) in enumerate(folded, 1)]


__all__ = ["CANDIDATES", "Mode", "draw", "hits", "multilingual", "rerank", "retrieve"]
