"""Fetch pages, extract their articles, store them in the news folder, index them.

The one path shared by ``qa fetch``, ``qa update`` and the bot's ``/add``. The index is rebuilt
with ``qa.index.build.build_index`` over the sources it already records plus the news folder, so a
plain ``qa index`` keeps the fetched articles; a failure leaves the live index as it was.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from qa import progress as bars
from qa.errors import FetchError, UserError
from qa.ingest.fetcher import Fetcher, TransientFetchError
from qa.ingest.news_store import NewsStore

CHANGES = ("new", "updated", "duplicate")  # outcomes that change what is indexed


def plural(count: int, noun: str) -> str:
    """``1 duplicate``, ``2 duplicates``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


@dataclass
class Outcome:
    """What became of one URL: new, updated, unchanged, duplicate or failed."""

    url: str
    status: str
    title: str | None = None
    outlet: str | None = None
    date: str | None = None
    reason: str | None = None  # why it failed
    duplicate_of: str | None = None
    transient: bool = False  # a failure worth retrying later (timeout, 5xx)
    path: str | None = None

    def line(self) -> str:
        """One line for the terminal."""
        what = f"{self.title or '(untitled)'} ({self.outlet or 'unknown outlet'}, {self.date or 'undated'})"
        if self.status == "failed":
            return f"failed     {self.reason}"
        if self.status == "duplicate":
            return f"duplicate  {self.url}: same story as {self.duplicate_of}, listed there as also published by " \
                   f"{self.outlet or 'another outlet'}"
        return f"{self.status:<10} {what} {self.url}"


@dataclass
class Timings:
    """CPU seconds per phase (each thread's own CPU time, summed over threads); ``index`` is wall time."""

    fetch: float = 0.0
    extract: float = 0.0
    store: float = 0.0
    index: float = 0.0


def fetch_articles(urls: list[str], news_dir: Path, fetcher: Fetcher, workers: int = 8,
                   on_outcome: Callable[[Outcome], None] | None = None,
                   timings: Timings | None = None, progress: bool = False) -> list[Outcome]:
    """Fetch, extract and store ``urls`` (several hosts at once, at most two requests per host);
    ``progress``: a bar of the pages fetched (qa/progress.py)."""
    from qa.ingest.extract import extract

    store = NewsStore(news_dir)
    t = timings or Timings()
    lock = threading.Lock()

    def fetch_one(url: str) -> object:
        """(response, article), or a failed Outcome; runs in a worker thread."""
        t0 = time.thread_time()
        try:
            resp = fetcher.get_page(url)
        except FetchError as exc:
            return Outcome(url, "failed", reason=str(exc), transient=isinstance(exc, TransientFetchError))
        finally:
            with lock:
                t.fetch += time.thread_time() - t0
        t1 = time.thread_time()
        try:
            return resp, extract(resp.content, resp.url)
        except ValueError as exc:
            return Outcome(url, "failed", reason=f"{resp.url}: {exc}")
        finally:
            with lock:
                t.extract += time.thread_time() - t1

    out: list[Outcome] = []
    with contextlib.closing(store), ThreadPoolExecutor(max_workers=max(1, min(workers, len(urls) or 1))) as pool:
        # fetched concurrently, stored in the order given: of two copies of a story, the first is kept
        for got in bars.track(pool.map(fetch_one, urls), "fetching", "page", progress and bool(urls), len(urls)):
            if isinstance(got, Outcome):
                o = got
            else:
                resp, art = got
                t2 = time.thread_time()
                stored = store.add(art, resp.content, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), resp.url)
                t.store += time.thread_time() - t2
                o = Outcome(stored.url, stored.status, stored.title, stored.outlet, stored.date,
                            duplicate_of=stored.duplicate_of, path=str(stored.path))
            out.append(o)
            if on_outcome:
                on_outcome(o)
    return out


def index_paths(index_dir: Path, news_dir: Path) -> list[Path]:
    """The sources the index records (the seeds if there is no index yet), plus the news folder."""
    from qa.index.backend import backend_for
    from qa.index.store import IndexUnusable
    from qa.ingest.corpus import project_seeds

    try:
        live = backend_for(index_dir).open_current()
    except IndexUnusable:
        live = None
    paths = [Path(p) for p in (live.manifest.get("sources", []) if live else []) if Path(p).exists()]
    if not live:
        paths = [project_seeds()]
    news = news_dir.resolve()
    if news_dir.is_dir() and not any(news == p.resolve() or p.resolve() in news.parents for p in paths):
        paths.append(news_dir)  # (not before anything was stored: a missing folder is not an input)
    return paths


def index_news(index_dir: Path, news_dir: Path, progress: bool = False, warn: Callable[[str], None] | None = None,
               lock_wait: float = 120.0, encoder=None):  # noqa: ANN001 (an embeddings Encoder)
    """Refresh the index with the news folder (and the sources it already has); an IndexReport."""
    from qa.index.backend import build_index

    kwargs = {"warn": warn} if warn else {}
    return build_index(index_paths(index_dir, news_dir), index_dir, progress=progress, lock_wait=lock_wait,
                       encoder=encoder, **kwargs)


@dataclass
class IngestReport:
    """Outcomes, the index build (None when nothing changed) and the time per phase."""

    outcomes: list[Outcome] = field(default_factory=list)
    index: object = None  # qa.index.build.IndexReport
    timings: Timings = field(default_factory=Timings)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def fetch_and_index(urls: list[str], index_dir: Path, news_dir: Path, fetcher: Fetcher,
                    on_outcome: Callable[[Outcome], None] | None = None, progress: bool = False,
                    encoder=None) -> IngestReport:  # noqa: ANN001
    """``qa fetch``: fetch ``urls``, store them, and bring the index up to date (unless all failed)."""
    report = IngestReport()
    report.outcomes = fetch_articles(urls, news_dir, fetcher, on_outcome=on_outcome, timings=report.timings,
                                     progress=progress)
    # also when nothing changed: an article stored by a run whose indexing failed (a locked index)
    # is indexed now; an index that is up to date costs one hash per file
    if any(o.status != "failed" for o in report.outcomes):
        t0 = time.perf_counter()
        try:
            report.index = index_news(index_dir, news_dir, progress=progress, encoder=encoder)
        except UserError as exc:
            raise type(exc)(f"{exc} (the fetched articles are stored in {news_dir}; "
                            "`qa index` will add them)") from None
        report.timings.index = time.perf_counter() - t0
    return report
