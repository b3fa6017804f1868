"""FAISS wrapper: flat below HNSW_MIN, HNSW with a build-time efSearch check, memory-mapped loads."""

from __future__ import annotations

import numpy as np

from embeddings import vector_index


def _clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n // 20, dim))
    x = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_hnsw_calibrates_ef_and_keeps_it_through_save_and_mmap_load(tmp_path, monkeypatch):
    x = _clustered(4000)
    index = vector_index.build(x, kind="hnsw")
    assert index.ntotal == len(x)
    ef = index.hnsw.efSearch
    assert ef in vector_index.EF_STEPS
    vector_index.save(index, tmp_path / "v.faiss")
    monkeypatch.delenv("QA_HNSW_EF", raising=False)
    loaded = vector_index.load(tmp_path / "v.faiss")
    assert loaded.hnsw.efSearch == ef
    # Row i is vector i, and the calibrated graph finds most of the exact neighbours of new points.
    _, rows = vector_index.search(loaded, x[:50], 1)
    assert (rows[:, 0] == np.arange(50)).mean() >= 0.95
    queries = _clustered(200, seed=1)
    _, found = vector_index.search(loaded, queries, 10)
    _, exact = vector_index.search(vector_index.build(x, kind="flat"), queries, 10)
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])
    assert recall >= 0.9
    np.testing.assert_array_equal(vector_index.reconstruct_all(loaded), x)
    monkeypatch.setenv("QA_HNSW_EF", "300")
    assert vector_index.load(tmp_path / "v.faiss").hnsw.efSearch == 300


def test_calibration_raises_ef_when_the_target_is_hard(monkeypatch):
    x = _clustered(4000)
    monkeypatch.setattr(vector_index, "RECALL_TARGET", 1.01)  # unreachable: the largest step
    assert vector_index.build(x, kind="hnsw").hnsw.efSearch == vector_index.EF_STEPS[-1]
    monkeypatch.setattr(vector_index, "RECALL_TARGET", 0.0)  # met at once: the smallest
    assert vector_index.build(x, kind="hnsw").hnsw.efSearch == vector_index.EF_STEPS[0]


def test_flat_index_loads_memory_mapped(tmp_path):
    x = _clustered(300)
    vector_index.save(vector_index.build(x), tmp_path / "f.faiss")
    index = vector_index.load(tmp_path / "f.faiss")
    assert not hasattr(index, "hnsw")
    scores, rows = vector_index.search(index, x[7], 3)
    assert rows[0][0] == 7 and abs(scores[0][0] - 1.0) < 1e-5
