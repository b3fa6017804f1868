"""Hybrid retrieval: dense (FAISS) and BM25 candidates fused by reciprocal rank.

``Retriever`` reads one index version. Every candidate carries both raw scores
(cosine and BM25) so that the answer layer can judge relevance and abstain.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from embeddings import vector_index
from embeddings.token_index import TokenIndex, TokenStates
from qa.chunking import embed_text
from qa.lexical import LexicalIndex, coverage, idf, query_tokens
from qa.store import IndexUnusable, Version, open_db

RRF_K = 60
FOLD_WINDOW = 10  # results fold overlapping passages ranked this high (fold_overlaps)
CANDIDATES = 50
# Rerank = cosine + COVERAGE_WEIGHT * (IDF share of query terms in the passage)
#        + BM25_WEIGHT * (BM25 / best BM25), over the top RERANK_DEPTH fused candidates.
# Weights chosen on eval/questions.jsonl; hit@1 is flat (0.86-0.88) for 0.3-0.7 / 0.2-0.3.
RERANK_DEPTH = 20
COVERAGE_WEIGHT = 0.5
BM25_WEIGHT = 0.3
# ... + LATE_WEIGHT * MaxSim of the question's word pieces with the passage's token states
# (embeddings/token_index.py), when the index has them. Hit@1 over the four English question
# sets of eval/ is flat for weights 2-10; BEIR SciFact nDCG@10 drops 0.002 at 2, more above.
LATE_WEIGHT = 2.0
LATE_DEPTH = 10  # the same figures for 10, 20 and 40 on all four sets
# ... + SENTENCE_WEIGHT * the MaxSim of the passage's best sentence, for the same passages. Over the
# six English sets of eval/, hit@1 0.886 -> 0.890 / 0.903 / 0.900 at 0.5 / 1 / 2; no set lower.
SENTENCE_WEIGHT = 1.0
# Word pieces that carry no content for MaxSim (besides punctuation and "##" suffix pieces): the
# question words and function words; BM25's list (qa/lexical.py) has no question words, which as
# rare passage words would weigh most.
_LATE_STOP = frozenset(
    "what which who whom whose when where why how did does do the a an of in on to for and is was were be by "
    "with as at from that this it its their his her".split())


@dataclass
class Candidate:
    """A passage row with its scores from each retriever."""

    row: int
    score: float  # fused score (higher is better)
    dense: float  # cosine with the query (0 when not a dense candidate)
    lexical: float  # BM25 score (0 when no query term matches)
    # MaxSim of each of its sentences with the question, where the rerank computed it (the top LATE_DEPTH)
    sentence_late: list[float] | None = None


@dataclass
class PassageRow:
    """A passage with its document's metadata, as stored."""

    row: int
    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    sentences: list[tuple[int, int, str]]  # absolute span and normalised text
    title: str
    source: str | None
    date: str | None
    year_hint: int | None
    path: str | None
    language: str
    url: str | None = None


def fold_overlaps(ranked: list[PassageRow], max_parts: int = 2,
                  window: int = FOLD_WINDOW) -> list[tuple[PassageRow, int]]:
    """Results in which no sentence appears twice. Consecutive passages share a sentence, and
    when a question matches that sentence both rank high, the answer often in the one ranked
    second: a passage among the first ``window`` that overlaps one better-ranked result (of at
    most ``max_parts - 1`` passages) is folded into it, its text and span covering both in
    reading order (chunk id "A+B"); any other that overlaps a result keeps its longest run of
    sentences not shown yet (none: dropped). So the first results do not depend on how many are
    asked for. A passage whose text is not its sentences joined (none that qa/chunking.py makes)
    is left as it is. Returns (passage, index in ``ranked`` of its best part), best first."""
    out: list[tuple[PassageRow, int]] = []
    parts: list[int] = []
    seen: set[str] = set()
    for i, p in enumerate(ranked):
        if p.chunk_id in seen:
            continue
        seen.add(p.chunk_id)
        hit = [j for j, (q, _) in enumerate(out) if _overlap(q, p)]
        if not hit or not _joinable(p) or not all(_joinable(out[j][0]) for j in hit):
            out.append((p, i))
            parts.append(1)
        elif len(hit) == 1 and parts[hit[0]] < max_parts and i < window:
            q, first = out[hit[0]]
            out[hit[0]] = (_merge(q, p), first)
            parts[hit[0]] += 1
        else:
            shown = [(out[j][0].start, out[j][0].end) for j in hit]
            rest = _longest_run([not any(a <= x[0] < b for a, b in shown) for x in p.sentences])
            if rest:
                out.append((_with_sentences(p, p.chunk_id, p.sentences[rest.start:rest.stop]), i))
                parts.append(1)
    return out


def join_overlapping(passages: list[PassageRow]) -> list[PassageRow]:
    """``passages`` with every group of overlapping ones (same document, chains included) joined
    into one, where the group's first member stood: an answer's sources, none repeating a
    sentence of another. Passages whose text is not their sentences joined stay apart."""
    groups: list[PassageRow] = []
    for p in passages:
        touching = [i for i, g in enumerate(groups) if _overlap(g, p) and _joinable(g) and _joinable(p)]
        if not touching:
            groups.append(p)
            continue
        joined = p
        for i in touching:
            joined = _merge(groups[i], joined)
        groups[touching[0]] = joined
        groups = [g for i, g in enumerate(groups) if i not in touching[1:]]
    return groups


def _overlap(a: PassageRow, b: PassageRow) -> bool:
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end


def _joinable(p: PassageRow) -> bool:
    """Whether the passage's text is its sentences joined by spaces (so a union can be rebuilt)."""
    return bool(p.sentences) and " ".join(t for _, _, t in p.sentences) == p.text


def _longest_run(keep: list[bool]) -> range:
    """The longest run of consecutive True values (empty when there is none)."""
    best, start = range(0), None
    for i, k in enumerate([*keep, False]):
        if k and start is None:
            start = i
        elif not k and start is not None:
            best = max(best, range(start, i), key=len)
            start = None
    return best


def _merge(a: PassageRow, b: PassageRow) -> PassageRow:
    """One passage covering two overlapping ones (metadata and row of ``a``)."""
    first, second = sorted((a, b), key=lambda p: p.start)
    sentences = sorted({s[0]: s for s in a.sentences + b.sentences}.values())
    return _with_sentences(a, f"{first.chunk_id}+{second.chunk_id}", sentences)


def _with_sentences(p: PassageRow, chunk_id: str, sentences: list[tuple[int, int, str]]) -> PassageRow:
    """``p`` (metadata and row) holding ``sentences``, consecutive ones, only."""
    return PassageRow(p.row, chunk_id, p.doc_id, " ".join(t for _, _, t in sentences), sentences[0][0],
                      sentences[-1][1], sentences, p.title, p.source, p.date, p.year_hint, p.path, p.language, p.url)


def rrf(rankings: list[list[int]], weights: list[float] | None = None, k: int = RRF_K) -> dict[int, float]:
    """Reciprocal rank fusion of several ranked lists of rows."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, row in enumerate(ranking):
            fused[row] = fused.get(row, 0.0) + w / (k + rank + 1)
    return fused


def _cosines(index, vec: np.ndarray, rows: list[int]) -> dict[int, float]:
    """Cosine of ``vec`` with the stored (normalised) vectors of ``rows`` in a FAISS index."""
    vecs = np.stack([index.reconstruct(int(r)) for r in rows])
    return dict(zip(rows, (vecs @ np.asarray(vec, np.float32).ravel()).tolist()))


class Retriever:
    """Search one index version: dense, lexical, hybrid."""

    def __init__(self, version: Version) -> None:
        self.version = version
        self.urls = {d: e["url"] for d, e in version.manifest.get("documents", {}).items() if e.get("url")}
        path = version.path
        self.db: sqlite3.Connection = open_db(path / "passages.sqlite")
        try:
            self.dense_index = vector_index.load(path / "vectors.faiss")
            self.lexical = LexicalIndex.load(path / "bm25")
        except (RuntimeError, OSError, ValueError, KeyError, EOFError) as exc:
            raise IndexUnusable(f"index files in {path} are missing or corrupt; "
                                "rebuild it with `qa index --full`") from exc
        self.ml_index = None
        if (path / "vectors_ml.faiss").exists():
            try:
                self.ml_index = vector_index.load(path / "vectors_ml.faiss")
            except (RuntimeError, OSError, EOFError) as exc:
                raise IndexUnusable(f"index file {path / 'vectors_ml.faiss'} is corrupt; "
                                    "rebuild it with `qa index --full`") from exc
        self.tokens: TokenIndex | None = None
        if (path / "tokens").is_dir() or version.manifest.get("token_states"):
            try:
                self.tokens = TokenIndex(path / "tokens")
                if self.tokens.dim != self.dense_index.d:
                    raise ValueError(f"token states of dimension {self.tokens.dim}, vectors {self.dense_index.d}")
            except (OSError, ValueError, EOFError) as exc:
                raise IndexUnusable(f"token states in {path / 'tokens'} are corrupt; "
                                    "rebuild it with `qa index --full`") from exc
        self.size = int(self.db.execute("SELECT count(*) FROM passages").fetchone()[0])
        sizes = {self.dense_index.ntotal, self.lexical.num_docs, self.size}
        if self.ml_index is not None:
            sizes.add(self.ml_index.ntotal)
        if self.tokens is not None:
            sizes.add(self.tokens.size)
        if len(sizes) != 1:
            raise IndexUnusable(f"index files in {path} disagree on the number of passages; "
                                "rebuild it with `qa index --full`")

    def close(self) -> None:
        self.db.close()

    def dense(self, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
        scores, rows = vector_index.search(self.dense_index, qvec, k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def bm25(self, query: str, k: int) -> list[tuple[int, float]]:
        rows, scores = self.lexical.search(query, k)
        return [(int(r), float(s)) for r, s in zip(rows, scores)]

    def hybrid(self, query: str, qvec: np.ndarray | None, k: int = 10, mode: str = "hybrid",
               candidates: int = CANDIDATES, qtokens: TokenStates | None = None,
               boost: Callable[[PassageRow], float] | None = None,
               starts: Callable[[PassageRow], np.ndarray] | None = None) -> list[Candidate]:
        """Top ``k`` passages by ``mode``: "rerank" (default), "hybrid", "dense" or "bm25".
        ``qtokens``, ``boost`` and ``starts``: see :meth:`rerank`."""
        if mode == "rerank":
            # Rerank the RRF top 2*RERANK_DEPTH drawn from each retriever's top 2*RERANK_DEPTH: deep
            # enough that a passage only one retriever ranks first is not lost to RRF's preference
            # for passages in both lists. Asked for more, the rest of the fused list follows them,
            # reordered by the same score without MaxSim: the top never depends on k.
            pool = self.hybrid(query, qvec, 2 * RERANK_DEPTH, "hybrid", RERANK_DEPTH)
            ranked = self.rerank(query, qvec, pool, qtokens, boost, starts)
            if k > len(ranked):
                have = {c.row for c in ranked}
                rest = [c for c in self.hybrid(query, qvec, k, "hybrid", candidates) if c.row not in have]
                ranked += self.rerank(query, qvec, rest, None, boost)
            return ranked[:k]
        n = max(k, candidates)
        dense = self.dense(qvec, n) if qvec is not None and mode in ("hybrid", "dense") else []
        lex = self.bm25(query, n) if mode in ("hybrid", "bm25") else []
        dmap, lmap = dict(dense), dict(lex)
        if mode == "dense":
            fused = {r: s for r, s in dense}
        elif mode == "bm25":
            fused = {r: s for r, s in lex}
        else:
            fused = rrf([[r for r, _ in dense], [r for r, _ in lex]])
        if mode != "dense" and qvec is not None:
            missing = [r for r in fused if r not in dmap]
            if missing:
                dmap.update(self.cosines(qvec, missing))
        order = sorted(fused, key=lambda r: (-fused[r], r))[:k]
        return [Candidate(r, fused[r], dmap.get(r, 0.0), lmap.get(r, 0.0)) for r in order]

    def foreign(self, query: str, mlvec: np.ndarray, k: int = 10, candidates: int = CANDIDATES) -> list[Candidate]:
        """Passages for a question not in English: multilingual vectors fused with BM25 over
        the transliterated question (names: Лавров -> Lavrov), reranked by cosine + BM25."""
        from qa.answer import transliterate

        candidates = max(candidates, k)
        scores, rows = vector_index.search(self.ml_index, mlvec, candidates)
        dense = [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
        lex = self.bm25(transliterate(query), candidates)
        dmap, lmap = dict(dense), dict(lex)
        fused = rrf([[r for r, _ in dense], [r for r, _ in lex]])
        missing = [r for r in fused if r not in dmap]
        if missing:
            dmap.update(self.ml_cosines(mlvec, missing))
        best_lex = max(lmap.values(), default=0.0) or 1.0
        out = [Candidate(r, dmap[r] + BM25_WEIGHT * lmap.get(r, 0.0) / best_lex, dmap[r], lmap.get(r, 0.0))
               for r in fused]
        return sorted(out, key=lambda c: (-c.score, c.row))[:k]

    def ml_cosines(self, mlvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """Multilingual cosine of a question with the given passage rows."""
        return _cosines(self.ml_index, mlvec, rows)

    def rerank(self, query: str, qvec: np.ndarray | None, cands: list[Candidate],
               qtokens: TokenStates | None = None,
               boost: Callable[[PassageRow], float] | None = None,
               starts: Callable[[PassageRow], np.ndarray] | None = None) -> list[Candidate]:
        """Reorder candidates by cosine, query-term coverage, normalised BM25, ``boost(passage)``
        (the engine's bonus for the speaker of "What did X say") and, for the best LATE_DEPTH
        with ``qtokens`` (the question's token states) and an index that has token states, MaxSim
        and, given ``starts(passage)`` (where the encoder's tokens of its embedded text start),
        the MaxSim of its best single sentence (:meth:`sentence_maxsim`)."""
        if not cands:
            return cands
        terms = list(dict.fromkeys(query_tokens(query)))
        weights = self.idf_weights(terms)
        rows = self.passages([c.row for c in cands])
        best_lex = max(c.lexical for c in cands) or 1.0
        for c in cands:
            c.score = (c.dense + COVERAGE_WEIGHT * coverage(terms, weights, rows[c.row].text)
                       + BM25_WEIGHT * c.lexical / best_lex + (boost(rows[c.row]) if boost else 0.0))
        cands = sorted(cands, key=lambda c: (-c.score, c.row))
        if qtokens is None:
            return cands
        # MaxSim, the costliest term, for the best LATE_DEPTH only: they are reordered above the rest.
        query = self._late_query(qtokens)
        if query is None:
            return cands
        top = cands[:LATE_DEPTH]
        late = self.tokens.maxsim(*query, [c.row for c in top])
        # and a passage one of whose sentences holds the whole question (the answer, usually); the
        # answer layer reads the per-sentence values kept on the candidate
        per_sentence = self._sentence_scores(query, [rows[c.row] for c in top], starts) if starts else {}
        for c in top:
            c.sentence_late = per_sentence.get(c.row)
            # (without sentence values, the passage's MaxSim stands in: neutral, not a penalty)
            c.score += LATE_WEIGHT * late[c.row] + SENTENCE_WEIGHT * max(c.sentence_late or [late[c.row]])
        return sorted(cands[:LATE_DEPTH], key=lambda c: (-c.score, c.row)) + cands[LATE_DEPTH:]

    def maxsim(self, qtokens: TokenStates, rows: list[int]) -> dict[int, float]:
        """MaxSim of the question's content word pieces (IDF-weighted) with each row's tokens;
        empty when the index has no token states or the question no content pieces."""
        query = self._late_query(qtokens)
        if query is None:
            return {}
        return self.tokens.maxsim(*query, rows)

    def sentence_maxsim(self, qtokens: TokenStates, passages: list[PassageRow],
                        starts: Callable[[PassageRow], np.ndarray]) -> dict[int, list[float] | None]:
        """For each passage (by row), the MaxSim of the question with each of its sentences: a
        sentence's tokens are those that start in it (``starts(p)``: where the encoder's tokens of
        ``embed_text(p.title, p.text)`` start). None for a passage whose starts are not those of its
        stored tokens; empty without token states or content pieces in the question."""
        query = self._late_query(qtokens)
        return {} if query is None else self._sentence_scores(query, passages, starts)

    def _sentence_scores(self, query: tuple[np.ndarray, np.ndarray], passages: list[PassageRow],
                         starts: Callable[[PassageRow], np.ndarray]) -> dict[int, list[float] | None]:
        """:meth:`sentence_maxsim` for the question's pieces and weights from :meth:`_late_query`."""
        q, weights = query
        out: dict[int, list[float] | None] = {}
        for p in passages:
            states = self.tokens.states_of(p.row)
            token_starts = starts(p)
            if not _joinable(p) or len(states) != len(token_starts):
                out[p.row] = None
                continue
            # each sentence's first token: the first whose span starts at or after the sentence
            at = np.asarray(token_starts, np.int64) - (len(embed_text(p.title, p.text)) - len(p.text))
            first = np.searchsorted(at, np.cumsum([0] + [len(t) + 1 for _, _, t in p.sentences[:-1]]))
            filled = first < np.append(first[1:], len(at))  # sentences with tokens (not cut off)
            if not filled.any():
                out[p.row] = None
                continue
            best = np.maximum.reduceat(np.einsum("td,md->tm", states, q), first[filled], axis=0)
            scores = np.full(len(p.sentences), np.nan, np.float32)
            scores[filled] = best @ weights / weights.sum()
            # a sentence past the encoder's length limit has no tokens: the passage's mean, neutral
            out[p.row] = np.where(filled, scores, np.nanmean(scores)).tolist()
        return out

    def _late_query(self, qtokens: TokenStates) -> tuple[np.ndarray, np.ndarray] | None:
        """The question's content word pieces for MaxSim and their IDF weights (see _LATE_STOP)."""
        if self.tokens is None or qtokens.pieces is None:
            return None
        keep = [i for i, p in enumerate(qtokens.pieces) if p.isalnum() and p.lower() not in _LATE_STOP]
        if not keep:
            return None
        df = self.tokens.doc_frequency(qtokens.ids[keep])
        n = max(self.size, 1)
        return np.asarray(qtokens.states[keep], np.float32), np.array([idf(int(d), n) for d in df], np.float32)

    def idf_weights(self, terms: list[str], unknown: bool = False) -> dict[str, float]:
        """IDF (over passages) of ``terms``; terms absent from the index are left out,
        or with ``unknown`` weighted as the rarest (a word no article uses)."""
        df = self.doc_frequencies(terms)
        n = max(self.size, 1)
        return {t: idf(df.get(t, 0), n) for t in terms if unknown or df.get(t, 0) > 0}

    def cosines(self, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """Exact cosine of the query with the given passage rows."""
        return _cosines(self.dense_index, qvec, rows)

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

    def doc_frequencies(self, terms: list[str]) -> dict[str, int]:
        """Document frequency (in passages) of stemmed terms."""
        if not terms:
            return {}
        q = f"SELECT term, df FROM terms WHERE term IN ({','.join('?' * len(terms))})"
        return dict(self.db.execute(q, terms).fetchall())

    def rows_mentioning(self, phrase: str, limit: int = 400) -> list[int]:
        """Rows whose text contains ``phrase`` (case-insensitive)."""
        q = "SELECT row FROM passages WHERE instr(lower(text), ?) > 0 ORDER BY row LIMIT ?"
        return [r for (r,) in self.db.execute(q, (phrase.lower(), limit))]
