"""Embedding cache keyed by content hash, so a rebuild re-embeds only new text.

It holds each text's vector and, for encoders that give them, its token states.

One SQLite file per model fingerprint under the cache directory; a corrupt or
unreadable cache is set aside and started afresh (it only saves time).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
from pathlib import Path

import numpy as np

from embeddings.token_index import Quantized

log = logging.getLogger(__name__)


def text_key(text: str) -> str:
    """The cache key of a text (sha1 of its UTF-8 bytes)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """``text -> vector`` (and ``text -> token states``) for one model."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as exc:
            log.warning("embedding cache %s unreadable (%s); starting a new one", path, exc)
            path.replace(path.with_suffix(".corrupt"))
            self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        self._create(db)
        db.execute("SELECT count(*) FROM vec LIMIT 1").fetchone()
        return db

    @staticmethod
    def _create(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, v BLOB NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS tok (key TEXT PRIMARY KEY, ids BLOB NOT NULL, "
                   "q BLOB NOT NULL, scale BLOB NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors for those of ``keys`` that are present (none if the cache is damaged)."""
        found: dict[str, np.ndarray] = {}
        for key, blob in self._select("SELECT key, v FROM vec", keys):
            if len(blob) == 4 * self.dim:  # anything else is damaged: encode that text again
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def present(self, keys: list[str], tokens: bool = False) -> set[str]:
        """Those of ``keys`` with a cached vector (and, with ``tokens``, token states)."""
        have = {k for (k,) in self._select("SELECT key FROM vec", keys)}
        if tokens:
            have &= {k for (k,) in self._select("SELECT key FROM tok", keys)}
        return have

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        """Store vectors."""
        self._insert("INSERT OR REPLACE INTO vec VALUES (?, ?)",
                     [(k, np.asarray(v, np.float32).tobytes()) for k, v in items.items()])

    def get_tokens(self, keys: list[str]) -> dict[str, Quantized]:
        """Cached token states (see :mod:`embeddings.token_index`) for those of ``keys`` present."""
        found: dict[str, Quantized] = {}
        for key, ids, states, scale in self._select("SELECT key, ids, q, scale FROM tok", keys):
            n = len(ids) // 4
            if len(ids) == 4 * n and len(states) == n * self.dim and len(scale) == 2 * n:
                found[key] = Quantized(np.frombuffer(ids, dtype=np.int32),
                                       np.frombuffer(states, dtype=np.int8).reshape(n, self.dim),
                                       np.frombuffer(scale, dtype=np.float16))
        return found

    def put_tokens(self, items: dict[str, Quantized]) -> None:
        """Store token states."""
        self._insert("INSERT OR REPLACE INTO tok VALUES (?, ?, ?, ?)", [
            (k, t.ids.astype(np.int32).tobytes(), t.q.astype(np.int8).tobytes(),
             t.scale.astype(np.float16).tobytes()) for k, t in items.items()])

    def _select(self, query: str, keys: list[str]) -> list[tuple]:
        """Rows of ``query`` for ``keys`` (those read before any damage shows)."""
        rows: list[tuple] = []
        try:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                rows.extend(self.db.execute(f"{query} WHERE key IN ({','.join('?' * len(part))})", part))
        except sqlite3.DatabaseError as exc:
            self._set_aside(exc)
        return rows

    def _insert(self, statement: str, rows: list[tuple]) -> None:
        try:
            with self.db:
                self.db.executemany(statement, rows)
        except sqlite3.DatabaseError as exc:
            self._set_aside(exc)

    def _set_aside(self, exc: Exception) -> None:
        """A damaged cache only costs time: move it aside (as at opening) and go on with a new one."""
        log.warning("embedding cache %s damaged (%s); setting it aside, starting a new one", self.path, exc)
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        with contextlib.suppress(OSError):
            self.path.replace(self.path.with_suffix(".corrupt"))
        try:
            self.db = self._open()
        except sqlite3.DatabaseError:
            self.db = sqlite3.connect(":memory:")  # cannot write beside it: cache in memory for this run
            self._create(self.db)

    def close(self) -> None:
        self.db.close()
