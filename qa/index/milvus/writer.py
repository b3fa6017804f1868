"""Build or refresh an index in Milvus, as ``qa index`` does in files, and publish it atomically.

Build B (the live one's number plus one) writes, a few hundred passages at a time, the rows of the
documents that are new or changed (``added = B``), then marks the rows those documents replace
(``removed = B``), writes its statistics and documents, and last the ``live:`` row that makes it
the one that answers. Readers of build L see ``added <= L < removed`` only, so nothing B writes is
seen before it is published, and readers still on L keep their rows until the build after B
prunes them. A full build (``--full``, another model or setting, or the first) writes a new
collection and drops the old one once no kept build reads it.

A build that dies (the process, a Ray worker, Milvus) leaves the live build answering; the next
one is numbered B again, keeps the documents whose rows B already wrote in full, rewrites the
rest, and publishes. Vectors come from the embedding cache on this machine, which every chunk
fills: what the dead build embedded is not embedded again.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from embeddings import multilingual
from embeddings.cache import text_key
from embeddings.model import Encoder, model_dir, model_fingerprint, model_name
from qa.errors import ArchiveUnreachable, InputError, LockedError, UserError, model_errors
from qa.index import annotate
from qa.index import build as files
from qa.index.chunking import PIPELINE_VERSION, Passage, chunk_document, embed_text, normalize_ws
from qa.index.milvus import expr
from qa.index.milvus.archive import Archive
from qa.index.milvus.meta import Live, Meta
from qa.index.milvus.reader import ascii_lower, decode_states, encode_states, token_parts
from qa.index.milvus.schema import Shape, create_passages, passages_name, too_long
from qa.index.milvus.sparse import passage_vector
from qa.index.milvus.target import Target
from qa.index.store import FORMAT_VERSION
from qa.ingest.corpus import Document
from qa.text.terms import tokenize

log = logging.getLogger(__name__)

WRITE_CHUNK = 512  # passages embedded and written at a time: what a dead build leaves is reused
LEASE_S = 120.0  # a build that has not written for this long is taken to be dead


def build_milvus(paths: list[Path], target: Target, full: bool = False, progress: bool = False,
                 warn: Callable[[str], None] = log.warning, encoder: Encoder | None = None, lock_wait: float = 0.0,
                 multilingual_vectors: bool = True, ray: str | None = None) -> files.IndexReport:
    """Build or refresh the index in the Milvus ``target`` from ``paths``; publish atomically.
    ``ray``: embed and annotate on a Ray cluster (``""``: a local one)."""
    with model_errors():
        return _Build(paths, target, full, progress, warn, encoder, multilingual_vectors, ray).run(lock_wait)


class Lease:
    """The build under way, recorded in the meta collection: a second ``qa index`` on the same
    collection waits or stops (a guard against accidents; Milvus has no compare-and-set)."""

    def __init__(self, meta: Meta, shown: str, wait: float) -> None:
        self.meta, self.shown, self.wait = meta, shown, wait
        self.me = f"{socket.gethostname()}:{os.getpid()}"

    def __enter__(self) -> Lease:
        deadline = time.monotonic() + self.wait
        while True:
            held = self.meta.get(["lease"]).get("lease")
            owner = json.loads(held) if held else None
            if owner is None or owner["owner"] == self.me or not self._alive(owner):
                break
            if time.monotonic() >= deadline:
                raise LockedError(f"another `qa index` ({owner['owner']}) is updating the Milvus archive at "
                                  f"{self.shown}; wait for it to finish and run again")
            time.sleep(1.0)
        self.refresh()
        return self

    def _alive(self, owner: dict) -> bool:
        if time.time() - float(owner.get("at", 0)) > LEASE_S:
            return False
        host, _, pid = owner["owner"].rpartition(":")
        if host != socket.gethostname():
            return True
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
        return True

    def refresh(self) -> None:
        self.meta.put({"lease": json.dumps({"owner": self.me, "at": time.time()})})

    def __exit__(self, *exc: object) -> None:
        try:
            held = self.meta.get(["lease"]).get("lease")
            if held and json.loads(held)["owner"] == self.me:
                self.meta.delete(["lease"])
        except ArchiveUnreachable:  # Milvus is gone: the lease lapses by itself (LEASE_S, or this pid's end)
            log.info("could not release the build lease on %s", self.shown)


class _Build:
    """One run of ``qa index`` against Milvus."""

    def __init__(self, paths: list[Path], target: Target, full: bool, progress: bool, warn: Callable[[str], None],
                 encoder: Encoder | None, multilingual_vectors: bool, ray: str | None) -> None:
        self.paths, self.target, self.full, self.progress, self.warn = paths, target, full, progress, warn
        self.encoder, self.ray = encoder, ray
        self.archive = Archive(target)
        self.meta = Meta(self.archive, target.collection)
        self.report = files.IndexReport()
        self.ml_on = multilingual_vectors and multilingual.available()
        self.mpath = model_dir()
        self.mfp = model_fingerprint(self.mpath)
        self.ml_fp = multilingual.fingerprint() if self.ml_on else None
        self.ann_fp = annotate.fingerprint() if annotate.available() else None
        self.tokens_setting = os.environ.get("QA_TOKEN_STATES", "1") != "0"
        self._encoders: list[Encoder] = [encoder] if encoder else []

    def main_encoder(self) -> Encoder:
        if not self._encoders:
            self._encoders.append(files.load_encoder())
        return self._encoders[0]

    # ------------------------------------------------------------ the run

    def run(self, lock_wait: float) -> files.IndexReport:
        t0 = time.perf_counter()
        version = self.archive.server_version()
        if version is not None and version < (2, 4):
            raise UserError(f"the Milvus at {self.target.shown} is version {'.'.join(map(str, version))}: the "
                            "index needs 2.4 or later (sparse vectors for BM25, two vector fields)")
        self.meta.ensure()
        with Lease(self.meta, self.target.shown, lock_wait) as lease:
            self.lease = lease
            try:
                self._run()
            finally:
                annotate.forget_preloaded()
        self.report.seconds = time.perf_counter() - t0
        return self.report

    def _same_settings(self, old: dict) -> bool:
        return (old.get("format_version") == FORMAT_VERSION and old.get("pipeline_version") == PIPELINE_VERSION
                and old.get("model", {}).get("fingerprint") == self.mfp
                and (old.get("multilingual") or {}).get("fingerprint") == self.ml_fp
                and old.get("token_states_setting", True) == self.tokens_setting
                and old.get("annotations") == self.ann_fp)

    def _run(self) -> None:
        live = self.meta.live()
        old = (self.meta.get_blob(f"version:{live.version}") or {}) if live else {}
        same = bool(live and old and self._same_settings(old) and self.archive.has(live.collection))
        inputs = files.input_fingerprints(self.paths)
        if same and not self.full and self.meta.get_blob(f"inputs:{live.version}") == inputs:
            self.report.up_to_date = True
            self.report.documents = len(self.meta.get_blob(f"docs:{live.version}") or {})
            self.report.passages = int(old.get("passages", 0))
            self.report.version = f"v{live.version}"
            return
        previous_docs = (self.meta.get_blob(f"docs:{live.version}") or {}) if live else {}
        docs = files.collect(self.paths, lambda m: (self.report.skipped.append(m), self.warn(m)))
        if not docs:
            where = ", ".join(str(p) for p in self.paths)
            raise InputError(f"no usable articles in {where} (.txt, .md, .html or a BEIR .jsonl); "
                             "the previous index, if any, is unchanged")
        files.changes(self.report, previous_docs, docs)
        passages = [(d, p) for d in docs for p in chunk_document(d)]
        want_tokens = self.tokens_setting and len(passages) <= files.TOKEN_STATES_MAX
        incremental = same and not self.full and old["milvus"].get("tokens_wanted") == want_tokens
        number = (live.version if live else 0) + 1
        if incremental:
            collection = live.collection
            written = set(self.report.added) | set(self.report.changed)
            replaced = set(self.report.changed) | set(self.report.removed)
            first_row = int(old["milvus"]["next_row"])
        else:
            collection, written, replaced, first_row = passages_name(self.target.collection, number), None, set(), 0
        todo = [(i, d, p) for i, (d, p) in enumerate(passages) if written is None or d.doc_id in written]
        rows = [i if written is None else first_row + j for j, (i, _, _) in enumerate(todo)]
        # An incremental build keeps what the live one has: token states only if its rows have them.
        w = _Writer(self, number, collection, want_tokens, bool(old["token_states"]) if incremental else want_tokens,
                    int(old["model"]["dim"]) if incremental else None)
        kept = w.resume(todo, rows)
        gone = w.replaced_rows(live, replaced) if incremental else []
        stats = (w.stats_after(self.meta.get_blob(f"stats:{live.version}"), gone, todo) if incremental
                 else w.stats_of(passages))
        if self.ray is not None:
            from qa.index.ray_build import precompute

            precompute(self.ray, [embed_text(d.title, p.text) for _, d, p in todo], w.cache_paths(),
                       want_tokens, [d for d in docs if written is None or d.doc_id in written], self.encoder,
                       self.progress)
        token_df = w.write(todo, rows, kept, stats)
        if incremental:
            w.mark_replaced(live, gone)
            token_df = w.token_df_after(self.meta.get_blob(f"stats:{live.version}"), gone, token_df)
        stats["token_df"] = token_df.tolist() if w.tokens_on else []
        next_row = max([first_row, *(r + 1 for r in rows)])
        w.publish(docs, passages, inputs, stats, next_row, live)
        self.report.documents = len(docs)
        self.report.passages = len(passages)
        self.report.version = f"v{number}"


class _Writer:
    """The writes of build ``number`` into ``collection``."""

    def __init__(self, build: _Build, number: int, collection: str, want_tokens: bool, tokens_on: bool,
                 dim: int | None) -> None:
        self.b = build
        self.number = number
        self.collection = collection
        self.want_tokens = want_tokens  # what the settings ask for (recorded: a change makes a full build)
        self.tokens_on = tokens_on  # what the rows get (an encoder without token states gives none)
        self.dim = dim
        self.exists = build.archive.has(collection)
        if self.exists:
            build.archive.load(collection)

    def cache_paths(self) -> tuple[Path, Path | None]:
        """The embedding caches of the main and multilingual models."""
        return files.cache_file(self.b.mfp), files.cache_file(self.b.ml_fp) if self.b.ml_on else None

    # ------------------------------------------------------------ a dead build's rows

    def resume(self, todo: list[tuple[int, Document, Passage]], rows: list[int]) -> set[str]:
        """Documents whose rows a dead build ``number`` wrote in full (kept); its other rows go."""
        if not self.exists:
            return set()
        found: dict[str, tuple[set[str], set[int]]] = {}
        for r in self.b.archive.query_all(self.collection, f"added == {self.number}", ["row", "doc_id", "fp"]):
            fps, ids = found.setdefault(r["doc_id"], (set(), set()))
            fps.add(r["fp"])
            ids.add(int(r["row"]))
        planned: dict[str, tuple[set[str], set[int]]] = {}
        for (_, d, _), row in zip(todo, rows):
            fps, ids = planned.setdefault(d.doc_id, ({d.fingerprint}, set()))
            ids.add(row)
        kept = {d for d, got in found.items() if planned.get(d) == got}
        stale = sorted(set(found) - kept)
        for s in range(0, len(stale), 500):
            self.b.archive.delete(self.collection, expr.both(f"added == {self.number}",
                                                             expr.one_of("doc_id", stale[s : s + 500])))
        if kept:
            log.info("build v%d: %d documents already written by an earlier run", self.number, len(kept))
        return kept

    # ------------------------------------------------------------ statistics

    def stats_of(self, passages: list[tuple[Document, Passage]]) -> dict:
        """BM25 statistics of all ``passages`` (as qa.index.bm25 computes them)."""
        df: Counter[str] = Counter()
        lengths = np.zeros(len(passages), np.float32)
        for i, (d, p) in enumerate(passages):
            toks = tokenize(embed_text(d.title, p.text))
            lengths[i] = len(toks)
            df.update(set(toks))
        avg = float(lengths.mean()) if len(passages) else 1.0
        return {"n": len(passages), "avgdl": avg, "total_len": int(lengths.sum(dtype=np.float64)), "df": dict(df)}

    def stats_after(self, old: dict | None, gone: list[dict], todo: list[tuple[int, Document, Passage]]) -> dict:
        """The live build's statistics less the replaced passages, plus the new ones."""
        old = old or {"n": 0, "total_len": 0, "df": {}}
        df = Counter(old["df"])
        n, total = int(old["n"]), int(old["total_len"])
        for r in gone:
            toks = tokenize(embed_text(r["title"], r["text"]))
            n, total = n - 1, total - len(toks)
            df.subtract(set(toks))
        for _, d, p in todo:
            toks = tokenize(embed_text(d.title, p.text))
            n, total = n + 1, total + len(toks)
            df.update(set(toks))
        avg = float(np.float32(total / n)) if n else 1.0
        return {"n": n, "avgdl": avg, "total_len": total, "df": {t: c for t, c in df.items() if c > 0}}

    def token_df_after(self, old: dict | None, gone: list[dict], new: np.ndarray) -> np.ndarray:
        """The word-piece frequencies of the live build, less the replaced passages', plus ``new``."""
        if not self.tokens_on:
            return new
        base = np.asarray((old or {}).get("token_df") or [], np.int64)
        keys = {int(r["row"]): [f"t:{self.collection}:{r['row']}#{i}"
                                for i in range(token_parts(int(r["tokens_n"]), self.dim or 0))] for r in gone}
        got = self.b.meta.get([k for ks in keys.values() for k in ks])
        size = max(len(base), len(new))
        for ks in keys.values():
            ids = decode_states(b"".join(base64.b64decode(got[k]) for k in ks if k in got), self.dim or 0)[0]
            if len(ids):
                size = max(size, int(ids.max()) + 1)
                base = _grow(base, size)
                base[np.unique(ids)] -= 1
        return _grow(base, size) + _grow(new, size)

    # ------------------------------------------------------------ passages

    def _ensure_collection(self, dim: int) -> None:
        if self.exists:
            return
        shape = Shape(dim, sparse=True, ml_dim=multilingual.DIM if self.b.ml_on else None)
        self.b.archive.create(lambda c, m, t: create_passages(c, m, self.collection, shape, t))
        self.exists = True

    def write(self, todo: list[tuple[int, Document, Passage]], rows: list[int], kept: set[str],
              stats: dict) -> np.ndarray:
        """Embed and insert the passages of ``todo`` (as rows ``rows``), a chunk at a time; returns
        the word-piece frequencies of all of them."""
        main_cache, ml_cache = self.cache_paths()
        token_df = np.zeros(0, np.int64)
        said: dict[str, dict[int, list[str]]] = {}
        for chunk in _chunks(list(zip(todo, rows)), WRITE_CHUNK):
            texts = [embed_text(d.title, p.text) for (_, d, p), _ in chunk]
            keys = [text_key(t) for t in texts]
            main = files.embed(texts, keys, {}, self.b.main_encoder, main_cache, None, self.b.progress,
                               {} if self.tokens_on else None)
            self.b.report.embedded += main.embedded
            self.b.report.reused += main.reused
            if main.tokens is None:
                self.tokens_on = False
            ml = None
            if self.b.ml_on:
                ml = files.embed(texts, keys, {}, multilingual.MultilingualEncoder, ml_cache, multilingual.DIM,
                                 self.b.progress)
                self.b.report.embedded_multilingual += ml.embedded
            self.dim = int(main.vectors.shape[1])
            if main.tokens is not None:
                for q in main.tokens:
                    ids = np.unique(q.ids)
                    if len(ids):
                        token_df = _grow(token_df, int(ids.max()) + 1)
                        token_df[ids] += 1
            fresh = [(k, item) for k, item in enumerate(chunk) if item[0][1].doc_id not in kept]
            if not fresh:
                continue
            self._ensure_collection(self.dim)
            entities = self._annotate({item[0][1].doc_id: item[0][1] for _, item in fresh}, said)
            if entities:
                self.b.meta.put(entities)
            out = []
            for k, ((_, d, p), row) in fresh:
                tokens = main.tokens[k] if main.tokens is not None else None
                if tokens is not None:
                    parts = encode_states(tokens.ids, tokens.scale, tokens.q)
                    self.b.meta.put({f"t:{self.collection}:{row}#{i}": v for i, v in enumerate(parts)})
                out.append(self._row(row, d, p, texts[k], keys[k], main.vectors[k],
                                     ml.vectors[k] if ml is not None else None, stats,
                                     len(tokens.ids) if tokens is not None else 0, said.get(d.doc_id, {})))
            self.b.archive.insert(self.collection, out)
            self.b.lease.refresh()
        return token_df

    def _annotate(self, docs: dict[str, Document], said: dict[str, dict[int, list[str]]]) -> dict[str, str]:
        """Entity meta rows of ``docs`` (parsed once each), their speakers into ``said``."""
        if not self.b.ann_fp:
            return {}
        todo = [d for doc_id, d in docs.items() if doc_id not in said]
        entity_rows, speaker_rows = files.annotation_rows(todo, {}, [], set())
        for d in todo:
            said[d.doc_id] = {}
        for doc_id, start, name in speaker_rows:
            names = said[doc_id].setdefault(start, [])
            if name not in names:
                names.append(name)
        return {f"e:{k}": v for k, v in entity_rows.items()}

    def _row(self, row: int, d: Document, p: Passage, text: str, key: str, vec: np.ndarray,
             ml_vec: np.ndarray | None, stats: dict, tokens_n: int, said: dict[int, list[str]]) -> dict:
        """A passage as a row of the collection."""
        names = [sorted(said.get(a, [])) for a, _ in p.sentences]
        out = {
            "row": row, "added": self.number, "removed": expr.LIVE, "doc_id": d.doc_id, "chunk_id": p.chunk_id,
            "fp": d.fingerprint, "key": key, "text": p.text, "text_lc": ascii_lower(p.text),
            "sentences": json.dumps([[a, b, normalize_ws(d.text[a:b])] for a, b in p.sentences]),
            "speakers": json.dumps(names), "speakers_lc": "\n".join(ascii_lower(n) for ns in names for n in ns),
            "title": d.title or "", "source": d.source or "", "date": d.date or "",
            "year_hint": -1 if d.year_hint is None else int(d.year_hint), "path": d.path or "",
            "language": d.language or "", "url": d.meta.get("url") or "", "start_char": p.start, "end_char": p.end,
            "tokens_n": tokens_n, "dense": np.asarray(vec, np.float32).tolist(),
            "sparse": passage_vector(tokenize(text), stats["avgdl"]),
        }
        if ml_vec is not None:
            out["dense_ml"] = np.asarray(ml_vec, np.float32).tolist()
        bad = too_long(out)
        if bad:
            raise InputError(f"{d.doc_id}: passage {p.chunk_id} is too long for Milvus's {bad} field")
        return out

    # ------------------------------------------------------------ what the build replaces

    def replaced_rows(self, live: Live, replaced: set[str]) -> list[dict]:
        """The live build's rows of the documents this build changes or removes (whole rows)."""
        out: list[dict] = []
        ids = sorted(replaced)
        for s in range(0, len(ids), 500):
            cond = expr.both(expr.visible(live.version), expr.one_of("doc_id", ids[s : s + 500]))
            out += list(self.b.archive.query_all(self.collection, cond, ["*"]))
        return out

    def mark_replaced(self, live: Live, gone: list[dict]) -> None:
        """Rows ``gone`` get ``removed = number``; rows a dead build marked but this one keeps get
        theirs back."""
        marked = [{**r, "removed": self.number} for r in gone if int(r["removed"]) != self.number]
        self.b.archive.upsert(self.collection, [_writable(r) for r in marked])
        gone_ids = {int(r["row"]) for r in gone}
        wrongly = [r for r in self.b.archive.query_all(self.collection, f"removed == {self.number}", ["*"])
                   if int(r["row"]) not in gone_ids]
        self.b.archive.upsert(self.collection, [_writable({**r, "removed": expr.LIVE}) for r in wrongly])

    # ------------------------------------------------------------ publication

    def publish(self, docs: list[Document], passages: list[tuple[Document, Passage]], inputs: dict, stats: dict,
                next_row: int, live: Live | None) -> None:
        """Write the build's blobs, then its ``live:`` row; prune what no kept build reads."""
        b = self.b
        counts = Counter(d.doc_id for d, _ in passages)
        documents = {d.doc_id: {"fingerprint": d.fingerprint, "path": d.path, "title": d.title, "source": d.source,
                                "date": d.date, "year_hint": d.year_hint, "language": d.language,
                                "passages": counts.get(d.doc_id, 0),
                                **{k: d.meta[k] for k in ("url", "also_published_by") if d.meta.get(k)}}
                     for d in docs}
        manifest = {
            "format_version": FORMAT_VERSION, "pipeline_version": PIPELINE_VERSION,
            "model": {"name": model_name(b.mpath), "fingerprint": b.mfp, "dim": int(self.dim or 0)},
            "multilingual": ({"name": multilingual.NAME, "fingerprint": b.ml_fp, "dim": multilingual.DIM}
                             if b.ml_on else None),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "sources": [str(p.resolve()) for p in b.paths],
            "passages": len(passages), "dense_index": "milvus-flat", "token_states": self.tokens_on,
            "token_states_setting": b.tokens_setting, "annotations": b.ann_fp,
            "milvus": {"collection": self.collection, "sparse": True, "next_row": next_row, "build": self.number,
                       "tokens_wanted": self.want_tokens},
        }
        for name, blob in (("stats", stats), ("docs", documents), ("inputs", inputs), ("version", manifest)):
            b.meta.put_blob(f"{name}:{self.number}", blob)
        b.meta.publish(Live(self.number, self.collection))
        if live is not None:
            prune(b.archive, b.meta, Live(self.number, self.collection), live, int(self.dim or 0))


def prune(archive: Archive, meta: Meta, new: Live, previous: Live, dim: int) -> None:
    """Remove what neither ``new`` nor ``previous`` (the builds readers may hold) reads: rows
    replaced at or before ``previous`` (and their token states), older blobs, collections of
    older full builds."""
    if archive.has(new.collection):
        cond = f"removed <= {previous.version}"
        old = list(archive.query_all(new.collection, cond, ["row", "tokens_n"]))
        archive.delete(new.collection, cond)
        meta.delete([f"t:{new.collection}:{r['row']}#{i}" for r in old
                     for i in range(token_parts(int(r["tokens_n"]), dim))])
    for kind in ("version", "docs", "inputs", "stats"):
        for key in meta.keys(f"{kind}:"):
            head = key.split("#")[0]
            if "#" not in key and int(head.split(":")[1]) < previous.version:
                meta.delete_blob(head)
    base = meta.base + "_v"
    for name in archive.list():
        if name.startswith(base) and name[len(base):].isdigit() and name not in (new.collection, previous.collection):
            archive.drop(name)
            meta.archive.delete(meta.name, f"key like {expr.literal(f't:{name}:%')}")


def _writable(row: dict) -> dict:
    """A row as read back, ready to be written again."""
    out = {k: v for k, v in row.items() if k != "id"}
    if "sparse" in out and not isinstance(out["sparse"], dict):
        out["sparse"] = dict(out["sparse"])
    return out


def _grow(a: np.ndarray, size: int) -> np.ndarray:
    return a if len(a) >= size else np.concatenate([a, np.zeros(size - len(a), a.dtype)])


def _chunks(items: list, size: int) -> Iterator[list]:
    for s in range(0, len(items), size):
        yield items[s : s + size]

