"""BM25: our numpy-built score matrix equals bm25s's, and search ranks by it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from qa.index.bm25 import LexicalIndex
from qa.text.terms import tokenize

ROOT = Path(__file__).resolve().parents[1]


def _passages() -> list[str]:
    text = "\n".join(f.read_text(encoding="utf-8") for f in sorted((ROOT / "seeds").glob("*.txt")))
    return [p for p in text.split("\n\n") if tokenize(p)]


def _matrix(index: LexicalIndex) -> dict[tuple[str, int], float]:
    out = {}
    for term, col in index.vocab.items():
        if col + 1 >= len(index.indptr):
            continue
        lo, hi = index.indptr[col], index.indptr[col + 1]
        for row, w in zip(index.indices[lo:hi], index.data[lo:hi]):
            out[(term, int(row))] = float(w)
    return out


def test_same_scores_as_bm25s(tmp_path):
    bm25s = pytest.importorskip("bm25s")
    texts = _passages()
    assert len(texts) > 50
    LexicalIndex.build_and_save(texts, tmp_path / "ours")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    ref = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    ref.index([tokenize(t) for t in texts], show_progress=False)
    ref.save(str(tmp_path / "ref"), show_progress=False)
    ours, theirs = (_matrix(LexicalIndex.load(tmp_path / d)) for d in ("ours", "ref"))
    assert ours.keys() == theirs.keys()
    keys = sorted(ours)
    np.testing.assert_allclose([ours[k] for k in keys], [theirs[k] for k in keys], rtol=1e-5)


def test_search_and_empty_passages(tmp_path):
    texts = ["Habomai and Shikotan islands", "", "the islands of Kunashir", "Habomai Habomai fishing"]
    LexicalIndex.build_and_save(texts, tmp_path / "bm25")
    index = LexicalIndex.load(tmp_path / "bm25")
    rows, scores = index.search("Habomai", 10)
    assert rows.tolist() == [3, 0]  # two occurrences in a short passage beat one
    assert (scores > 0).all()
    assert index.search("nothing known", 10)[0].size == 0
    assert index.num_docs == 4


def test_empty_corpus(tmp_path):
    LexicalIndex.build_and_save([], tmp_path / "bm25")
    assert LexicalIndex.load(tmp_path / "bm25").search("anything", 5)[0].size == 0


def test_question_function_words_do_not_score(tmp_path):
    from qa.text.terms import query_tokens

    assert query_tokens("What does Moscow insist Japan must accept before talks can go on?") == [
        "moscow", "insist", "japan", "must", "accept", "talk", "go"]
    assert "what" in tokenize("What does Moscow insist") and "doe" in tokenize("What does Moscow insist")
    texts = ["What it does before the talks can start is what matters, does it not?",
             "Moscow insists that Japan accept the outcome of the war."]
    LexicalIndex.build_and_save(texts, tmp_path / "bm25")
    index = LexicalIndex.load(tmp_path / "bm25")
    rows, scores = index.search("What does Moscow insist Japan must accept before talks can go on?", 2)
    assert rows.tolist() == [1, 0] and scores[1] == pytest.approx(float(index.scores("talks")[0]))
