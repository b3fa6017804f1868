"""``MilvusReader``: what the query path reads, from one published build in Milvus.

The same methods as :class:`qa.index.reader.IndexReader`, giving the same numbers: Milvus finds
the candidates (dense by inner product, BM25 by sparse inner product, each filtered to the build
and any date or outlet bounds) and their scores are computed here as the files compute them, from
the stored vectors and texts. Rows never change once written, so passages, vectors and token
states are cached by row.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from embeddings.token_index import TokenIndex
from qa.index.annotate import sentence_key
from qa.index.chunking import embed_text
from qa.index.milvus import expr
from qa.index.milvus.archive import QUERY_LIMIT, Archive
from qa.index.milvus.meta import Meta
from qa.index.milvus.schema import SCALARS
from qa.index.milvus.sparse import Bm25Stats, rank
from qa.index.passages import PassageRow
from qa.index.where import Where
from qa.text.terms import idf
from qa.types import CorpusStats, SourceInfo

CACHED_ROWS = 8192
BM25_MARGIN = 2  # BM25 candidates asked of Milvus per result wanted (its float sums and hashed terms differ)
BM25_ALL = 1000  # up to this many rows, every passage matching a query term is scored (equal scores: the files' order)


@dataclass
class MilvusVersion:
    """A published build: its name (``v<build>``), number, collection and manifest."""

    number: int
    collection: str
    manifest: dict

    @property
    def name(self) -> str:
        return f"v{self.number}"


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only, as SQLite's ``lower()`` does (the files' case-insensitive match)."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _none(value: str) -> str | None:
    return value or None


def row_to_passage(r: dict) -> PassageRow:
    """A stored row as the passage retrieval hands on."""
    sentences = [tuple(s) for s in json.loads(r["sentences"])]
    return PassageRow(int(r["row"]), r["chunk_id"], r["doc_id"], r["text"], int(r["start_char"]), int(r["end_char"]),
                      sentences, r["title"], _none(r["source"]), _none(r["date"]),
                      None if r["year_hint"] < 0 else int(r["year_hint"]), _none(r["path"]), r["language"],
                      url=_none(r["url"]))


def _newest_first(found: list[dict], limit: int) -> list[int]:
    """Rows ordered as the files order them (``date IS NULL, date DESC, year_hint DESC, row``)."""
    found = sorted(found, key=lambda r: r["row"])
    found.sort(key=lambda r: (r["year_hint"] >= 0, r["year_hint"]), reverse=True)
    found.sort(key=lambda r: (r["date"] != "", r["date"]), reverse=True)
    return [int(r["row"]) for r in found[:limit]]


class MilvusReader:
    """One published build, read-only (safe to share between threads)."""

    def __init__(self, archive: Archive, meta: Meta, version: MilvusVersion, stats: dict) -> None:
        self.archive = archive
        self.meta = meta
        self.version = version
        manifest = version.manifest
        self.collection = version.collection
        self.size = int(manifest["passages"])
        self.row_span = int(manifest.get("milvus", {}).get("next_row", self.size))  # rows are 0..row_span-1
        self.has_multilingual = bool(manifest.get("multilingual"))
        self.annotated = bool(manifest.get("annotations"))
        self.lexical = Bm25Stats(int(stats["n"]), float(stats["avgdl"]), stats["df"])
        self.dim = int(manifest["model"]["dim"])
        self._visible = expr.visible(version.number)
        self._rows: OrderedDict[int, dict] = OrderedDict()
        self._vectors: dict[str, OrderedDict[int, np.ndarray]] = {"dense": OrderedDict(), "dense_ml": OrderedDict()}
        self._lock = threading.Lock()
        self._documents: dict | None = None
        self.tokens = RemoteTokens(self, np.asarray(stats.get("token_df") or [], np.int32)) \
            if manifest.get("token_states") else None

    def close(self) -> None:
        """Nothing to release (the process's client is shared)."""

    # ------------------------------------------------------------ search

    def _filter(self, where: Where | None) -> str:
        return expr.both(self._visible, expr.where(where))

    def _search_dense(self, field: str, vec: np.ndarray, k: int, where: Where | None) -> list[tuple[int, float]]:
        q = np.asarray(vec, np.float32).ravel()
        hits = self.archive.search(self.collection, field, q.tolist(), min(k, self.size or 1), self._filter(where),
                                   [field])
        if not hits:
            return []
        rows = [int(h["id"]) for h in hits]
        vecs = np.asarray([h["entity"][field] for h in hits], np.float32)
        self._remember_vectors(field, rows, vecs)
        scores = _faiss_scores(vecs, q)
        order = sorted(range(len(rows)), key=lambda i: (-scores[i], rows[i]))
        return [(rows[i], float(scores[i])) for i in order]

    def dense(self, qvec: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """The ``k`` nearest passages to a MiniLM vector: (row, cosine), best first."""
        return self._search_dense("dense", qvec, k, where)

    def dense_ml(self, mlvec: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """The same over the multilingual vectors."""
        return self._search_dense("dense_ml", mlvec, k, where)

    def bm25(self, query: str, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """The ``k`` best passages by BM25: (row, score), best first."""
        terms = self.lexical.query_terms(query)
        if not terms or not self.size:
            return []
        limit = min(QUERY_LIMIT, max(BM25_MARGIN * k, k + 20, self.row_span + 1 if self.row_span <= BM25_ALL else 0))
        hits = self.archive.search(self.collection, "sparse", self.lexical.query_vector(terms), limit,
                                   self._filter(where), ["title", "text"])
        scored = [(int(h["id"]), self.lexical.score(terms, embed_text(h["entity"]["title"], h["entity"]["text"])))
                  for h in hits]
        return rank(scored, k, self.row_span, complete=len(hits) < limit)

    def cosines(self, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """Exact cosine of the query with the given passage rows."""
        return self._cosines("dense", qvec, rows)

    def ml_cosines(self, mlvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """Multilingual cosine of a question with the given passage rows."""
        return self._cosines("dense_ml", mlvec, rows)

    def _cosines(self, field: str, vec: np.ndarray, rows: list[int]) -> dict[int, float]:
        vecs = self.vectors(field, rows)
        return dict(zip(rows, (np.stack([vecs[r] for r in rows]) @ np.asarray(vec, np.float32).ravel()).tolist()))

    def rows_mentioning(self, phrase: str, limit: int = 400) -> list[int]:
        """Rows whose text contains ``phrase`` (case-insensitive), newest articles first, at most ``limit``."""
        found = list(self.archive.query_all(self.collection, expr.both(self._visible, expr.contains(
            "text_lc", phrase.lower())), ["row", "date", "year_hint"]))
        return _newest_first(found, limit)

    def rows_spoken_by(self, surname: str, limit: int = 400) -> list[int]:
        """Rows holding a sentence whose stored speaker's name contains ``surname`` (case-insensitive)."""
        if not self.annotated:
            return []
        found = list(self.archive.query_all(self.collection, expr.both(self._visible, expr.contains(
            "speakers_lc", surname.lower())), ["row", "date", "year_hint"]))
        return _newest_first(found, limit)

    # ------------------------------------------------------------ passages and statistics

    def _fetch(self, rows: list[int]) -> dict[int, dict]:
        """Stored fields of ``rows`` (cached: a row never changes)."""
        out: dict[int, dict] = {}
        with self._lock:
            for r in rows:
                if r in self._rows:
                    self._rows.move_to_end(r)
                    out[r] = self._rows[r]
        missing = sorted({int(r) for r in rows} - set(out))
        for s in range(0, len(missing), 1000):
            part = missing[s : s + 1000]
            got = self.archive.query(self.collection, expr.one_of("row", part), SCALARS)
            with self._lock:
                for r in got:
                    out[int(r["row"])] = r
                    self._rows[int(r["row"])] = r
                while len(self._rows) > CACHED_ROWS:
                    self._rows.popitem(last=False)
        return out

    def passages(self, rows: list[int]) -> dict[int, PassageRow]:
        """Stored passages (with document metadata) for ``rows``."""
        return {r: row_to_passage(f) for r, f in self._fetch(rows).items()}

    def vectors(self, field: str, rows: list[int]) -> dict[int, np.ndarray]:
        """Stored ``dense`` or ``dense_ml`` vectors of ``rows``."""
        cache = self._vectors[field]
        with self._lock:
            out = {r: cache[r] for r in rows if r in cache}
        missing = sorted({int(r) for r in rows} - set(out))
        for s in range(0, len(missing), 1000):
            part = missing[s : s + 1000]
            got = self.archive.query(self.collection, expr.one_of("row", part), ["row", field])
            fetched = {int(g["row"]): np.asarray(g[field], np.float32) for g in got}
            self._remember_vectors(field, list(fetched), list(fetched.values()))
            out.update(fetched)
        return out

    def _remember_vectors(self, field: str, rows: list[int], vecs) -> None:
        cache = self._vectors[field]
        with self._lock:
            for r, v in zip(rows, vecs):
                cache[r] = np.asarray(v, np.float32)
                cache.move_to_end(r)
            while len(cache) > CACHED_ROWS:
                cache.popitem(last=False)

    def entities(self, sentences: list[str]) -> dict[str, list[tuple[int, int, str]]]:
        """The stored named entities of each sentence text; a sentence the index has none for is left out."""
        if not sentences or not self.annotated:
            return {}
        keys = {sentence_key(t): t for t in sentences}
        got = self.meta.get([f"e:{k}" for k in keys])
        return {keys[k[2:]]: [tuple(e) for e in json.loads(v)] for k, v in got.items()}

    def speakers(self, rows: list[int], passages: dict[int, PassageRow] | None = None) -> dict[int, list[list[str]]]:
        """For each passage row, the stored speakers of each of its sentences (empty without annotations)."""
        if not rows or not self.annotated:
            return {}
        return {r: json.loads(f["speakers"]) for r, f in self._fetch(rows).items()}

    def doc_frequencies(self, terms: list[str]) -> dict[str, int]:
        """Document frequency (in passages) of stemmed terms."""
        df = self.lexical.df
        return {t: df[t] for t in terms if t in df}

    def idf_weights(self, terms: list[str] | tuple[str, ...], unknown: bool = False) -> dict[str, float]:
        """IDF (over passages) of ``terms``; absent terms left out, or with ``unknown`` weighted as the rarest."""
        terms = list(terms)
        df = self.doc_frequencies(terms)
        n = max(self.size, 1)
        return {t: idf(df.get(t, 0), n) for t in terms if unknown or df.get(t, 0) > 0}

    def token_idf(self, ids: np.ndarray) -> np.ndarray:
        """IDF over passages of word-piece ids (from the token states' document frequencies)."""
        df = self.tokens.doc_frequency(ids)
        n = max(self.size, 1)
        return np.array([idf(int(d), n) for d in df], np.float32)

    @property
    def documents(self) -> dict:
        """Per doc_id: title, outlet, date, path, language, passages, url, also_published_by."""
        if self._documents is None:
            self._documents = self.meta.get_blob(f"docs:{self.version.number}") or {}
        return self._documents

    def sources(self) -> list[SourceInfo]:
        """The indexed articles, newest first (undated last, by the latest year they mention)."""
        docs = sorted(self.documents.items(), key=lambda kv: (kv[1].get("date") or "", kv[1].get("year_hint") or 0,
                                                              kv[0]), reverse=True)
        return [SourceInfo(d, e.get("title", ""), e.get("source"), e.get("date"), e.get("path"),
                           e.get("language", "en"), int(e.get("passages", 0)), url=e.get("url"),
                           also_published_by=e.get("also_published_by", [])) for d, e in docs]

    def stats(self) -> CorpusStats:
        """Counts, outlets and date range of the indexed articles."""
        src = self.sources()
        dates = sorted(s.date for s in src if s.date)
        hints = [e["year_hint"] for e in self.documents.values()
                 if not e.get("date") and e.get("year_hint") is not None]
        return CorpusStats(documents=len(src), passages=self.size, outlets=sorted({s.source for s in src if s.source}),
                           date_min=dates[0] if dates else None, date_max=dates[-1] if dates else None,
                           undated=sum(1 for s in src if not s.date),
                           years_mentioned=(min(hints), max(hints)) if hints else None)


def _faiss_scores(vecs: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Inner products as FAISS's flat index computes them (the files backend's numbers)."""
    import faiss

    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(np.ascontiguousarray(vecs))
    scores, ids = index.search(q[None, :], len(vecs))
    out = np.empty(len(vecs), np.float32)
    out[ids[0]] = scores[0]
    return out


class RemoteTokens:
    """The token states of a build's passages, fetched by row (``t:<collection>:<row>#<part>`` in the meta
    collection) and scored by :class:`~embeddings.token_index.TokenIndex`'s own code."""

    def __init__(self, reader: MilvusReader, df: np.ndarray) -> None:
        self.reader = reader
        self.df = df
        self.dim = reader.dim
        self.size = reader.size
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def doc_frequency(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        inside = ids < len(self.df)
        out = np.zeros(len(ids), np.int64)
        out[inside] = self.df[ids[inside]]
        return out

    def _load(self, rows: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        with self._lock:
            out = {r: self._cache[r] for r in rows if r in self._cache}
        missing = sorted({int(r) for r in rows} - set(out))
        if missing:
            fields = self.reader._fetch(missing)
            coll = self.reader.collection
            keys = {r: [f"t:{coll}:{r}#{i}" for i in range(token_parts(int(fields[r]["tokens_n"]), self.dim))]
                    for r in missing if r in fields}
            got = self.reader.meta.get([k for ks in keys.values() for k in ks])
            for r, ks in keys.items():
                out[r] = decode_states(b"".join(base64.b64decode(got[k]) for k in ks), self.dim)
            with self._lock:
                for r in missing:
                    if r in out:
                        self._cache[r] = out[r]
                while len(self._cache) > CACHED_ROWS // 4:
                    self._cache.popitem(last=False)
        return out

    def _local(self, rows: list[int]) -> TokenIndex:
        """A token index of just ``rows`` (in that order)."""
        parts = self._load(rows)
        ids = [parts[r][0] for r in rows]
        lengths = np.array([len(i) for i in ids], np.int64)
        return TokenIndex.from_arrays(
            states=np.concatenate([parts[r][2] for r in rows]) if rows else np.zeros((0, self.dim), np.int8),
            scales=np.concatenate([parts[r][1] for r in rows]) if rows else np.zeros(0, np.float16),
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            ids=np.concatenate(ids) if rows else np.zeros(0, np.int32), df=self.df)

    def maxsim(self, query: np.ndarray, weights: np.ndarray, rows: list[int]) -> dict[int, float]:
        local = self._local(rows)
        scores = local.maxsim(query, weights, list(range(len(rows))))
        return {r: scores[i] for i, r in enumerate(rows)}

    def states_of(self, row: int) -> np.ndarray:
        return self._local([row]).states_of(0)

    def passage(self, row: int):
        return self._local([row]).passage(0)


PART_BYTES = 45_000  # bytes of token states in one meta value (60,000 characters of base64)


def token_parts(tokens: int, dim: int) -> int:
    """How many meta values hold the states of a passage of ``tokens`` tokens."""
    return -(-tokens * (6 + dim) // PART_BYTES)


def encode_states(ids: np.ndarray, scales: np.ndarray, states: np.ndarray) -> list[str]:
    """A passage's token states (int32 ids, float16 scales, int8 states) as base64 parts."""
    n = len(ids)
    data = (np.asarray(ids, "<i4").tobytes() + np.asarray(scales, "<f2").tobytes()
            + np.asarray(states, np.int8).reshape(n, -1).tobytes())
    return [base64.b64encode(data[i : i + PART_BYTES]).decode() for i in range(0, len(data), PART_BYTES)]


def decode_states(data: bytes, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(data) // (4 + 2 + dim)
    ids = np.frombuffer(data, "<i4", n, 0).astype(np.int32)
    scales = np.frombuffer(data, "<f2", n, 4 * n).astype(np.float16)
    states = np.frombuffer(data, np.int8, n * dim, 6 * n).reshape(n, dim)
    return ids, scales, states
