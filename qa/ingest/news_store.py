"""The news folder: fetched articles stored as the indexer reads them.

Each article is three files under ``<news>/<host>/``::

    <slug>-<hash>.txt        the extracted text (title, blank line, body): what is indexed and cited
    <slug>-<hash>.meta.json  url, title, outlet, author, date, fetched_at, also_published_by, ...
    <slug>-<hash>.raw.html   the page as fetched (never indexed: the indexer skips *.raw.html)

The name comes from the article's URL (its canonical URL when the page names one on the same
host, tracking parameters dropped), so a new version of the same URL replaces the old one. A
story whose text is a near-duplicate (qa.ingest.dedup) of one already stored is not stored again: its
outlet and URL are added to the stored one's ``also_published_by``. ``.catalog.sqlite`` keeps the
MinHash signatures (brought in line with the files, which may be edited or removed by hand, when a
store is first used); ``.lock`` serialises writers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from qa.errors import FetchError
from qa.ingest import dedup
from qa.ingest.extract import Article

_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|ref|smid)$", re.IGNORECASE)
_SLUG = re.compile(r"[^a-z0-9]+")


def default_news_dir(index_dir: Path) -> Path:
    """``QA_NEWS_DIR``, else ``news/`` beside the index folder."""
    env = os.environ.get("QA_NEWS_DIR", "").strip()
    return Path(env) if env else index_dir.resolve().parent / "news"


def article_url(url: str, canonical: str | None = None) -> str:
    """The URL an article is known by: its canonical URL if on the same host, without tracking parameters."""
    if canonical:
        c = urlsplit(canonical)
        if c.scheme in ("http", "https") and c.hostname and c.hostname == urlsplit(url).hostname:
            url = canonical
    p = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(p.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((p.scheme, p.netloc.lower(), p.path or "/", query, ""))


def name_for(url: str) -> str:
    """``host/slug-hash`` for a URL: readable, unique, safe on any file system."""
    p = urlsplit(url)
    host = _SLUG.sub("-", (p.hostname or "unknown").lower()).strip("-") or "unknown"
    last = [s for s in p.path.split("/") if s]
    slug = _SLUG.sub("-", (last[-1] if last else "index").lower().rsplit(".", 1)[0]).strip("-")[:60] or "article"
    return f"{host}/{slug}-{hashlib.sha1(url.encode()).hexdigest()[:10]}"


@dataclass
class Stored:
    """What storing an article did: ``new``, ``updated``, ``unchanged`` or ``duplicate``."""

    status: str
    url: str
    path: Path  # the .txt (for a duplicate: the stored copy it duplicates)
    title: str | None
    outlet: str | None
    date: str | None
    duplicate_of: str | None = None  # the stored copy's URL, for a duplicate


class NewsStore:
    """Stores extracted articles in a news folder (one writer at a time, across processes).

    The catalogue is brought in line with the files once, when first used; the signatures are
    kept in memory and read again only when another process changed the catalogue.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._db: sqlite3.Connection | None = None
        self._names: list[str] = []
        self._sigs: np.ndarray | None = None
        self._seen_version: int | None = None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = open(self.root / ".lock", "a+")  # noqa: SIM115 (held for the whole block below)
        except OSError as exc:
            raise FetchError(f"cannot write to the news folder {self.root}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._db is None:
                self._db = self._open_catalog()
            try:
                yield self._db
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise
        finally:
            lock.close()

    def _open_catalog(self) -> sqlite3.Connection:
        """The catalogue, in line with the files. It is derived from them, so it is written without
        waiting for the disk (WAL, synchronous=NORMAL) and rebuilt if unreadable."""
        path = self.root / ".catalog.sqlite"
        for attempt in (1, 2):
            db = sqlite3.connect(path, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("CREATE TABLE IF NOT EXISTS articles (name TEXT PRIMARY KEY, url TEXT, sha TEXT, "
                           "mtime INTEGER, sig BLOB)")
                self._sync(db)
                db.commit()
                return db
            except sqlite3.DatabaseError:
                db.close()
                if attempt == 2:
                    raise
                for p in self.root.glob(".catalog.sqlite*"):
                    p.unlink()
        raise AssertionError("unreachable")

    def _sync(self, db: sqlite3.Connection) -> None:
        """Bring the catalogue in line with the files (added, edited or removed by hand)."""
        known = {n: m for n, m in db.execute("SELECT name, mtime FROM articles")}
        present = {}
        for meta in self.root.rglob("*.meta.json"):
            txt = meta.with_name(meta.name[: -len(".meta.json")] + ".txt")
            if txt.exists():
                present[str(txt.relative_to(self.root))[:-4]] = (meta, txt)
        for gone in set(known) - set(present):
            db.execute("DELETE FROM articles WHERE name = ?", (gone,))
        for name, (meta, txt) in present.items():
            mtime = txt.stat().st_mtime_ns
            if known.get(name) == mtime:
                continue
            try:
                url = json.loads(meta.read_text(encoding="utf-8")).get("url")
                text = txt.read_text(encoding="utf-8")
            except (OSError, ValueError):
                continue
            db.execute("INSERT OR REPLACE INTO articles VALUES (?,?,?,?,?)",
                       (name, url, _sha(text), mtime, dedup.to_bytes(dedup.signature(text))))

    def add(self, article: Article, raw: bytes, fetched_at: str, url: str) -> Stored:
        """Store ``article`` fetched from ``url`` (new, updated, unchanged, or a duplicate of a stored one)."""
        key = article_url(url, article.canonical_url)
        name = name_for(key)
        text = article.stored_text()
        sha = _sha(text)
        sig = dedup.signature(text)
        with self._locked() as db:
            row = db.execute("SELECT sha FROM articles WHERE name = ?", (name,)).fetchone()
            txt = self.root / f"{name}.txt"
            if row and row[0] == sha:
                return Stored("unchanged", key, txt, article.title, article.outlet, article.date)
            if not row:
                dup = self._near_duplicate(db, sig)
                if dup:
                    return self._also_published(dup, article, key, fetched_at)
            old = _read_json(self.root / f"{name}.meta.json")
            meta = {"url": key, "title": article.title, "outlet": article.outlet, "author": article.author,
                    "date": article.date, "fetched_at": fetched_at, "requested_url": url,
                    "canonical_url": article.canonical_url, "language": article.language,
                    "extracted_by": "trafilatura", "also_published_by": old.get("also_published_by", [])}
            txt.parent.mkdir(parents=True, exist_ok=True)
            _write(self.root / f"{name}.raw.html", raw)
            _write(self.root / f"{name}.meta.json", json.dumps(meta, ensure_ascii=False, indent=1).encode())
            _write(txt, text.encode("utf-8"))
            db.execute("INSERT OR REPLACE INTO articles VALUES (?,?,?,?,?)",
                       (name, key, sha, txt.stat().st_mtime_ns, dedup.to_bytes(sig)))
            self._remember(name, sig)
            return Stored("updated" if row else "new", key, txt, article.title, article.outlet, article.date)

    def _near_duplicate(self, db: sqlite3.Connection, sig: np.ndarray) -> str | None:
        version = db.execute("PRAGMA data_version").fetchone()[0]  # changes when another process commits
        if self._sigs is None or version != self._seen_version:
            rows = db.execute("SELECT name, sig FROM articles ORDER BY rowid").fetchall()
            self._names = [n for n, _ in rows]
            self._sigs = (np.stack([dedup.from_bytes(s) for _, s in rows]) if rows
                          else np.zeros((0, dedup.NUM_PERM), np.uint32))
            self._seen_version = version
        if not self._names:
            return None
        sims = dedup.similarity(sig, self._sigs)
        best = int(np.argmax(sims))
        return self._names[best] if sims[best] >= dedup.THRESHOLD else None

    def _remember(self, name: str, sig: np.ndarray) -> None:
        """Keep the in-memory signatures in step with this process's own writes."""
        if self._sigs is None:
            return
        if name in self._names:
            self._sigs[self._names.index(name)] = sig
        else:
            self._names.append(name)
            self._sigs = np.vstack([self._sigs, sig[None, :]])

    def _also_published(self, name: str, article: Article, url: str, fetched_at: str) -> Stored:
        path = self.root / f"{name}.meta.json"
        meta = _read_json(path)
        also = meta.setdefault("also_published_by", [])
        same_outlet = article.outlet and (article.outlet == meta.get("outlet")
                                          or any(a.get("outlet") == article.outlet for a in also))
        if url != meta.get("url") and all(a.get("url") != url for a in also) and not same_outlet:
            also.append({"outlet": article.outlet, "url": url, "title": article.title, "date": article.date,
                         "fetched_at": fetched_at})
            _write(path, json.dumps(meta, ensure_ascii=False, indent=1).encode())
        return Stored("duplicate", url, self.root / f"{name}.txt", article.title, article.outlet, article.date,
                      duplicate_of=meta.get("url"))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: Path, data: bytes) -> None:
    """Write atomically (a hidden temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
