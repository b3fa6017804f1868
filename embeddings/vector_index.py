"""FAISS index over normalised vectors (inner product = cosine).

Small collections use an exact flat index; large ones (``HNSW_MIN`` vectors or
more) an HNSW graph, whose recall against exact search is measured in
``benchmarks/``. Row ``i`` of the index is passage ``i`` of the store.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

HNSW_MIN = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


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
    if len(vectors):
        index.add(vectors)
    return index


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, rows) per query; rows are -1 where fewer exist."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    if index.ntotal == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    return index.search(queries, k)


def save(index, path: Path) -> None:
    """Write the index to ``path``."""
    _faiss().write_index(index, str(path))


def load(path: Path, mmap: bool = True):
    """Read an index, memory-mapped where FAISS allows it."""
    faiss = _faiss()
    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
    try:
        index = faiss.read_index(str(path), flags)
    except RuntimeError:
        index = faiss.read_index(str(path))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = int(os.environ.get("QA_HNSW_EF", HNSW_EF_SEARCH))
    return index


def reconstruct_all(index) -> np.ndarray:
    """All stored vectors (flat and HNSW-flat indexes store them exactly)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)
