"""Shared fixtures: a fast deterministic encoder so most tests need no model."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


class HashEncoder:
    """Bag-of-words vectors from hashed tokens: similar words give similar vectors."""

    name = "hash-test"
    dim = 64

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int(hashlib.md5(w.strip(".,\"'“”?!").encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
        return out


class TokenHashEncoder(HashEncoder):
    """HashEncoder that also gives token states: one hashed one-hot state per word."""

    name = "hash-token-test"
    token_states = True

    @staticmethod
    def _words(text: str) -> list[tuple[int, int, str]]:
        """Each word's span (punctuation stripped) and lower-cased text."""
        out = []
        for m in re.finditer(r"\S+", text):
            word = m.group().strip(".,\"'“”?!")
            if word:
                start = m.start() + m.group().index(word)
                out.append((start, start + len(word), word.lower()))
        return out

    def encode_tokens(self, texts: list[str], batch_size: int = 32, progress: bool = False):
        from embeddings.token_index import TokenStates

        states = []
        for t in texts:
            words = [w for _, _, w in self._words(t)]
            ids = np.array([int(hashlib.md5(w.encode()).hexdigest(), 16) % 5000 for w in words], np.int32)
            s = np.zeros((len(words), self.dim), np.float32)
            s[np.arange(len(words)), ids % self.dim] = 1.0
            states.append(TokenStates(ids, s, words))
        return self.encode(texts), states

    def token_spans(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        return [[(a, b) for a, b, _ in self._words(t)] for t in texts]


def _use_encoder(monkeypatch, enc):
    monkeypatch.setenv("QA_MULTILINGUAL", "0")  # fast tests: no multilingual vectors
    monkeypatch.setenv("QA_READER", "0")  # ... and the rules' answers (the reader's tests use a fake model)
    import embeddings.model
    import qa.index.build

    monkeypatch.setattr(qa.index.build, "load_encoder", lambda *a, **k: enc)
    monkeypatch.setattr(embeddings.model, "load_encoder", lambda *a, **k: enc)
    return enc


@pytest.fixture
def token_encoder(monkeypatch):
    """Like ``hash_encoder``, with token states (the late-interaction path)."""
    return _use_encoder(monkeypatch, TokenHashEncoder())


@pytest.fixture
def hash_encoder(monkeypatch):
    """Replace the real model with HashEncoder everywhere the code loads one."""
    return _use_encoder(monkeypatch, HashEncoder())


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("QA_CACHE_DIR", str(d))
    return d


@pytest.fixture
def seeds_copy(tmp_path):
    """A writable copy of the seed articles."""
    d = tmp_path / "seeds"
    shutil.copytree(SEEDS, d)
    return d
