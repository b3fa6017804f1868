"""``Engine``: open an index once, answer many questions. Both front ends use it and nothing else.

Orchestration only: a question is parsed into a ``Query`` (``qa/question/query.py``), given its vectors by
the encoders here, ranked by ``qa/search/retrieve.py`` over an ``IndexReader`` (``qa/index/reader.py``)
and answered by ``qa/answer/``. The engine is thread-safe for queries; ``reload_if_changed``
switches to a newer index version between questions, and a question in flight finishes on the
version it started with.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qa import answer as answers
from qa.errors import IndexUnusable, model_errors
from qa.index.backend import Backend, backend_for
from qa.index.chunking import embed_text
from qa.index.passages import PassageRow, draw
from qa.index.reader import IndexReader
from qa.index.store import check_compatible, default_index_dir
from qa.index.where import Where
from qa.ingest.corpus import project_seeds
from qa.question.query import MAX_QUESTION_CHARS, Query, clean_question, parse_query  # noqa: F401 (re-exported)
from qa.search.retrieve import Mode, hits, multilingual, retrieve
from qa.search.scorers import TokenStarts
from qa.types import Answer, CorpusStats, Hit, SourceInfo

log = logging.getLogger(__name__)

TOKEN_STARTS_CACHED = 4096  # passages whose token offsets an engine keeps (for the sentence MaxSim)
ASK_PASSAGES = 8  # passages an answer is drawn from
RECENT_PASSAGES = 20  # for a question about the present: where to look for the newest source


class Engine:
    """Search and answer over one index folder."""

    def __init__(self, index_dir: Path, encoder_loader: Callable | None = None,
                 backend: Backend | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.backend = backend or backend_for(self.index_dir)  # the folder, or Milvus (QA_MILVUS_URI)
        self._encoder_loader = encoder_loader
        self._encoder = None
        self._ml_encoder = None
        self._reader = None
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._warned_tokens = False
        self._starts_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._index = self._open()

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, index_dir: Path | None = None, build_if_missing: bool = True,
             notify: Callable[[str], None] | None = None, progress: bool = False) -> Engine:
        """Open the index (building it from the seeds first if there is none)."""
        seeds = project_seeds()
        root = Path(index_dir) if index_dir else default_index_dir(seeds)
        backend = backend_for(root)
        if backend.current_name() is None:
            if not build_if_missing:
                raise IndexUnusable(f"no index at {backend.where}; build it with `qa index`")
            if notify:
                notify(f"No index at {backend.where} yet: building it from {seeds} (first use only)...")
            backend.build([seeds], progress=progress, lock_wait=600)
        return cls(root, backend=backend)

    def _open(self) -> IndexReader:
        from embeddings.model import model_dir, model_fingerprint, model_name

        version = self.backend.open_current()
        if version is None:
            raise IndexUnusable(f"no index at {self.backend.where}; build it with `qa index`")
        with model_errors():
            mpath = model_dir()
            check_compatible(version.manifest, model_name(mpath), model_fingerprint(mpath), None, self.backend.where)
        return self.backend.reader(version)

    @property
    def version(self) -> str:
        return self._index.version.name

    @property
    def index(self) -> IndexReader:
        """The index version in use."""
        return self._index

    def reload_if_changed(self) -> bool:
        """Switch to a newer index version if one was published; True if switched."""
        name = self.backend.current_name()
        if name is None or name == self._index.version.name:
            return False
        with self._reload_lock:
            if self.backend.current_name() == self._index.version.name:
                return False
            new = self._open()
            old, self._index = self._index, new
        log.info("switched index %s -> %s", old.version.name, new.version.name)
        return True

    # ------------------------------------------------------------ encoders

    @property
    def encoder(self):
        """The query encoder, loaded on first use."""
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    from embeddings.model import load_encoder

                    with model_errors():
                        enc = self._encoder_loader() if self._encoder_loader else load_encoder()
                    dim = self._index.version.manifest["model"]["dim"]
                    if enc.dim != dim:
                        raise IndexUnusable(f"index dimension {dim} differs from the model's {enc.dim}; "
                                            "rebuild it with `qa index --full`")
                    self._encoder = enc
        return self._encoder

    @property
    def reader(self):
        """The reader model (``embeddings.reader``), loaded on first use; None when none is
        installed or ``QA_READER=0`` (answers then follow the rules alone)."""
        if self._reader is None:
            with self._lock:
                if self._reader is None:
                    from embeddings import reader

                    if not reader.available():
                        self._reader = False
                    else:
                        with model_errors():
                            self._reader = reader.Reader()
        return self._reader or None

    @property
    def ml_encoder(self):
        """The multilingual encoder (questions not in English), loaded on first use."""
        if self._ml_encoder is None:
            with self._lock:
                if self._ml_encoder is None:
                    from embeddings.multilingual import MultilingualEncoder

                    self._ml_encoder = MultilingualEncoder(threads=1)
        return self._ml_encoder

    def warm_up(self) -> None:
        """Load the encoder and touch the indexes so the first question is fast."""
        self.search("peace treaty", k=1)

    def _encode(self, index: IndexReader, queries: list[Query], mode: Mode) -> list[Query]:
        """``queries`` with the vectors their path needs: multilingual for another script (when the
        index has them), none for BM25, else MiniLM's, with token states in rerank mode when the
        index keeps them (one forward pass gives both)."""
        out = list(queries)
        ml = [i for i, q in enumerate(queries) if mode is not Mode.BM25 and multilingual(index, q)]
        if ml:
            vecs = self.ml_encoder.encode([queries[i].text for i in ml])
            for i, v in zip(ml, vecs):
                out[i] = queries[i].encoded(ml_vector=v)
        main = [i for i in range(len(queries)) if mode is not Mode.BM25 and i not in ml]
        if not main:
            return out
        texts = [queries[i].text for i in main]
        enc = self.encoder
        states: list = [None] * len(main)
        if mode is Mode.RERANK and index.tokens is not None and getattr(enc, "token_states", False):
            vecs, got = enc.encode_tokens(texts)
            states = list(got)
        else:
            if mode is Mode.RERANK and index.tokens is not None and not self._warned_tokens:
                self._warned_tokens = True
                log.warning("the index has token states but the encoder (%s) gives none: ranking without MaxSim",
                            enc.name)
            vecs = enc.encode(texts)
        for i, v, s in zip(main, vecs, states):
            out[i] = queries[i].encoded(vector=v, tokens=s)
        return out

    def _space(self, query: Query) -> answers.Space:
        """The space ``query``'s answer compares texts in."""
        if query.ml_vector is not None:
            return answers.Space(True, query.ml_vector, self.ml_encoder.encode)
        return answers.Space(False, query.vector, self.encoder.encode)

    # ------------------------------------------------------------ token offsets (sentence MaxSim)

    def _starts(self, query: Query) -> TokenStarts | None:
        """Where the encoder's tokens of a passage's embedded text start, if it can tell (and the
        question has token states to compare)."""
        if query.tokens is None or not hasattr(self.encoder, "token_spans"):
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

    # ------------------------------------------------------------ questions

    def query(self, question: str, mode: str | Mode = Mode.RERANK) -> Query:
        """``question`` parsed, with the vectors ``mode`` needs."""
        return self._encode(self._index, [parse_query(question)], Mode(mode))[0]

    def search(self, query: str, k: int = 10, mode: str | Mode = Mode.RERANK, where: Where | None = None) -> list[Hit]:
        """Top ``k`` passages for ``query`` (passages that overlap are folded into one result; ``where``:
        only from the articles it admits)."""
        return self.search_many([query], k, mode, where)[0]

    def search_many(self, queries: list[str], k: int = 10, mode: str | Mode = Mode.RERANK,
                    where: Where | None = None) -> list[list[Hit]]:
        """``search`` for many queries, embedding them in one batch."""
        mode = Mode(mode)
        index = self._index
        parsed = self._encode(index, [parse_query(q) for q in queries], mode)
        return [hits(index, retrieve(index, q, draw(k), mode, self._starts(q), where), k) for q in parsed]

    def ask(self, question: str, k: int = ASK_PASSAGES, where: Where | None = None) -> Answer:
        """An extractive, cited answer to ``question`` (or an honest abstention), from the articles
        ``where`` admits (all by default)."""
        index = self._index
        query = self._encode(index, [parse_query(question)], Mode.RERANK)[0]
        space = self._space(query)
        if query.speaker is not None:
            said = self._statements(index, query, space, where)
            if said is not None:
                return said
        cands, rows, weights, entities = self._candidates(index, query, k, where)
        return answers.answer(query, cands, rows, weights, space, entities, passages=k, reader=self.reader)

    def draft(self, question: str, k: int = ASK_PASSAGES) -> answers.Draft | None:
        """What ``ask`` weighs before it answers: the candidate sentences with their scores and the
        reader's evidence (None for a "what did X say" question or one in another script, which
        take other paths). For tools that fit or explain the answer layer."""
        index = self._index
        query = self._encode(index, [parse_query(question)], Mode.RERANK)[0]
        space = self._space(query)
        if query.speaker is not None or space.multilingual:
            return None
        cands, rows, weights, entities = self._candidates(index, query, k)
        return answers.draft(query, cands, rows, weights, space, entities, passages=k, reader=self.reader)

    def _candidates(self, index: IndexReader, query: Query, k: int, where: Where | None = None):
        """The ranked passages an answer is drawn from: candidates, their rows, the question's term
        weights and the sentences' entities."""
        cands = retrieve(index, query, max(k, RECENT_PASSAGES) if query.recent else k, Mode.RERANK,
                         self._starts(query), where)
        rows = index.passages([c.row for c in cands])
        entities = index.entities([t for c in cands for _, _, t in rows[c.row].sentences])
        return cands, rows, index.idf_weights(query.terms, unknown=True), entities

    def _statements(self, index: IndexReader, query: Query, space: answers.Space,
                    where: Where | None = None) -> Answer | None:
        """"What did X say": the passages naming X, compared with the question (or with "X topic"
        when it has a topic), for :func:`qa.answer.statements`."""
        who = query.speaker
        named = sorted(set(index.rows_mentioning(who.surname)) | set(index.rows_spoken_by(who.surname)))
        if where and named:
            found = index.passages(named)
            named = [r for r in named if where.admits(found[r].date, found[r].source)]
        if not named:
            return answers.abstention(query.text, answers.not_named(who.name))
        if space.multilingual:
            cos = index.ml_cosines(space.vector, named)
        elif who.topic:
            cos = index.cosines(self.encoder.encode([f"{who.name} {who.topic}"])[0], named)
        else:
            cos = index.cosines(space.vector, named)
        weights = index.idf_weights(who.topic_terms) if who.topic and not space.multilingual else {}
        rows = index.passages(named)
        return answers.statements(query, rows, cos, weights, space, index.speakers(named, rows))

    # ------------------------------------------------------------ corpus

    def passages(self, rows: list[int]) -> dict[int, PassageRow]:
        """Stored passages by row (for tools and tests)."""
        return self._index.passages(rows)

    def sources(self) -> list[SourceInfo]:
        """The indexed articles, newest first (undated last)."""
        return self._index.sources()

    def stats(self) -> CorpusStats:
        """Counts, outlets and date range of the indexed articles."""
        return self._index.stats()
