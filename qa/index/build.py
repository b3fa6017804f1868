"""Build or refresh the index folder from article files and BEIR corpora.

Only what changed is re-embedded: vectors are reused from the live version and
from the content-hash cache. With nothing changed, the check costs one hash per
input file and the model is never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embeddings import multilingual, token_index, vector_index
from embeddings.cache import EmbeddingCache, text_key
from embeddings.model import Encoder, load_encoder, model_dir, model_fingerprint, model_name
from embeddings.token_index import Quantized
from qa import progress as bars
from qa.errors import InputError, model_errors
from qa.index import annotate
from qa.index.bm25 import LexicalIndex
from qa.index.chunking import PIPELINE_VERSION, Passage, chunk_document, document_sentences, embed_text, normalize_ws
from qa.index.nlp import nlp
from qa.index.store import (
    FORMAT_VERSION,
    IndexLock,
    IndexUnusable,
    Version,
    create_db,
    new_version_dir,
    open_current,
    open_db,
    publish,
)
from qa.ingest.corpus import BadDocument, Document, iter_beir, iter_files, load_file, sidecar_path
from qa.text.terms import tokenize

log = logging.getLogger(__name__)

# Token states for MaxSim (embeddings/token_index.py) cost ~90 KB a passage (int8) in the index
# and as much in the embedding cache: kept up to this many passages (about 4.5 GB), and off
# with QA_TOKEN_STATES=0. Above it the rerank works without MaxSim.
TOKEN_STATES_MAX = 50_000
TOKEN_CHUNK = 1024  # texts encoded per call, so float32 states of at most this many are held


@dataclass
class IndexReport:
    """What a build did."""

    documents: int = 0
    passages: int = 0
    embedded: int = 0
    reused: int = 0
    embedded_multilingual: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    up_to_date: bool = False
    seconds: float = 0.0
    version: str = ""


def _input_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
        if p.is_file() and p.suffix.lower() == ".jsonl":
            files.append(p)
        else:
            files.extend(iter_files(p))
    return files


def _hash_file(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def input_fingerprints(paths: list[Path]) -> dict[str, str]:
    """``{file: sha256}`` for every input file (articles and .jsonl corpora); an article's
    ``NAME.meta.json`` counts as part of it, so editing it alone refreshes the index."""
    out = {}
    for f in _input_files(paths):
        try:
            out[str(f.resolve())] = _hash_file(f)
            side = sidecar_path(f)
            if side.is_file():
                out[str(f.resolve())] += "+meta:" + _hash_file(side)[:16]
        except OSError as exc:
            out[str(f.resolve())] = f"unreadable:{exc.errno}"
    return out


def _count_documents(files: list[Path]) -> int:
    """How many documents ``files`` hold (a BEIR corpus: its non-blank lines), for the reading bar."""
    n = 0
    for f in files:
        if f.suffix.lower() != ".jsonl":
            n += 1
            continue
        try:
            with f.open("rb") as fh:
                n += sum(1 for line in fh if line.strip())
        except OSError:
            pass  # reported when it is read
    return n


def collect(paths: list[Path], warn: Callable[[str], None], progress: bool = False) -> list[Document]:
    """Load every document under ``paths``; bad files are skipped with a warning. ``progress``: a
    bar of the documents read (qa/progress.py)."""
    docs: list[Document] = []
    seen_ids: dict[str, str] = {}
    seen_fp: dict[str, str] = {}

    def add(doc: Document, where: str) -> None:
        if doc.doc_id in seen_ids:
            warn(f"{where}: skipped, doc_id {doc.doc_id!r} already used by {seen_ids[doc.doc_id]}")
            return
        if doc.fingerprint in seen_fp:
            warn(f"{where}: skipped, same content as {seen_fp[doc.fingerprint]}")
            return
        seen_ids[doc.doc_id] = where
        seen_fp[doc.fingerprint] = where
        docs.append(doc)

    files = _input_files(paths)
    with bars.bar("reading", _count_documents(files) if bars.shown(progress) else None, "doc", progress) as bar:
        for f in files:
            if f.suffix.lower() == ".jsonl":
                try:
                    for doc in iter_beir(f):
                        add(doc, f"{f.name}:{doc.doc_id}")
                        bar.update()
                except (OSError, UnicodeDecodeError) as exc:
                    warn(f"{f}: skipped ({exc})")
                continue
            try:
                add(load_file(f), str(f))
            except BadDocument as exc:
                warn(f"skipped {exc}")
            except OSError as exc:
                warn(f"skipped {f}: {exc.strerror or exc}")
            bar.update()
    return docs


def _live_keys(live: Version) -> list[str]:
    """The text keys of the live version's passages, in row order ([] if unreadable)."""
    try:
        db = open_db(live.path / "passages.sqlite")
        try:
            return [k for (k,) in db.execute("SELECT key FROM passages ORDER BY row")]
        finally:
            db.close()
    except (IndexUnusable, OSError, sqlite3.DatabaseError) as exc:
        log.info("not reusing the previous index (%s)", exc)
        return []


def _previous_vectors(live: Version, keys: list[str], filename: str) -> dict[str, np.ndarray]:
    """``key -> vector`` from the live version's ``filename``, to avoid re-embedding."""
    try:
        if not keys or not (live.path / filename).exists():
            return {}
        vecs = vector_index.reconstruct_all(vector_index.load(live.path / filename, mmap=False))
        return dict(zip(keys, vecs)) if len(keys) == len(vecs) else {}
    except (RuntimeError, OSError) as exc:
        log.info("not reusing the previous vectors (%s)", exc)
        return {}


def _previous_tokens(live: Version, keys: list[str]) -> dict[str, Quantized]:
    """``key -> token states`` from the live version, to avoid re-encoding."""
    try:
        if not keys or not (live.path / "tokens").is_dir():
            return {}
        tokens = token_index.TokenIndex(live.path / "tokens")
        return {k: tokens.passage(i) for i, k in enumerate(keys)} if tokens.size == len(keys) else {}
    except (OSError, ValueError, EOFError) as exc:
        log.info("not reusing the previous token states (%s)", exc)
        return {}


@dataclass
class Plan:
    """What a build starts from: the live version it may reuse, and whether anything changed."""

    inputs: dict[str, str]  # file -> sha256
    live: Version | None  # the live version, None when missing, unusable or damaged
    old: dict  # its manifest ({} without one)
    previous_docs: dict  # the documents it held (also when damaged: for the report)
    model_fp: str
    multilingual_fp: str | None  # None: no multilingual vectors wanted
    tokens_setting: bool  # QA_TOKEN_STATES
    annotations_fp: str | None = None  # None: no annotations wanted (qa/index/annotate.py)
    up_to_date: bool = False


def plan(paths: list[Path], root: Path, full: bool, model_fp: str, multilingual_fp: str | None,
         annotations_fp: str | None, warn: Callable[[str], None]) -> Plan:
    """Compare the inputs and settings with the live version (call it holding the index lock)."""
    inputs = input_fingerprints(paths)
    try:
        live = open_current(root)
    except IndexUnusable:
        live = None
    damaged = live and _damaged_files(live.path, live.manifest)
    previous_docs = live.manifest.get("documents", {}) if live else {}
    if damaged:
        warn(f"index files in {live.path} changed on disk ({', '.join(damaged)}): rebuilding them")
        live = None
    old = live.manifest if live else {}
    tokens_setting = os.environ.get("QA_TOKEN_STATES", "1") != "0"
    up_to_date = bool(not full and live and old.get("format_version") == FORMAT_VERSION
                      and old.get("pipeline_version", 1) == PIPELINE_VERSION
                      and old.get("model", {}).get("fingerprint") == model_fp and old.get("inputs") == inputs
                      and (old.get("multilingual") or {}).get("fingerprint") == multilingual_fp
                      and old.get("token_states_setting", True) == tokens_setting
                      and old.get("annotations") == annotations_fp)
    return Plan(inputs, live, old, previous_docs, model_fp, multilingual_fp, tokens_setting, annotations_fp,
                up_to_date)


def build_index(paths: list[Path], root: Path, full: bool = False, progress: bool = False,
                warn: Callable[[str], None] = log.warning, encoder: Encoder | None = None,
                lock_wait: float = 0.0, multilingual_vectors: bool = True, ray: str | None = None) -> IndexReport:
    """Build or refresh the index folder ``root`` from ``paths``; publish atomically.

    ``multilingual_vectors=False`` skips the vectors that serve questions not in English; ``ray``
    embeds and annotates on a Ray cluster (``""``: a local runtime; qa/index/ray_build.py).
    ``qa.index.backend.build_index`` chooses between this and Milvus.
    """
    with model_errors():
        try:
            return _build(paths, root, full, progress, warn, encoder, lock_wait, multilingual_vectors, ray)
        finally:
            annotate.forget_preloaded()


def _build(paths: list[Path], root: Path, full: bool, progress: bool, warn: Callable[[str], None],
           encoder: Encoder | None, lock_wait: float, multilingual_vectors: bool, ray: str | None) -> IndexReport:
    t0 = time.perf_counter()
    report = IndexReport()
    ml_on = multilingual_vectors and multilingual.available()
    mpath = model_dir()
    mfp = model_fingerprint(mpath)
    with IndexLock(root, wait=lock_wait):
        pl = plan(paths, root, full, mfp, multilingual.fingerprint() if ml_on else None,
                  annotate.fingerprint() if annotate.available() else None, warn)
        if pl.up_to_date:
            report.up_to_date = True
            report.documents = len(pl.old.get("documents", {}))
            report.passages = int(pl.old.get("passages", 0))
            report.version = pl.live.name
            report.seconds = time.perf_counter() - t0
            return report

        docs = collect(paths, lambda m: (report.skipped.append(m), warn(m)), progress)
        if not docs:
            where = ", ".join(str(p) for p in paths)
            raise InputError(f"no usable articles in {where} (.txt, .md, .html or a BEIR .jsonl); "
                             "the previous index, if any, is unchanged")
        changes(report, pl.previous_docs, docs)
        passages: list[tuple[Document, Passage]] = [(d, p) for d in docs for p in chunk_document(d)]
        texts = [embed_text(d.title, p.text) for d, p in passages]
        keys = [text_key(t) for t in texts]

        old, live = pl.old, pl.live
        reuse = not full and bool(old.get("documents")) and old.get("model", {}).get("fingerprint") == mfp
        enc_box: list[Encoder] = [encoder] if encoder else []

        def main_encoder() -> Encoder:
            if not enc_box:
                enc_box.append(load_encoder())
            return enc_box[0]

        want_tokens = pl.tokens_setting and len(texts) <= TOKEN_STATES_MAX
        live_keys = _live_keys(live) if reuse and live else []
        previous = _previous_vectors(live, live_keys, "vectors.faiss") if live_keys else {}
        if ray is not None:
            from qa.index.ray_build import precompute

            same = reuse and old.get("annotations") == pl.annotations_fp
            parse = [d for d in docs if not same or d.doc_id in report.added or d.doc_id in report.changed]
            precompute(ray, [t for t, k in zip(texts, keys) if k not in previous],
                       (cache_file(mfp), cache_file(pl.multilingual_fp) if ml_on else None), want_tokens,
                       parse if pl.annotations_fp else [], encoder, progress)
        main = embed(texts, keys, previous,
                     main_encoder, cache_file(mfp), old.get("model", {}).get("dim") if reuse else None, progress,
                     _previous_tokens(live, live_keys) if live_keys and want_tokens else {} if want_tokens else None)
        report.embedded, report.reused = main.embedded, main.reused
        ml = None
        if ml_on:
            ml_reuse = reuse and old.get("multilingual", {}).get("fingerprint") == pl.multilingual_fp
            ml = embed(texts, keys, _previous_vectors(live, live_keys, "vectors_ml.faiss") if ml_reuse and live_keys
                       else {}, multilingual.MultilingualEncoder, cache_file(pl.multilingual_fp), multilingual.DIM,
                       progress, desc="embedding (multilingual)")
            report.embedded_multilingual = ml.embedded

        build = new_version_dir(root)
        write_version(build, docs, passages, texts, keys, main, ml, progress)
        if pl.annotations_fp:
            same = live if reuse and old.get("annotations") == pl.annotations_fp else None
            write_annotations(build, docs, same, {d.doc_id for d in docs} - set(report.added) - set(report.changed),
                              progress)
        manifest = make_manifest(build, pl, paths, docs, len(passages), model_name(mpath), main, ml)
        (build / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        report.version = publish(root, build).name
    report.documents = len(docs)
    report.passages = len(passages)
    report.seconds = time.perf_counter() - t0
    return report


def changes(report: IndexReport, previous_docs: dict, docs: list[Document]) -> None:
    """Fill the report's added, changed and removed documents."""
    for d in docs:
        if d.doc_id not in previous_docs:
            report.added.append(d.doc_id)
        elif previous_docs[d.doc_id].get("fingerprint") != d.fingerprint:
            report.changed.append(d.doc_id)
    report.removed = sorted(set(previous_docs) - {d.doc_id for d in docs})


def make_manifest(build: Path, pl: Plan, paths: list[Path], docs: list[Document], passages: int,
                  model: str, main: Embedded, ml: Embedded | None) -> dict:
    """The new version's manifest (the sizes of the files already written in ``build`` included)."""
    dim = main.vectors.shape[1]
    manifest = {
        "format_version": FORMAT_VERSION,
        "pipeline_version": PIPELINE_VERSION,
        "model": {"name": model, "fingerprint": pl.model_fp, "dim": int(dim)},
        "multilingual": ({"name": multilingual.NAME, "fingerprint": pl.multilingual_fp,
                          "dim": multilingual.DIM} if ml is not None else None),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "sources": [str(p.resolve()) for p in paths],
        "inputs": pl.inputs,
        "passages": passages,
        "dense_index": "hnsw" if passages >= vector_index.HNSW_MIN else "flat",
        "token_states": main.tokens is not None,
        "token_states_setting": pl.tokens_setting,  # QA_TOKEN_STATES when built: a change rebuilds
        "annotations": pl.annotations_fp,
        "documents": {d.doc_id: {"fingerprint": d.fingerprint, "path": d.path, "title": d.title,
                                 **{k: d.meta[k] for k in ("url", "also_published_by") if d.meta.get(k)}}
                      for d in docs},
    }
    manifest["files"] = {str(f.relative_to(build)): f.stat().st_size
                         for f in sorted(build.rglob("*")) if f.is_file()}
    return manifest


def write_annotations(build: Path, docs: list[Document], live: Version | None, unchanged: set[str],
                      progress: bool = False) -> None:
    """Each sentence's named entities and speakers (qa/index/annotate.py): the documents in ``unchanged``
    keep the live version's, the others are parsed (``progress``: a bar of the documents parsed)."""
    known: dict[str, str] = {}
    kept: list[tuple[str, int, str]] = []
    if live is not None and unchanged:
        try:
            db = open_db(live.path / "passages.sqlite")
            try:
                known = dict(db.execute("SELECT key, entities FROM sentence_entities"))
                kept = [r for r in db.execute("SELECT doc_id, start, speaker FROM speakers") if r[0] in unchanged]
            finally:
                db.close()
        except (IndexUnusable, sqlite3.DatabaseError) as exc:
            log.info("not reusing the previous annotations (%s)", exc)
            known, unchanged = {}, set()
    entity_rows, speaker_rows = annotation_rows(docs, known, kept, unchanged, progress)
    db = sqlite3.connect(build / "passages.sqlite")
    with db:
        db.executemany("INSERT INTO sentence_entities VALUES (?,?)", entity_rows.items())
        db.executemany("INSERT OR IGNORE INTO speakers VALUES (?,?,?)", speaker_rows)
    db.close()


def annotation_rows(docs: list[Document], known: dict[str, str], kept: list[tuple[str, int, str]],
                    unchanged: set[str], progress: bool = False) -> tuple[dict[str, str], list[tuple[str, int, str]]]:
    """Entity rows (sentence key -> JSON spans) and speaker rows (doc_id, sentence start, name) of
    ``docs``: the documents in ``unchanged`` whose sentences are all in ``known`` keep those and
    their ``kept`` speakers, the others are parsed (``progress``: a bar of the documents parsed)."""
    entity_rows: dict[str, str] = {}
    speaker_rows = list(kept)
    to_parse = sum(1 for d in docs if d.doc_id not in unchanged)
    with bars.bar("parsing", to_parse, "doc", progress) as bar:
        if to_parse:
            nlp()  # the first parse would load it (1-4 s): the time left counts from when it is loaded
            bar.restart_clock()
        for d in docs:
            spans = [s for section in document_sentences(d) for s in section]
            texts = [normalize_ws(d.text[a:b]) for a, b in spans]
            keys = [annotate.sentence_key(t) for t in texts]
            if d.doc_id in unchanged:
                if all(k in known for k in keys):
                    entity_rows.update((k, known[k]) for k in keys)
                    continue
                to_parse += 1  # unchanged, yet without stored annotations: parsed after all
                bar.set_total(to_parse)
            found = annotate.analyse(texts)
            entity_rows.update((k, json.dumps(e)) for k, e in zip(keys, found.entities))
            speaker_rows = [r for r in speaker_rows if r[0] != d.doc_id]  # parsed again: none of the old rows stay
            speaker_rows += [(d.doc_id, a, name) for (a, _), names in zip(spans, found.speakers) for name in names]
            bar.update()
    return entity_rows, speaker_rows


def _damaged_files(version: Path, manifest: dict) -> list[str]:
    """Files of a version that are missing or not the size the manifest recorded (a cheap check)."""
    bad = []
    for name, size in (manifest.get("files") or {}).items():
        try:
            if (version / name).stat().st_size != size:
                bad.append(name)
        except OSError:
            bad.append(name)
    return bad


@dataclass
class Embedded:
    """Vectors (and token states, where wanted and given) for a build's passages."""

    vectors: np.ndarray
    tokens: list[Quantized] | None
    embedded: int  # how many were encoded
    reused: int  # how many came from the live version or the cache


def embed(texts: list[str], keys: list[str], known: dict[str, np.ndarray], get_encoder: Callable[[], Encoder],
          cache_path: Path, dim: int | None, progress: bool,
          known_tokens: dict[str, Quantized] | None = None, desc: str = "embedding") -> Embedded:
    """Vectors for ``texts`` and, given ``known_tokens`` (a dict, possibly empty), their token states
    (:mod:`embeddings.token_index`): reused from ``known``/``known_tokens`` or the cache, else encoded
    (and cached). The encoder is created only if something must be encoded; token states come from
    the vectors' forward pass, converted to int8 every TOKEN_CHUNK texts. An encoder that gives no
    token states gives vectors alone (logged). ``progress``: a bar named ``desc`` of the passages
    encoded."""
    want_tokens = known_tokens is not None
    missing = [i for i, k in enumerate(keys) if k not in known or (want_tokens and k not in known_tokens)]
    if not missing:
        if dim is None:
            dim = len(next(iter(known.values()))) if known else 384
        vectors = np.stack([known[k] for k in keys]) if keys else np.zeros((0, dim), np.float32)
        return Embedded(vectors, [known_tokens[k] for k in keys] if want_tokens else None, 0, len(keys))
    enc = get_encoder()
    if want_tokens and not getattr(enc, "token_states", False):
        log.warning("the encoder (%s) gives no token states (they need the ONNX model and a WordPiece "
                    "tokenizer): this index ranks without MaxSim", enc.name)
        return embed(texts, keys, known, lambda: enc, cache_path, enc.dim, progress, desc=desc)
    cache = EmbeddingCache(cache_path, enc.dim)
    try:
        wanted = [keys[i] for i in missing]
        if want_tokens:  # a cached passage is reused only with both
            cached_vectors, cached_tokens = cache.get_many(wanted), cache.get_tokens(wanted)
            for k in wanted:
                if k in cached_vectors and k in cached_tokens:
                    known[k], known_tokens[k] = cached_vectors[k], cached_tokens[k]
        else:
            known.update(cache.get_many(wanted))
        missing = [i for i, k in enumerate(keys) if k not in known or (want_tokens and k not in known_tokens)]
        with bars.bar(desc, len(missing), "passage", progress and bool(missing)) as bar:
            if missing and not want_tokens:
                new = enc.encode([texts[i] for i in missing], progress=bar.update)
                bar.update(len(missing) - bar.n)  # an encoder that does not count its batches
                fresh = {keys[i]: new[j] for j, i in enumerate(missing)}
                known.update(fresh)
                cache.put_many(fresh)
            for start in range(0, len(missing) if want_tokens else 0, TOKEN_CHUNK):
                part = missing[start : start + TOKEN_CHUNK]
                new, states = enc.encode_tokens([texts[i] for i in part], progress=bar.update)
                bar.update(start + len(part) - bar.n)
                fresh = {keys[i]: new[j] for j, i in enumerate(part)}
                fresh_tokens = {keys[i]: Quantized.of(states[j]) for j, i in enumerate(part)}
                known.update(fresh)
                known_tokens.update(fresh_tokens)
                cache.put_many(fresh)
                cache.put_tokens(fresh_tokens)
    finally:
        cache.close()
    vectors = np.stack([known[k] for k in keys])
    return Embedded(vectors, [known_tokens[k] for k in keys] if want_tokens else None, len(missing),
                    len(keys) - len(missing))


def cache_file(mfp: str) -> Path:
    from embeddings.model import cache_dir

    return cache_dir() / "embeddings" / f"{mfp}.sqlite"


def write_version(build: Path, docs: list[Document], passages: list[tuple[Document, Passage]],
                  texts: list[str], keys: list[str], main: Embedded, ml: Embedded | None, progress: bool) -> None:
    """Write a version's files into ``build``: passages and term statistics (SQLite), vectors
    (FAISS), BM25, token states, multilingual vectors."""
    counts: dict[str, int] = {}
    for d, _ in passages:
        counts[d.doc_id] = counts.get(d.doc_id, 0) + 1
    db = create_db(build / "passages.sqlite")
    with db:
        db.executemany("INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?)", [
            (d.doc_id, d.title, d.source, d.date, d.year_hint, d.language, d.path, d.fingerprint,
             counts.get(d.doc_id, 0)) for d in docs])
        db.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?)", [
            (i, p.chunk_id, p.doc_id, p.text, p.start, p.end,
             json.dumps([[a, b, normalize_ws(d.text[a:b])] for a, b in p.sentences]), keys[i])
            for i, (d, p) in enumerate(passages)])
        df: dict[str, int] = {}
        for t in texts:
            for term in set(tokenize(t)):
                df[term] = df.get(term, 0) + 1
        db.executemany("INSERT INTO terms VALUES (?,?)", df.items())
    db.close()
    vector_index.save(vector_index.build(main.vectors), build / "vectors.faiss")
    LexicalIndex.build_and_save(texts, build / "bm25", progress=progress)
    if main.tokens is not None:
        token_index.save(build / "tokens", main.tokens, main.vectors.shape[1])
    if ml is not None:
        vector_index.save(vector_index.build(ml.vectors), build / "vectors_ml.faiss")
