"""BM25 as sparse vectors, and the exact scores of the files backend.

A passage's vector holds, per term, BM25's term-frequency part ``tf / (k1 (1 - b + b len/avgdl) + tf)``;
a query's holds each term's IDF (times its count in the query), so their inner product is the BM25
score with the IDF of the version searched: the statistics a build changes (document count and
frequencies) are read at query time. ``avgdl`` is the build's that wrote the passage; a full build
writes all with one. Terms are hashed to 31-bit ids (no vocabulary to keep in step).

Milvus finds the candidates; their scores are then computed here from their text exactly as
``qa.index.bm25.LexicalIndex`` computes them (same float32 steps, same float64 sum in query order),
and ranked as it ranks them (:func:`rank`), so both backends hand retrieval the same numbers.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from qa.index.bm25 import K1, B
from qa.text.terms import query_tokens, tokenize


def term_id(term: str) -> int:
    """A term's sparse dimension."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little") & 0x7FFFFFFF


def passage_vector(tokens: list[str], avgdl: float) -> dict[int, float]:
    """The term-frequency part of BM25 for each term of a passage (empty passages get one zero-free
    placeholder dimension: Milvus refuses empty sparse vectors)."""
    if not tokens:
        return {0: 1e-12}
    length = len(tokens)
    out: dict[int, float] = {}
    for term, tf in Counter(tokens).items():
        w = tf / (K1 * ((1 - B) + B * length / avgdl) + tf)
        key = term_id(term)
        out[key] = out.get(key, 0.0) + w
    return out


@dataclass
class Bm25Stats:
    """A version's BM25 statistics: passages, mean length (float32, as the files compute it), and the
    passage frequency of each term."""

    n: int
    avgdl: float
    df: dict[str, int]

    def __post_init__(self) -> None:
        terms = sorted(self.df)
        counts = np.array([self.df[t] for t in terms], dtype=np.int64)
        # The files' expression over the same sorted array: the same float32 IDF values.
        idf = np.log1p((self.n - counts + 0.5) / (counts + 0.5)).astype(np.float32)
        self.idf32 = dict(zip(terms, idf))

    def query_terms(self, query: str) -> list[str]:
        """The query's terms that some passage holds, in order, repeats kept (as the files sum them)."""
        return [t for t in query_tokens(query) if t in self.idf32]

    def query_vector(self, terms: list[str]) -> dict[int, float]:
        out: dict[int, float] = {}
        for t in terms:
            key = term_id(t)
            out[key] = out.get(key, 0.0) + float(self.idf32[t])
        return out

    def score(self, terms: list[str], text: str) -> float:
        """The files backend's BM25 score of ``text`` (a passage's embedded text) for ``terms``: the
        float64 sum it ranks by (it reports it as float32)."""
        tokens = tokenize(text)
        counts = Counter(tokens)
        length = np.float32(len(tokens))
        avg = np.float32(self.avgdl)
        total = 0.0
        for t in terms:
            tf = counts.get(t, 0)
            if not tf:
                continue
            tf32 = np.float32(tf)
            w = self.idf32[t] * tf32 / (np.float32(K1) * (np.float32(1 - B) + np.float32(B) * length / avg) + tf32)
            total += float(w)
        return total


TIES_EXACT_MAX = 200_000  # rows up to which ranking copies the files' order of equal scores


def rank(scored: list[tuple[int, float]], k: int, rows: int, complete: bool) -> list[tuple[int, float]]:
    """The ``k`` best of ``scored`` (row, float64 score): (row, float32 score), best first, zeros
    dropped. When ``scored`` holds every matching row (``complete``) of a build whose rows are
    ``0..rows-1``, the order is the files': numpy's partition of the same score array, which also
    orders equal scores; otherwise equal scores go by row."""
    if complete and 0 < rows <= TIES_EXACT_MAX and all(r < rows for r, _ in scored):
        scores = np.zeros(rows)
        for r, s in scored:
            scores[r] = s
        k = min(k, rows)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(r), float(np.float32(scores[r]))) for r in top if scores[r] > 0]
    best = sorted(((r, s) for r, s in scored if s > 0), key=lambda x: (-x[1], x[0]))[:k]
    return [(r, float(np.float32(s))) for r, s in best]
