"""BM25 over passages (Lucene variant, k1=1.2, b=0.75), on the terms of ``qa.text.terms``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qa import progress as bars
from qa.text.terms import query_tokens, tokenize

K1 = 1.2
B = 0.75


class LexicalIndex:
    """BM25 over passage rows ``0..n-1``.

    Stored as bm25s stores it (CSC: one column of precomputed BM25 weights per
    term), built and queried with plain numpy, so neither path imports bm25s,
    scipy or numba.
    """

    def __init__(self, vocab: dict[str, int], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                 num_docs: int) -> None:
        self.vocab = vocab
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.num_docs = num_docs

    @staticmethod
    def build_and_save(texts: list[str], folder: Path, progress: bool = False) -> None:
        """Index ``texts`` (Lucene BM25, k1 1.2, b 0.75) into ``folder`` in bm25s's file format.

        The score matrix is built with numpy (a test checks it equals bm25s's): importing
        bm25s costs 0.6-1 s of scipy/numba imports on every build, more than the work itself.
        """
        docs = [tokenize(t) for t in bars.track(texts, "BM25", "passage", progress)]
        vocab = {t: i for i, t in enumerate(sorted({t for d in docs for t in d}))}
        n = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float32)
        term = np.fromiter((vocab[t] for d in docs for t in d), dtype=np.int64, count=int(lengths.sum()))
        doc = np.repeat(np.arange(n, dtype=np.int64), lengths.astype(np.int64))
        # (term, doc) pairs sorted by term then doc: exactly the CSC order, one column per term.
        stride = max(n, 1)
        pairs, tf = np.unique(term * stride + doc, return_counts=True)
        cols, rows = pairs // stride, pairs % stride
        df = np.bincount(cols, minlength=len(vocab))
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avg = lengths.mean() if n else 1.0
        tf = tf.astype(np.float32)
        data = idf[cols] * tf / (K1 * ((1 - B) + B * lengths[rows] / avg) + tf)
        indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "data.csc.index.npy", data.astype(np.float32))
        np.save(folder / "indices.csc.index.npy", rows.astype(np.int32))
        np.save(folder / "indptr.csc.index.npy", indptr)
        (folder / "vocab.index.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        params = {"k1": K1, "b": B, "method": "lucene", "idf_method": "lucene", "dtype": "float32",
                  "int_dtype": "int32", "num_docs": n, "builder": "qa.text.terms"}
        (folder / "params.index.json").write_text(json.dumps(params, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> LexicalIndex:
        """Read an index saved by :meth:`build_and_save`."""
        mode = "r" if mmap else None
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        arrays = [np.load(folder / f"{name}.csc.index.npy", mmap_mode=mode) for name in ("data", "indices", "indptr")]
        # One CSC column per term (bm25s's extra empty token "" may have none).
        if params.get("method") != "lucene" or len(arrays[2]) not in (len(vocab), len(vocab) + 1):
            raise ValueError(f"unexpected BM25 index in {folder}")
        return cls(vocab, *arrays, num_docs=int(params["num_docs"]))

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every passage for ``query`` (None when no query term is known)."""
        columns = len(self.indptr) - 1
        ids = [i for i in (self.vocab.get(t) for t in query_tokens(query)) if i is not None and i < columns]
        if not ids or self.num_docs == 0:
            return None
        rows = [self.indices[self.indptr[i] : self.indptr[i + 1]] for i in ids]
        weights = [self.data[self.indptr[i] : self.indptr[i + 1]] for i in ids]
        return np.bincount(np.concatenate(rows), weights=np.concatenate(weights), minlength=self.num_docs)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (rows, scores) for ``query``; empty when no query term is known. ``allowed``: a
        mask of the rows that may be returned."""
        scores = self.scores(query)
        if scores is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        k = min(k, self.num_docs)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        keep = scores[top] > 0
        return top[keep].astype(np.int64), scores[top][keep].astype(np.float32)
