"""The on-disk index folder: versions, atomic switch, lock, integrity checks.

Layout of ``.qa-index/``::

    CURRENT            name of the live version (replaced atomically)
    .lock              held by the one running ``qa index``
    v-<stamp>/         one complete, immutable version
        manifest.json  format, model, per-document fingerprints, counts
        passages.sqlite documents, passages, term document-frequencies
        vectors.faiss  dense vectors, row i = passage i
        bm25/          bm25s lexical index, document i = passage i

A build writes a new version folder aside and then replaces ``CURRENT``: a crash
at any moment leaves the previous version live, and a reader that opened a
version keeps it (old versions are removed only after a newer one replaced them).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from qa.errors import IndexUnusable, LockedError  # noqa: F401 (re-exported)
from qa.types import CorpusStats, SourceInfo

FORMAT_VERSION = 1
CURRENT = "CURRENT"
KEEP_VERSIONS = 2


def default_index_dir(corpus_dir: Path) -> Path:
    """``--index-dir``, else ``QA_INDEX_DIR``, else ``.qa-index`` beside the corpus."""
    env = os.environ.get("QA_INDEX_DIR")
    return Path(env) if env else corpus_dir.parent / ".qa-index"


@dataclass
class Version:
    """A complete index version on disk."""

    path: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.path.name


def current_version_name(root: Path) -> str | None:
    """The live version's folder name, or None when there is no index."""
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return name or None


def read_manifest(path: Path) -> dict:
    """The manifest of a version folder; IndexUnusable if missing or corrupt."""
    try:
        return json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexUnusable(f"index at {path} has no manifest; rebuild it with `qa index --full`") from exc
    except (OSError, ValueError) as exc:
        raise IndexUnusable(f"index manifest at {path} is corrupt; rebuild it with `qa index --full`") from exc


def open_current(root: Path) -> Version | None:
    """The live version, or None if the folder holds no index yet."""
    name = current_version_name(root)
    if name is None:
        return None
    path = root / name
    if not path.is_dir():
        raise IndexUnusable(f"index at {root} points to a missing version ({name}); rebuild it with `qa index --full`")
    return Version(path, read_manifest(path))


def check_compatible(manifest: dict, model_name: str, model_fp: str, dim: int | None, root: Path | str) -> None:
    """Refuse an index built with another format or model, naming the fix."""
    fmt = manifest.get("format_version")
    if fmt != FORMAT_VERSION:
        raise IndexUnusable(f"index at {root} has format {fmt}, this program reads {FORMAT_VERSION}; "
                          "rebuild it with `qa index --full`")
    m = manifest.get("model", {})
    if m.get("fingerprint") != model_fp or (dim is not None and m.get("dim") != dim):
        raise IndexUnusable(f"index at {root} was built with model {m.get('name')!r} (dim {m.get('dim')}), "
                          f"not the configured {model_name!r}; rebuild it with `qa index --full`")


class IndexLock:
    """An exclusive, non-blocking lock on the index folder (``flock``)."""

    def __init__(self, root: Path, wait: float = 0.0) -> None:
        self.root = root
        self.wait = wait
        self.fh = None

    def __enter__(self) -> IndexLock:
        import fcntl

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.root / ".lock", "a+")
        except OSError as exc:
            raise IndexUnusable(f"cannot use {self.root} as the index folder: {exc.strerror or exc}") from exc
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.fh.seek(0)
                    holder = self.fh.read().strip() or "another process"
                    self.fh.close()
                    raise LockedError(f"another `qa index` is updating {self.root} (pid {holder}); "
                                      "wait for it to finish and run again") from None
                time.sleep(0.2)
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(str(os.getpid()))
        self.fh.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        import fcntl

        if self.fh:
            self.fh.seek(0)
            self.fh.truncate()
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()


def new_version_dir(root: Path) -> Path:
    """A fresh hidden folder to build a version in."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".build-{os.getpid()}-{time.time_ns()}"
    tmp.mkdir()
    return tmp


def _fsync_tree(path: Path) -> None:
    for p in path.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


def publish(root: Path, build_dir: Path) -> Path:
    """Make ``build_dir`` the live version atomically; prune old versions."""
    _fsync_tree(build_dir)
    final = root / f"v-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}"
    os.rename(build_dir, final)
    tmp = root / f".{CURRENT}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(final.name)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / CURRENT)
    dfd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    prune(root)
    return final


def prune(root: Path) -> None:
    """Remove stale build folders and all but the newest ``KEEP_VERSIONS`` versions."""
    live = current_version_name(root)
    versions = sorted(p for p in root.glob("v-*") if p.is_dir())
    keep = {p.name for p in versions[-KEEP_VERSIONS:]} | {live}
    for p in versions:
        if p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".build-*"):
        try:
            pid = int(p.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


SCHEMA = """
CREATE TABLE docs (doc_id TEXT PRIMARY KEY, title TEXT, source TEXT, date TEXT, year_hint INTEGER,
                   language TEXT, path TEXT, fingerprint TEXT, passages INTEGER);
CREATE TABLE passages (row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE, doc_id TEXT, text TEXT,
                       start INTEGER, end INTEGER, sentences TEXT, key TEXT);
CREATE INDEX passages_doc ON passages(doc_id);
CREATE TABLE terms (term TEXT PRIMARY KEY, df INTEGER);
CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE sentence_entities (key TEXT PRIMARY KEY, entities TEXT);  -- qa/index/annotate.py
CREATE TABLE speakers (doc_id TEXT, start INTEGER, speaker TEXT, PRIMARY KEY (doc_id, start, speaker));
"""


def create_db(path: Path) -> sqlite3.Connection:
    """A new passages database with the schema."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    return db


def open_db(path: Path) -> sqlite3.Connection:
    """Open a version's passages database read-only (usable from any thread)."""
    if not path.exists():
        raise IndexUnusable(f"index file {path} is missing; rebuild it with `qa index --full`")
    db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    try:
        db.execute("SELECT count(*) FROM docs").fetchone()
    except sqlite3.DatabaseError as exc:
        raise IndexUnusable(f"index file {path} is corrupt; rebuild it with `qa index --full`") from exc
    return db


def read_sources(db: sqlite3.Connection, documents: dict | None = None) -> list[SourceInfo]:
    """The indexed articles, newest first (undated last, by the latest year they mention);
    ``documents``: the manifest's, for the URL and the other outlets of fetched articles."""
    q = "SELECT doc_id, title, source, date, path, language, passages, year_hint FROM docs"
    rows = db.execute(q).fetchall()
    rows.sort(key=lambda r: (r[3] or "", r[7] or 0, r[0]), reverse=True)
    docs = documents or {}
    return [SourceInfo(*r[:7], url=docs.get(r[0], {}).get("url"),
                       also_published_by=docs.get(r[0], {}).get("also_published_by", [])) for r in rows]


def read_stats(db: sqlite3.Connection, passages: int) -> CorpusStats:
    """Counts, outlets and date range of the indexed articles."""
    src = read_sources(db)
    dates = sorted(s.date for s in src if s.date)
    hints = [y for (y,) in db.execute("SELECT year_hint FROM docs WHERE date IS NULL AND year_hint IS NOT NULL")]
    return CorpusStats(documents=len(src), passages=passages,
                       outlets=sorted({s.source for s in src if s.source}),
                       date_min=dates[0] if dates else None, date_max=dates[-1] if dates else None,
                       undated=sum(1 for s in src if not s.date),
                       years_mentioned=(min(hints), max(hints)) if hints else None)
