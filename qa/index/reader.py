"""``IndexReader``: read access to one index version, and nothing about ranking.

Dense search and exact cosines (FAISS, and the multilingual vectors where the index has them),
BM25, stored passages with their document's metadata, term and token statistics, the token
states, the article list. Opening checks that the files agree with each other.
"""

from __future__ import annotations

import json
import sqlite3
import threading

import numpy as np

from embeddings import vector_index
from embeddings.token_index import TokenIndex
from qa.index.annotate import sentence_key
from qa.index.bm25 import LexicalIndex
from qa.index.passages import PassageRow
from qa.index.store import IndexUnusable, Version, open_db, read_sources, read_stats
from qa.index.where import Where
from qa.text.terms import idf
from qa.types import CorpusStats, SourceInfo


def _cosines(index, vec: np.ndarray, rows: list[int]) -> dict[int, float]:
    """Cosine of ``vec`` with the stored (normalised) vectors of ``rows`` in a FAISS index."""
    vecs = np.stack([index.reconstruct(int(r)) for r in rows])
    return dict(zip(rows, (vecs @ np.asarray(vec, np.float32).ravel()).tolist()))


def _rebuild(what: str) -> str:
    return f"{what}; rebuild it with `qa index --full`"


class IndexReader:
    """One index version, opened read-only (safe to share between threads)."""

    def __init__(self, version: Version) -> None:
        self.version = version
        self._masks: dict[Where, np.ndarray] = {}
        self._where_lock = threading.Lock()
        path = version.path
        self.db: sqlite3.Connection = open_db(path / "passages.sqlite")
        try:
            self._load(version, path)
        except BaseException:
            self.db.close()  # a reader that fails to open holds no file
            raise

    def _load(self, version: Version, path) -> None:
        try:
            self.dense_index = vector_index.load(path / "vectors.faiss")
            self.lexical = LexicalIndex.load(path / "bm25")
        except (RuntimeError, OSError, ValueError, KeyError, EOFError) as exc:
            raise IndexUnusable(_rebuild(f"index files in {path} are missing or corrupt")) from exc
        self.ml_index = None
        if version.manifest.get("multilingual") and not (path / "vectors_ml.faiss").exists():
            raise IndexUnusable(_rebuild(f"index file {path / 'vectors_ml.faiss'} is missing"))
        if (path / "vectors_ml.faiss").exists():
            try:
                self.ml_index = vector_index.load(path / "vectors_ml.faiss")
            except (RuntimeError, OSError, EOFError) as exc:
                raise IndexUnusable(_rebuild(f"index file {path / 'vectors_ml.faiss'} is corrupt")) from exc
        self.tokens: TokenIndex | None = None
        if (path / "tokens").is_dir() or version.manifest.get("token_states"):
            try:
                self.tokens = TokenIndex(path / "tokens")
                if self.tokens.dim != self.dense_index.d:
                    raise ValueError(f"token states of dimension {self.tokens.dim}, vectors {self.dense_index.d}")
            except (OSError, ValueError, EOFError) as exc:
                raise IndexUnusable(_rebuild(f"token states in {path / 'tokens'} are corrupt")) from exc
        self.size = int(self.db.execute("SELECT count(*) FROM passages").fetchone()[0])
        self.documents: dict = version.manifest.get("documents", {})  # per doc_id: url, also_published_by...
        self.urls = {d: e["url"] for d, e in self.documents.items() if e.get("url")}
        self.annotated = bool(version.manifest.get("annotations")) and self.db.execute(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('sentence_entities', 'speakers')").fetchone()[0] == 2
        sizes = {self.dense_index.ntotal, self.lexical.num_docs, self.size}
        if self.ml_index is not None:
            sizes.add(self.ml_index.ntotal)
        if self.tokens is not None:
            sizes.add(self.tokens.size)
        if len(sizes) != 1:
            raise IndexUnusable(_rebuild(f"index files in {path} disagree on the number of passages"))

    @property
    def has_multilingual(self) -> bool:
        """Whether the version has multilingual vectors (questions in another script)."""
        return self.ml_index is not None

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ search

    def dense(self, qvec: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """The ``k`` nearest passages to a MiniLM vector: (row, cosine), best first (``where``: of the
        articles it admits)."""
        allowed = self._admitted_rows(where)
        scores, rows = vector_index.search(self.dense_index, qvec, k, allowed)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def dense_ml(self, mlvec: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """The same over the multilingual vectors."""
        allowed = self._admitted_rows(where)
        scores, rows = vector_index.search(self.ml_index, mlvec, k, allowed)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def bm25(self, query: str, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """The ``k`` best passages by BM25: (row, score), best first."""
        rows, scores = self.lexical.search(query, k, self._admitted(where))
        return [(int(r), float(s)) for r, s in zip(rows, scores)]

    def _admitted(self, where: Where | None) -> np.ndarray | None:
        """A mask of the rows whose article ``where`` admits (None: no filter)."""
        if not where:
            return None
        with self._where_lock:
            if where not in self._masks:
                mask = np.zeros(self.size, bool)
                q = "SELECT p.row, d.date, d.source FROM passages p JOIN docs d ON d.doc_id = p.doc_id"
                for row, date, source in self.db.execute(q):
                    mask[row] = where.admits(date, source)
                self._masks = {**dict(list(self._masks.items())[-7:]), where: mask}
            return self._masks[where]

    def _admitted_rows(self, where: Where | None) -> np.ndarray | None:
        mask = self._admitted(where)
        return None if mask is None else np.flatnonzero(mask)

    def cosines(self, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """Exact cosine of the query with the given passage rows."""
        return _cosines(self.dense_index, qvec, rows)

    def ml_cosines(self, mlvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """Multilingual cosine of a question with the given passage rows."""
        return _cosines(self.ml_index, mlvec, rows)

    def rows_mentioning(self, phrase: str, limit: int = 400) -> list[int]:
        """Rows whose text contains ``phrase`` (case-insensitive), newest articles first, at most ``limit``."""
        q = ("SELECT p.row FROM passages p JOIN docs d ON d.doc_id = p.doc_id WHERE instr(lower(p.text), ?) > 0 "
             "ORDER BY d.date IS NULL, d.date DESC, d.year_hint DESC, p.row LIMIT ?")
        return [r for (r,) in self.db.execute(q, (phrase.lower(), limit))]

    # ------------------------------------------------------------ passages and statistics

    def passages(self, rows: list[int]) -> dict[int, PassageRow]:
        """Stored passages (with document metadata) for ``rows``."""
        if not rows:
            return {}
        q = ("SELECT p.row, p.chunk_id, p.doc_id, p.text, p.start, p.end, p.sentences, d.title, d.source, "
             "d.date, d.year_hint, d.path, d.language FROM passages p JOIN docs d ON d.doc_id = p.doc_id "
             f"WHERE p.row IN ({','.join('?' * len(rows))})")
        out = {}
        for r in self.db.execute(q, [int(x) for x in rows]):
            out[r[0]] = PassageRow(r[0], r[1], r[2], r[3], r[4], r[5], [tuple(s) for s in json.loads(r[6])],
                                   *r[7:], url=self.urls.get(r[2]))
        return out

    def entities(self, sentences: list[str]) -> dict[str, list[tuple[int, int, str]]]:
        """The stored named entities of each sentence text (qa/index/annotate.py): (start, end, label)
        spans into the text; a sentence the index has none for is left out."""
        if not sentences or not self.annotated:
            return {}
        keys = {sentence_key(t): t for t in sentences}
        q = f"SELECT key, entities FROM sentence_entities WHERE key IN ({','.join('?' * len(keys))})"
        return {keys[k]: [tuple(e) for e in json.loads(v)] for k, v in self.db.execute(q, list(keys))}

    def speakers(self, rows: list[int], passages: dict[int, PassageRow] | None = None) -> dict[int, list[list[str]]]:
        """For each passage row, the stored speakers of each of its sentences (qa/index/speakers.py); empty
        when the index has none (built without annotations, or before them). ``passages``: those
        rows already read, to save reading them again."""
        if not rows or not self.annotated:
            return {}
        passages = {r: passages[r] for r in rows} if passages is not None else self.passages(rows)
        docs = sorted({p.doc_id for p in passages.values()})
        q = f"SELECT doc_id, start, speaker FROM speakers WHERE doc_id IN ({','.join('?' * len(docs))})"
        said: dict[tuple[str, int], list[str]] = {}
        for doc_id, start, name in self.db.execute(q, docs):
            said.setdefault((doc_id, start), []).append(name)
        return {r: [said.get((p.doc_id, a), []) for a, _, _ in p.sentences] for r, p in passages.items()}

    def rows_spoken_by(self, surname: str, limit: int = 400) -> list[int]:
        """Rows holding a sentence whose stored speaker's name contains ``surname`` (case-insensitive)."""
        if not self.annotated:
            return []
        q = ("SELECT DISTINCT p.row, d.date, d.year_hint FROM passages p JOIN speakers s ON s.doc_id = p.doc_id "
             "AND s.start >= p.start AND s.start < p.end JOIN docs d ON d.doc_id = p.doc_id "
             "WHERE instr(lower(s.speaker), ?) > 0 "
             "ORDER BY d.date IS NULL, d.date DESC, d.year_hint DESC, p.row LIMIT ?")
        return [r for r, _, _ in self.db.execute(q, (surname.lower(), limit))]

    def doc_frequencies(self, terms: list[str]) -> dict[str, int]:
        """Document frequency (in passages) of stemmed terms."""
        if not terms:
            return {}
        q = f"SELECT term, df FROM terms WHERE term IN ({','.join('?' * len(terms))})"
        return dict(self.db.execute(q, terms).fetchall())

    def idf_weights(self, terms: list[str] | tuple[str, ...], unknown: bool = False) -> dict[str, float]:
        """IDF (over passages) of ``terms``; terms absent from the index are left out,
        or with ``unknown`` weighted as the rarest (a word no article uses)."""
        terms = list(terms)
        df = self.doc_frequencies(terms)
        n = max(self.size, 1)
        return {t: idf(df.get(t, 0), n) for t in terms if unknown or df.get(t, 0) > 0}

    def token_idf(self, ids: np.ndarray) -> np.ndarray:
        """IDF over passages of word-piece ids (from the token states' document frequencies)."""
        df = self.tokens.doc_frequency(ids)
        n = max(self.size, 1)
        return np.array([idf(int(d), n) for d in df], np.float32)

    def sources(self) -> list[SourceInfo]:
        """The indexed articles, newest first (undated last)."""
        return read_sources(self.db, self.documents)

    def stats(self) -> CorpusStats:
        """Counts, outlets and date range of the indexed articles."""
        return read_stats(self.db, self.size)
