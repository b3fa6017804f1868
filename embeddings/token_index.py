"""Token states of every passage, for late-interaction scoring (MaxSim).

The encoder's last layer gives one contextual vector per word piece; the passage
vector is their mean (with [CLS] and [SEP], which are not kept here). Kept per
token, they let a question word find the passage word that means the same in
context ("loosened" ~ "eased", "insist" ~ "demands"), which the single pooled
vector blurs: in a collection about one topic every passage's pooled vector is
close to every question's. The score of a passage is the weighted mean, over the
question's word pieces, of each one's best cosine with a passage token (ColBERT's
MaxSim, here zero-shot on the sentence encoder's states).

Storage (folder ``tokens/`` of an index version, memory-mapped when read): token
states as int8 with one float16 scale per token (a quarter of float32's size;
cosines change by < 0.01), ``offsets`` delimiting each passage's tokens, the word-
piece ``ids`` and their passage frequencies ``df`` (for IDF weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class TokenStates:
    """One text's word pieces (special tokens removed) and their L2-normalised states."""

    ids: np.ndarray  # int32 [t]
    states: np.ndarray  # float32 [t, dim]
    pieces: list[str] | None = None  # the word pieces as text (read for questions; not stored)


@dataclass
class Quantized:
    """Token states stored as int8 rows, each with its own scale."""

    ids: np.ndarray  # int32 [t]
    q: np.ndarray  # int8 [t, dim]
    scale: np.ndarray  # float16 [t]

    @classmethod
    def of(cls, tokens: TokenStates) -> Quantized:
        s = np.asarray(tokens.states, np.float32)
        peak = np.abs(s).max(axis=1) if len(s) else np.zeros(0, np.float32)
        scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float16)
        q = np.rint(s / scale.astype(np.float32)[:, None]).clip(-127, 127).astype(np.int8)
        return cls(np.asarray(tokens.ids, np.int32), q, scale)


def save(folder: Path, items: list[Quantized], dim: int) -> None:
    """Write the token states of passages ``0..n-1`` (``items[i]`` is passage ``i``), row
    by row into memory-mapped files, so a large index is never held in memory twice."""
    folder.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(it.ids) for it in items], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    total = int(offsets[-1])
    q = np.lib.format.open_memmap(folder / "states.npy", mode="w+", dtype=np.int8, shape=(total, dim))
    scale = np.lib.format.open_memmap(folder / "scales.npy", mode="w+", dtype=np.float16, shape=(total,))
    ids = np.lib.format.open_memmap(folder / "ids.npy", mode="w+", dtype=np.int32, shape=(total,))
    vocab = max((int(it.ids.max()) + 1 for it in items if len(it.ids)), default=0)
    df = np.zeros(vocab, np.int32)
    for it, a, b in zip(items, offsets[:-1], offsets[1:]):
        q[a:b], scale[a:b], ids[a:b] = it.q, it.scale, it.ids
        df[np.unique(it.ids)] += 1
    for m in (q, scale, ids):
        m.flush()
    del q, scale, ids
    np.save(folder / "offsets.npy", offsets)
    np.save(folder / "df.npy", df)


class TokenIndex:
    """Read side: the token states of one index version."""

    def __init__(self, folder: Path) -> None:
        self.states = np.load(folder / "states.npy", mmap_mode="r")
        self.scales = np.load(folder / "scales.npy", mmap_mode="r")
        self.offsets = np.load(folder / "offsets.npy", mmap_mode="r")
        self.ids = np.load(folder / "ids.npy", mmap_mode="r")
        self.df = np.load(folder / "df.npy")
        offsets = np.asarray(self.offsets)
        if (self.states.ndim != 2 or len(offsets) == 0 or offsets[0] != 0 or np.any(np.diff(offsets) < 0)
                or not len(self.states) == len(self.scales) == len(self.ids) == int(offsets[-1])):
            raise ValueError(f"token states in {folder} are inconsistent")

    @classmethod
    def from_arrays(cls, states: np.ndarray, scales: np.ndarray, offsets: np.ndarray, ids: np.ndarray,
                    df: np.ndarray) -> TokenIndex:
        """A token index over arrays already in memory (a remote store's passages, fetched)."""
        index = cls.__new__(cls)
        index.states, index.scales, index.offsets, index.ids, index.df = states, scales, offsets, ids, df
        return index

    @property
    def dim(self) -> int:
        """Dimension of the stored states."""
        return int(self.states.shape[1])

    @property
    def size(self) -> int:
        """Number of passages."""
        return len(self.offsets) - 1

    def passage(self, row: int) -> Quantized:
        """The stored states of passage ``row`` (to reuse them in a rebuild; views of the
        memory-mapped files, not copies)."""
        a, b = int(self.offsets[row]), int(self.offsets[row + 1])
        return Quantized(self.ids[a:b], self.states[a:b], self.scales[a:b])

    def states_of(self, row: int) -> np.ndarray:
        """Passage ``row``'s token states as float32 (unit rows, to quantisation error)."""
        p = self.passage(row)
        return np.asarray(p.q, np.float32) * np.asarray(p.scale, np.float32)[:, None]

    def doc_frequency(self, ids: np.ndarray) -> np.ndarray:
        """In how many passages each word piece occurs."""
        ids = np.asarray(ids, np.int64)
        inside = ids < len(self.df)
        out = np.zeros(len(ids), np.int64)
        out[inside] = self.df[ids[inside]]
        return out

    def maxsim(self, query: np.ndarray, weights: np.ndarray, rows: list[int]) -> dict[int, float]:
        """Weighted mean over the query tokens of their best cosine with a token of each row."""
        w = np.asarray(weights, np.float32)
        total = float(w.sum())
        spans = [(int(self.offsets[r]), int(self.offsets[r + 1])) for r in rows]
        filled = [i for i, (a, b) in enumerate(spans) if b > a]
        out = dict.fromkeys(rows, 0.0)
        if not filled or total <= 0:
            return out
        # One product over all the rows' tokens, then the max within each row's span. einsum, not
        # `@`: BLAS's worker threads keep spinning after a product and halved the speed of the
        # next question's ONNX run on 2 cores; at this size einsum costs ~1 ms.
        take = np.concatenate([np.arange(*spans[i]) for i in filled])
        sims = np.einsum("td,md->tm", np.asarray(self.states[take], np.float32), np.asarray(query, np.float32))
        sims *= np.asarray(self.scales[take], np.float32)[:, None]
        starts = np.cumsum([0] + [spans[i][1] - spans[i][0] for i in filled[:-1]])
        best = np.maximum.reduceat(sims, starts, axis=0) @ w / total
        for i, score in zip(filled, best.tolist()):
            out[rows[i]] = score
        return out
