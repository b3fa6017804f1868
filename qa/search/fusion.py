"""Fusing ranked lists: one function for every retrieval path."""

from __future__ import annotations

RRF_K = 60


def rrf(rankings: list[list[int]], weights: list[float] | None = None, k: int = RRF_K) -> dict[int, float]:
    """Reciprocal rank fusion of several ranked lists of rows."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, row in enumerate(ranking):
            fused[row] = fused.get(row, 0.0) + w / (k + rank + 1)
    return fused


def fuse(dense: list[tuple[int, float]], lexical: list[tuple[int, float]], method: str) -> dict[int, float]:
    """One score per row from a dense and a lexical list of (row, score), best first: ``"rrf"``
    (reciprocal rank fusion of the two), ``"dense"`` or ``"lexical"`` (that list's own scores)."""
    if method == "rrf":
        return rrf([[r for r, _ in dense], [r for r, _ in lexical]])
    return dict(dense if method == "dense" else lexical)
