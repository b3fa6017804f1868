"""``Engine``: open an index once, answer many questions. Both front ends use it.

The engine is thread-safe for queries. ``reload_if_changed`` switches to a newer
index version between questions; a question in flight finishes on the version
it started with.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from embeddings.token_index import TokenStates
from qa import answer as ans
from qa.chunking import embed_text
from qa.errors import QuestionError
from qa.lexical import tokenize
from qa.retrieve import FOLD_WINDOW, Candidate, PassageRow, Retriever, fold_overlaps, join_overlapping
from qa.store import IndexUnusable, check_compatible, current_version_name, default_index_dir, open_current
from qa.types import Answer, Citation, CorpusStats, Hit, SourceInfo

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
TOKEN_STARTS_CACHED = 4096  # passages whose token offsets an engine keeps (for the sentence MaxSim)


def project_seeds() -> Path:
    """The default corpus: ``QA_SEEDS_DIR``, ``./seeds``, or the project's ``seeds/``."""
    env = os.environ.get("QA_SEEDS_DIR")
    if env:
        return Path(env)
    here = Path.cwd() / "seeds"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[1] / "seeds"


_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)\s]+\)")
_MD_EMPHASIS = re.compile(r"(?<!\w)(\*\*|__|\*|_|`)(\S(?:.*?\S)?)\1(?!\w)")


def strip_markup(text: str) -> str:
    """The words of a question pasted with HTML or Markdown: tags, entities, emphasis and links removed."""
    if "<" in text or "&" in text:  # the articles' HTML reader, imported only when needed (cold start)
        from qa.corpus import html_to_text

        text = html_to_text(text)
    text = _MD_LINK.sub(r"\1", text)
    for _ in range(2):  # **_nested_**
        text = _MD_EMPHASIS.sub(r"\2", text)
    return text


def clean_question(question: str) -> str:
    """Normalise a question (markup removed); raise QuestionError if it is empty or too long."""
    q = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in question)
    if len(q) <= 4 * MAX_QUESTION_CHARS:
        q = strip_markup(q)
    q = " ".join(q.split())
    if not q:
        raise QuestionError("the question is empty")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS:,}")
    return q


# Rerank bonus for a passage in which the person a "what did X say" question names is speaking.
# Chosen on both question sets (eval/ and a held-out one): hit@1 is the same for 0.1-0.3.
SPEAKER_WEIGHT = 0.2


class Engine:
    """Search and answer over one index folder."""

    def __init__(self, index_dir: Path, encoder_loader: Callable | None = None) -> None:
        self.index_dir = Path(index_dir)
        self._encoder_loader = encoder_loader
        self._encoder = None
        self._ml_encoder = None
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._warned_tokens = False
        self._starts_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._retriever = self._open()

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, index_dir: Path | None = None, build_if_missing: bool = True,
             notify: Callable[[str], None] | None = None, progress: bool = False) -> Engine:
        """Open the index (building it from the seeds first if there is none)."""
        seeds = project_seeds()
        root = Path(index_dir) if index_dir else default_index_dir(seeds)
        if current_version_name(root) is None:
            if not build_if_missing:
                raise IndexUnusable(f"no index at {root}; build it with `qa index`")
            if notify:
                notify(f"No index at {root} yet: building it from {seeds} (first use only)...")
            from qa.indexer import build_index

            build_index([seeds], root, progress=progress, lock_wait=600)
        return cls(root)

    def _open(self) -> Retriever:
        from embeddings.model import model_dir, model_fingerprint, model_name

        version = open_current(self.index_dir)
        if version is None:
            raise IndexUnusable(f"no index at {self.index_dir}; build it with `qa index`")
        mpath = model_dir()
        check_compatible(version.manifest, model_name(mpath), model_fingerprint(mpath), None, self.index_dir)
        return Retriever(version)

    @property
    def version(self) -> str:
        return self._retriever.version.name

    def reload_if_changed(self) -> bool:
        """Switch to a newer index version if one was published; True if switched."""
        name = current_version_name(self.index_dir)
        if name is None or name == self._retriever.version.name:
            return False
        with self._reload_lock:
            if current_version_name(self.index_dir) == self._retriever.version.name:
                return False
            new = self._open()
            old, self._retriever = self._retriever, new
        log.info("switched index %s -> %s", old.version.name, new.version.name)
        return True

    @property
    def encoder(self):
        """The query encoder, loaded on first use."""
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    if self._encoder_loader:
                        enc = self._encoder_loader()
                    else:
                        from embeddings.model import load_encoder

                        enc = load_encoder()
                    dim = self._retriever.version.manifest["model"]["dim"]
                    if enc.dim != dim:
                        raise IndexUnusable(f"index dimension {dim} differs from the model's {enc.dim}; "
                                            "rebuild it with `qa index --full`")
                    self._encoder = enc
        return self._encoder

    @property
    def ml_encoder(self):
        """The multilingual encoder (questions not in English), loaded on first use."""
        if self._ml_encoder is None:
            with self._lock:
                if self._ml_encoder is None:
                    from embeddings.multilingual import MultilingualEncoder

                    self._ml_encoder = MultilingualEncoder(threads=1)
        return self._ml_encoder

    def _foreign(self, r: Retriever, text: str) -> bool:
        from embeddings.multilingual import is_foreign

        return r.ml_index is not None and is_foreign(text)

    def warm_up(self) -> None:
        """Load the encoder and touch the indexes so the first question is fast."""
        self.search("peace treaty", k=1)

    # ------------------------------------------------------------ queries

    def _embed(self, text: str):
        return self.encoder.encode([text])[0]

    def _queries(self, r: Retriever, texts: list[str],
                 tokens: bool = True) -> tuple[np.ndarray, list[TokenStates | None]]:
        """Question vectors and, with ``tokens`` when the index keeps token states, the
        questions' token states (for the rerank's MaxSim term; one forward pass gives both)."""
        enc = self.encoder
        if not tokens or r.tokens is None:
            return enc.encode(texts), [None] * len(texts)
        if not getattr(enc, "token_states", False):
            if not self._warned_tokens:
                self._warned_tokens = True
                log.warning("the index has token states but the encoder (%s) gives none: "
                            "ranking without MaxSim", enc.name)
            return enc.encode(texts), [None] * len(texts)
        vecs, states = enc.encode_tokens(texts)
        return vecs, list(states)

    def _candidates(self, r: Retriever, query: str, k: int, mode: str = "rerank") -> list[Candidate]:
        if mode != "bm25" and self._foreign(r, query):
            return r.foreign(query, self.ml_encoder.encode([query])[0], k=k)
        if mode == "bm25":
            from embeddings.multilingual import is_foreign

            # names are what BM25 can match in a question in another script: Лавров -> Lavrov
            return self._ranked(r, ans.transliterate(query) if is_foreign(query) else query, None, k, mode)
        vecs, states = self._queries(r, [query], tokens=mode == "rerank")
        return self._ranked(r, query, vecs[0], k, mode, states[0])

    def _ranked(self, r: Retriever, query: str, qvec, k: int, mode: str,
                qtokens: TokenStates | None = None) -> list[Candidate]:
        """The retriever's top ``k``; in rerank mode a "what did X say" question also favours
        passages in which X is the speaker (not merely mentioned)."""
        speaker = ans.parse_speaker_question(query) if mode == "rerank" else None
        boost = None
        if speaker is not None:
            surname = speaker.surname

            def boost(p: PassageRow) -> float:
                return SPEAKER_WEIGHT if ans.speaks_in(p, surname) else 0.0

        return r.hybrid(query, qvec, k=k, mode=mode, qtokens=qtokens, boost=boost, starts=self._starts(qtokens))

    def search(self, query: str, k: int = 10, mode: str = "rerank") -> list[Hit]:
        """Top ``k`` passages for ``query`` (passages that overlap are folded into one result)."""
        query = clean_question(query)
        r = self._retriever
        return _hits(r, self._candidates(r, query, _draw(k), mode), k)

    def search_many(self, queries: list[str], k: int = 10, mode: str = "rerank") -> list[list[Hit]]:
        """``search`` for many queries, embedding them in batches."""
        r = self._retriever
        qs = [clean_question(q) for q in queries]
        vecs, states = (self._queries(r, qs, tokens=mode == "rerank") if mode != "bm25"
                        else ([None] * len(qs), [None] * len(qs)))
        out = []
        for q, v, t in zip(qs, vecs, states):
            n = _draw(k)
            cands = (self._candidates(r, q, n, mode) if mode == "bm25" or self._foreign(r, q)
                     else self._ranked(r, q, v, n, mode, t))
            out.append(_hits(r, cands, k))
        return out

    def ask(self, question: str, k: int = 8) -> Answer:
        """An extractive, cited answer to ``question`` (or an honest abstention)."""
        question = clean_question(question)
        r = self._retriever
        if self._foreign(r, question):
            return self._ask_foreign(r, question, k)
        vecs, states = self._queries(r, [question])
        qvec = vecs[0]
        speaker = ans.parse_speaker_question(question)
        if speaker:
            result = self._statements(r, question, qvec, speaker)
            if result is not None:
                return result
        cands = self._ranked(r, question, qvec, k, "rerank", states[0])
        rows = r.passages([c.row for c in cands])
        terms = ans.question_terms(question)
        weights = r.idf_weights(terms, unknown=True)
        best_cov = max((ans.coverage(terms, weights, rows[c.row].text) for c in cands), default=0.0)
        best_dense = max((c.dense for c in cands), default=0.0)
        doubtful = ans.should_abstain(best_dense, best_cov)
        if not cands or (doubtful and best_cov < ans.COVERAGE_MIN):
            return _abstain(question)
        recent = ans.wants_recent(question)
        late = {c.row: c.sentence_late for c in cands[: ans.ANSWER_PASSAGES]}  # from the rerank
        picked = ans.pick_sentences(cands, rows, terms, weights, recent, late=late)
        if doubtful:
            # A short question ("Aegis Ashore") is close to a sentence, not to a whole passage:
            # judge it by the best sentences too (rarely needed, so they are encoded only here).
            if not picked:
                return _abstain(question)
            sentence_dense = float(np.max(self.encoder.encode([p.text for p in picked[:3]]) @ np.ravel(qvec)))
            if ans.should_abstain(max(best_dense, sentence_dense), best_cov):
                return _abstain(question)
        return _compose(question, picked, recent)

    def _starts(self, qtokens: TokenStates | None) -> Callable[[PassageRow], np.ndarray] | None:
        """Where the encoder's tokens of a passage's embedded text start, if it can tell (and the
        question has token states to compare)."""
        if qtokens is None or not hasattr(self.encoder, "token_spans"):
            return None
        return lambda p: self._token_starts(embed_text(p.title, p.text))

    def _token_starts(self, text: str) -> np.ndarray:
        """Where each of the encoder's tokens of ``text`` starts; cached per engine (the same
        passages come back often; 1-2 KB an entry with its key, at most TOKEN_STARTS_CACHED)."""
        with self._lock:
            hit = self._starts_cache.get(text)
            if hit is not None:
                self._starts_cache.move_to_end(text)
                return hit
        starts = np.array([a for a, _ in self.encoder.token_spans([text])[0]], np.int32)
        starts.setflags(write=False)
        with self._lock:
            self._starts_cache[text] = starts
            if len(self._starts_cache) > TOKEN_STARTS_CACHED:
                self._starts_cache.popitem(last=False)
        return starts

    def _ask_foreign(self, r: Retriever, question: str, k: int) -> Answer:
        """A question not in English: multilingual retrieval, sentences chosen by meaning."""
        mlvec = self.ml_encoder.encode([question])[0]
        speaker = ans.parse_speaker_question(question)
        if speaker:
            rows_with_name = r.rows_mentioning(speaker.surname)
            if rows_with_name:
                picked = ans.pick_statements(r.passages(rows_with_name), r.ml_cosines(mlvec, rows_with_name),
                                             speaker.surname, [], {}, limit=3 * ans.MAX_STATEMENTS)
                if picked and speaker.topic:  # "... say about Y": the statements closest to Y, by meaning
                    sims = self.ml_encoder.encode([p.text for p in picked]) @ mlvec
                    picked = [picked[i] for i in np.argsort(-sims, kind="stable")]
                picked = picked[: ans.MAX_STATEMENTS]
                if picked:
                    return _compose(question, picked, False,
                                    header=f"What {speaker.name} said, according to the articles:")
        cands = r.foreign(question, mlvec, k=k)
        rows = r.passages([c.row for c in cands])
        names = [t for n in ans.question_names(question) for t in tokenize(n)]
        name_match = bool(names) and any(set(names) & set(tokenize(p.text)) for p in rows.values())
        if not cands or ans.should_abstain_foreign(max(c.dense for c in cands), name_match):
            return _abstain(question)
        sentences = [(c, text) for c in cands[:3] for _, _, text in rows[c.row].sentences if len(text) >= 25]
        sims = self.ml_encoder.encode([t for _, t in sentences]) @ mlvec if sentences else []
        top = cands[0].score or 1.0
        recent = ans.wants_recent(question)
        items = [ans.Picked(t, rows[c.row], float(sim) + 0.5 * c.score / top, c.score)
                 for (c, t), sim in zip(sentences, sims)]
        picked = ans.best_sentences(items, recent)
        return _compose(question, picked, recent)

    def _statements(self, r: Retriever, question: str, qvec, speaker: ans.SpeakerQuestion) -> Answer | None:
        rows_with_name = r.rows_mentioning(speaker.surname)
        if not rows_with_name:
            return None
        topic = speaker.topic
        if topic:
            tvec = self._embed(f"{speaker.name} {topic}")
            cos = r.cosines(tvec, rows_with_name)
        else:
            cos = r.cosines(qvec, rows_with_name)
        rows = r.passages(rows_with_name)
        terms = ans.question_terms(topic) if topic else []
        weights = r.idf_weights(terms)
        picked = ans.pick_statements(rows, cos, speaker.surname, terms, weights)
        if not picked:
            return None
        if topic and terms and max(ans.coverage(terms, weights, s.text) for s in picked) == 0 \
                and max(cos.values()) < ans.DENSE_ANSWERABLE:
            return _abstain(question, f"The articles quote {speaker.name}, but not on {topic}.")
        return _compose(question, picked, False, header=f"What {speaker.name} said, according to the articles:")

    # ------------------------------------------------------------ corpus

    def sources(self) -> list[SourceInfo]:
        """The indexed articles, newest first (undated last)."""
        q = "SELECT doc_id, title, source, date, path, language, passages, year_hint FROM docs"
        rows = self._retriever.db.execute(q).fetchall()
        rows.sort(key=lambda r: (r[3] or "", r[7] or 0, r[0]), reverse=True)
        docs = self._retriever.version.manifest.get("documents", {})
        return [SourceInfo(*r[:7], url=docs.get(r[0], {}).get("url"),
                           also_published_by=docs.get(r[0], {}).get("also_published_by", [])) for r in rows]

    def stats(self) -> CorpusStats:
        """Counts, outlets and date range of the indexed articles."""
        src = self.sources()
        dates = sorted(s.date for s in src if s.date)
        hints = [y for (y,) in self._retriever.db.execute(
            "SELECT year_hint FROM docs WHERE date IS NULL AND year_hint IS NOT NULL")]
        return CorpusStats(documents=len(src), passages=self._retriever.size,
                           outlets=sorted({s.source for s in src if s.source}),
                           date_min=dates[0] if dates else None, date_max=dates[-1] if dates else None,
                           undated=sum(1 for s in src if not s.date),
                           years_mentioned=(min(hints), max(hints)) if hints else None)


def _draw(k: int) -> int:
    """Candidates to draw for ``k`` results: overlapping ones fold into one (fold_overlaps)."""
    return 2 * k + FOLD_WINDOW


def _hits(r: Retriever, cands: list[Candidate], k: int) -> list[Hit]:
    """The top ``k`` results, overlapping passages folded into one (each with its best score)."""
    rows = r.passages([c.row for c in cands])
    folded = fold_overlaps([rows[c.row] for c in cands])[:k]
    return [_hit(p, rank, cands[first].score) for rank, (p, first) in enumerate(folded, 1)]


def _hit(p: PassageRow, rank: int, score: float) -> Hit:
    return Hit(rank=rank, doc_id=p.doc_id, chunk_id=p.chunk_id, score=round(float(score), 6), text=p.text,
               title=p.title, source=p.source, date=p.date, path=p.path, start=p.start, end=p.end, url=p.url)


def _abstain(question: str, why: str | None = None) -> Answer:
    text = why or "The articles don't cover this: no passage in the indexed articles answers the question."
    return Answer(question=question, answer=text, abstained=True, citations=[])


def _compose(question: str, picked: list[ans.Picked], recent: bool, header: str | None = None) -> Answer:
    """Answer text with ``[n]`` markers, and the numbered citations."""
    # Cited passages that overlap are one source, numbered by first use.
    sources = join_overlapping(list({s.passage.row: s.passage for s in picked}.values()))
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    lines = []
    for s in picked:
        p = s.passage
        j = next(i for i, src in enumerate(sources)
                 if src.doc_id == p.doc_id and src.start <= p.start and p.end <= src.end)
        if j not in numbers:
            numbers[j] = len(numbers) + 1
            hit = _hit(sources[j], len(numbers), s.passage_score)
            citations.append(Citation(**asdict(hit), n=numbers[j]))
        prefix = ""
        if header or recent:
            prefix = f"({ans.when(p)}, {p.source or 'unknown outlet'}) "
        lines.append(f"{'- ' if header else ''}{prefix}{s.text} [{numbers[j]}]")
    body = "\n".join(lines) if header else " ".join(lines)
    if recent and any(s.passage.date for s in picked):
        body = f"Most recent source first. {body}"
    elif recent and picked:  # no stated dates: the order is only by the years the articles mention
        body = f"Newest first by the years the articles mention (none states its date). {body}"
    if header:
        body = f"{header}\n{body}"
    return Answer(question=question, answer=body, abstained=False, citations=citations)
