"""The terms BM25 and coverage compare: English stop words (bm25s's lists) and Snowball stemming.

Tokenisation is the one that reaches Anserini's BM25 figure on BEIR SciFact: lower-cased word
tokens of two or more characters, English stop words removed, Snowball-stemmed. The BM25 index
itself is ``qa.index.bm25``.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

from qa.text.words import QUESTION_WORDS

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=2)
def _stopwords(name: str = "STOPWORDS_EN") -> frozenset[str]:
    """One of bm25s's English stop-word lists, read without importing bm25s (which pulls scipy and
    numba): ``STOPWORDS_EN`` (Lucene's 33 words) or ``STOPWORDS_EN_PLUS`` (NLTK's 179)."""
    import importlib.util

    spec = importlib.util.find_spec("bm25s")
    path = Path(spec.submodule_search_locations[0]) / "stopwords.py"
    module_spec = importlib.util.spec_from_file_location("_bm25s_stopwords", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return frozenset(getattr(module, name))


def tokenize(text: str, stop: frozenset[str] | None = None) -> list[str]:
    """Stemmed content tokens of ``text`` (``stop`` words, by default Lucene's, removed)."""
    stop = _stopwords() if stop is None else stop
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words) if words else []


def query_tokens(query: str) -> list[str]:
    """A query's terms for BM25 and coverage: as :func:`tokenize`, less the longer (NLTK) list of
    function words. Passages keep Lucene's short list (BM25 as Anserini scores it), but in a
    question "what", "does", "can" or "before" only match passages that happen to use them, and as
    rare passage words they would weigh more than the question's content."""
    return tokenize(query, _query_stopwords())


@lru_cache(maxsize=1)
def _query_stopwords() -> frozenset[str]:
    return _stopwords("STOPWORDS_EN_PLUS") | _stopwords()


_QUESTION_WORDS = " ".join(QUESTION_WORDS) + (
    " did does do say said says tell told think thought "
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
