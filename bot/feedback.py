"""👍/👎 feedback on answers, stored in a local SQLite file for later evaluation.

One row per (answer, user): pressing the other button later changes the rating. Each row
keeps the question, the answer text, the cited passages (doc_id/chunk_id), the rating
(+1/-1), the index version and a UTC timestamp.

Chat and user ids are stored *pseudonymised*: the first 16 hex digits of
HMAC-SHA256(salt, id), with a random salt created with the file and kept in its ``meta``
table. Votes from one user or chat can be grouped (and one vote per user per answer
enforced) without the file listing Telegram ids in clear. This is pseudonymisation, not
anonymisation: whoever has the file (salt included) can test a known id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from qa.types import Answer

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    id            INTEGER PRIMARY KEY,
    ts            TEXT NOT NULL,     -- UTC, ISO 8601
    answer_key    TEXT NOT NULL,     -- the bot's short id of the answer
    question      TEXT NOT NULL,
    answer        TEXT NOT NULL,
    abstained     INTEGER NOT NULL,
    citations     TEXT NOT NULL,     -- JSON [{"n", "doc_id", "chunk_id"}]
    rating        INTEGER NOT NULL,  -- +1 (👍) or -1 (👎)
    chat          TEXT NOT NULL,     -- pseudonymised chat id
    user          TEXT NOT NULL,     -- pseudonymised user id
    index_version TEXT,
    UNIQUE (answer_key, user)
);
"""


def default_path(index_dir: Path | None) -> Path:
    """``QA_FEEDBACK_DB``, else ``feedback.sqlite`` beside the index folder, else ``./feedback.sqlite``."""
    env = os.environ.get("QA_FEEDBACK_DB")
    if env:
        return Path(env)
    if index_dir is not None:
        return Path(index_dir).resolve().parent / "feedback.sqlite"
    return Path("feedback.sqlite")


class FeedbackStore:
    """Thread-safe: calls are serialised by a lock (the bot calls it from worker threads)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
            if row is None:
                salt = os.urandom(16).hex()
                self._db.execute("INSERT INTO meta (key, value) VALUES ('salt', ?)", (salt,))
            else:
                salt = row[0]
        self._salt = bytes.fromhex(salt)

    def pseudonym(self, ident: int | str | None) -> str:
        if ident is None:
            return ""
        return hmac.new(self._salt, str(ident).encode(), hashlib.sha256).hexdigest()[:16]

    def record(self, *, answer_key: str, answer: Answer, rating: int, chat_id: int | None, user_id: int | None,
               index_version: str | None = None) -> None:
        """Store (or change) ``user_id``'s rating of one answer."""
        if rating not in (1, -1):
            raise ValueError("rating must be +1 or -1")
        cites = json.dumps([{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id} for c in answer.citations])
        ts = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO feedback (ts, answer_key, question, answer, abstained, citations, rating, chat, user,"
                " index_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (answer_key, user) DO UPDATE SET rating = excluded.rating, ts = excluded.ts",
                (ts, answer_key, answer.question, answer.answer, int(answer.abstained), cites, rating,
                 self.pseudonym(chat_id), self.pseudonym(user_id), index_version))

    def rows(self) -> list[dict]:
        """All feedback rows, oldest first (for evaluation scripts and tests)."""
        with self._lock:
            cur = self._db.execute("SELECT * FROM feedback ORDER BY id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()
