"""FAISS index over normalised vectors (inner product = cosine).

Small collections use an exact flat index; large ones (``HNSW_MIN`` vectors or
more) an HNSW graph. The graph's search depth (efSearch) is chosen when it is
built: the smallest that finds ``RECALL_TARGET`` of the exact top 10 for the last
``CALIBRATION_QUERIES`` vectors, searched before they are added; it is saved in the
index file. Recall and latency on other held-out queries are measured in
``benchmarks/bench_scale.py`` (1M vectors: efConstruction 80 needed efSearch 1024
for recall 0.97, efConstruction 200 needs ~384).

Files are memory-mapped (FAISS's ``IO_FLAG_MMAP_IFC``: vectors and graph stay in
the page cache), so opening a 1M index takes milliseconds and little private memory.
Row ``i`` of the index is passage ``i`` of the store.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

HNSW_MIN = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 96  # starting point; build() raises it until the recall check passes
EF_STEPS = (96, 128, 192, 256, 384, 512, 768, 1024)
RECALL_TARGET = 0.97  # at build time; the benchmark's target is 0.95 on other held-out queries
CALIBRATION_QUERIES = 500


def _faiss():
    import faiss

    return faiss


def build(vectors: np.ndarray, kind: str = "auto"):
    """A FAISS index holding ``vectors`` (rows must be L2-normalised float32)."""
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if kind == "auto":
        kind = "hnsw" if len(vectors) >= HNSW_MIN else "flat"
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    held_out = CALIBRATION_QUERIES if kind == "hnsw" and len(vectors) >= 4 * CALIBRATION_QUERIES else 0
    if held_out:  # the last rows are added after the recall check, which uses them as new questions
        index.add(vectors[:-held_out])
        index.hnsw.efSearch = calibrate_ef(index, vectors[:-held_out], vectors[-held_out:])
        index.add(vectors[-held_out:])
    elif len(vectors):
        index.add(vectors)
    return index


def calibrate_ef(index, base: np.ndarray, queries: np.ndarray, k: int = 10) -> int:
    """The smallest efSearch in ``EF_STEPS`` whose top-``k`` holds ``RECALL_TARGET`` of the exact top-``k``.

    ``index`` holds ``base``; ``queries`` are vectors it does not hold (measured: a stored
    vector's own neighbours are found far more easily than a new question's).
    """
    faiss = _faiss()
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    _, exact = faiss.knn(queries, base, k, metric=faiss.METRIC_INNER_PRODUCT)
    for ef in EF_STEPS:
        index.hnsw.efSearch = ef
        _, found = index.search(queries, k)
        recall = np.mean([len(set(f) & set(t)) / k for f, t in zip(found, exact)])
        if recall >= RECALL_TARGET:
            return ef
    return EF_STEPS[-1]


def search(index, queries: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, rows) per query; rows are -1 where fewer exist. ``rows``: search only these."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    if index.ntotal == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    if rows is None:
        return index.search(queries, k)
    faiss = _faiss()
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(rows, dtype=np.int64))
    if hasattr(index, "hnsw"):
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
    else:
        params = faiss.SearchParameters(sel=selector)
    return index.search(queries, k, params=params)


def save(index, path: Path) -> None:
    """Write the index to ``path``."""
    _faiss().write_index(index, str(path))


def load(path: Path, mmap: bool = True):
    """Read an index, memory-mapped where FAISS allows it (``QA_HNSW_EF`` overrides the saved efSearch)."""
    faiss = _faiss()
    ro = faiss.IO_FLAG_READ_ONLY
    tries = [faiss.IO_FLAG_MMAP_IFC | ro, faiss.IO_FLAG_MMAP | ro] if mmap else []
    for flags in [*tries, 0]:
        try:
            index = faiss.read_index(str(path), flags)
            break
        except RuntimeError:
            if not flags:
                raise
    if hasattr(index, "hnsw") and os.environ.get("QA_HNSW_EF"):
        index.hnsw.efSearch = int(os.environ["QA_HNSW_EF"])
    return index


def reconstruct_all(index) -> np.ndarray:
    """All stored vectors (flat and HNSW-flat indexes store them exactly)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)
