"""BM25 over passages with bm25s: English stop words and Snowball stemming.

Tokenisation is the one that reaches Anserini's BM25 figure on BEIR SciFact
(see README): lower-cased word tokens of two or more characters, English stop
words removed, Snowball-stemmed; parameters k1=1.2, b=0.75 (Lucene variant).
"""

from __future__ import annotations

import logging
import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

logging.getLogger("bm25s").setLevel(logging.WARNING)

K1 = 1.2
B = 0.75
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Stemmed content tokens of ``text`` (stop words removed)."""
    stop = _stopwords()
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words) if words else []


class LexicalIndex:
    """A bm25s index whose documents are passage rows ``0..n-1``."""

    def __init__(self, bm25) -> None:
        self.bm25 = bm25

    @classmethod
    def build(cls, texts: list[str], progress: bool = False) -> LexicalIndex:
        import bm25s

        bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        corpus = [tokenize(t) or [""] for t in texts]
        bm25.index(corpus, show_progress=progress)
        return cls(bm25)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(folder), mmap=mmap))

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (rows, scores) for ``query``; empty when no query term is known."""
        vocab = self.bm25.vocab_dict
        toks = [t for t in tokenize(query) if t in vocab]
        n = self.bm25.scores["num_docs"]
        if not toks or n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids = [vocab[t] for t in toks]
        scores = self.bm25.get_scores_from_ids(ids)
        k = min(k, n)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        keep = scores[top] > 0
        return top[keep].astype(np.int64), scores[top][keep].astype(np.float32)


_QUESTION_WORDS = (
    "what which who whom whose when where why how did does do say said says tell told think thought "
    "mean happen happened according article articles news report reported reports question questions "
    "now currently current latest new recent today present describe explain give list name kind")


@lru_cache(maxsize=1)
def _question_stems() -> frozenset[str]:
    return frozenset(tokenize(_QUESTION_WORDS))


def question_terms(question: str) -> list[str]:
    """The question's content terms (stemmed, without question words)."""
    seen: list[str] = []
    for t in tokenize(question):
        if t not in _question_stems() and t not in seen:
            seen.append(t)
    return seen


def idf(df: int, n: int) -> float:
    """BM25-style inverse document frequency (never negative)."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def coverage(terms: list[str], weights: dict[str, float], text: str) -> float:
    """Share of the terms' IDF weight that occurs in ``text``."""
    if not terms:
        return 0.0
    present = set(tokenize(text))
    total = sum(weights.get(t, 0.0) for t in terms)
    if total <= 0:
        return 0.0
    return sum(weights.get(t, 0.0) for t in terms if t in present) / total
