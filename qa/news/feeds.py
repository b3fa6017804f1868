"""RSS/Atom subscriptions and ``qa update`` (feedparser, imported only here).

Subscriptions live in ``feeds.sqlite`` beside the index folder: each feed's URL, title, ETag and
Last-Modified (sent back as a conditional GET: an unchanged feed costs a 304), and every item
seen (its id or link, and its ``updated`` stamp, so a changed item is fetched again). An item that
failed for a passing reason (timeout, 5xx) is not recorded and is tried at the next update.
"""

from __future__ import annotations

import os
import sqlite3
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import FetchError
from qa.ingest.fetcher import Fetcher, normalize_url
from qa.news.ingest import CHANGES, Outcome, Timings, fetch_articles, index_news, plural

MAX_ITEMS = 100  # newest items taken from one feed per update


def default_feeds_db(index_dir: Path) -> Path:
    """``QA_FEEDS_DB``, else ``feeds.sqlite`` beside the index folder."""
    env = os.environ.get("QA_FEEDS_DB", "").strip()
    return Path(env) if env else index_dir.resolve().parent / "feeds.sqlite"


@dataclass
class Feed:
    url: str
    title: str | None
    added_at: str
    checked_at: str | None = None
    status: str | None = None  # the last update's result, one line
    etag: str | None = None
    last_modified: str | None = None
    items: int = 0


@dataclass
class Entry:
    key: str  # the item's id, else its link
    link: str
    updated: str | None
    title: str | None


class FeedStore:
    """The subscriptions file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30)
            self.db.executescript(
                "CREATE TABLE IF NOT EXISTS feeds (url TEXT PRIMARY KEY, title TEXT, added_at TEXT, checked_at TEXT,"
                " status TEXT, etag TEXT, last_modified TEXT);"
                "CREATE TABLE IF NOT EXISTS items (feed TEXT, key TEXT, link TEXT, updated TEXT, seen_at TEXT,"
                " result TEXT, PRIMARY KEY (feed, key));")
        except (OSError, sqlite3.DatabaseError) as exc:
            raise FetchError(f"cannot use {path} for the feed list: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def feeds(self) -> list[Feed]:
        rows = self.db.execute("SELECT url, title, added_at, checked_at, status, etag, last_modified, "
                               "(SELECT count(*) FROM items i WHERE i.feed = f.url) FROM feeds f ORDER BY added_at")
        return [Feed(*r) for r in rows]

    def get(self, url: str) -> Feed | None:
        return next((f for f in self.feeds() if f.url == url), None)

    def add(self, url: str, title: str | None) -> None:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO feeds (url, title, added_at) VALUES (?,?,?)", (url, title, _now()))

    def remove(self, url: str) -> bool:
        with self.db:
            n = self.db.execute("DELETE FROM feeds WHERE url = ?", (url,)).rowcount
            self.db.execute("DELETE FROM items WHERE feed = ?", (url,))
        return n > 0

    def checked(self, url: str, status: str, validators: tuple[str | None, str | None] | None = None,
                title: str | None = None) -> None:
        """Record an update's result; ``validators`` (ETag, Last-Modified) replace the stored ones if given."""
        with self.db:
            self.db.execute("UPDATE feeds SET checked_at = ?, status = ?, title = coalesce(title, ?) WHERE url = ?",
                            (_now(), status, title, url))
            if validators is not None:
                self.db.execute("UPDATE feeds SET etag = ?, last_modified = ? WHERE url = ?", (*validators, url))

    def seen(self, feed: str) -> dict[str, str | None]:
        """``key -> updated`` of the items already handled."""
        return dict(self.db.execute("SELECT key, updated FROM items WHERE feed = ?", (feed,)).fetchall())

    def mark(self, feed: str, entry: Entry, result: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?)",
                            (feed, entry.key, entry.link, entry.updated, _now(), result))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parse_feed(content: bytes, url: str) -> tuple[str | None, list[Entry]]:
    """Title and entries of an RSS/Atom document; FetchError when it is not a readable feed."""
    import feedparser

    parsed = feedparser.parse(content, response_headers={"content-location": url})
    entries = []
    with warnings.catch_warnings():  # feedparser warns when `updated` falls back to `published`
        warnings.simplefilter("ignore", DeprecationWarning)
        for e in parsed.entries:
            link = (e.get("link") or "").strip()
            if link:
                entries.append(Entry(key=(e.get("id") or link).strip(), link=link,
                                     updated=e.get("updated") or e.get("published"), title=e.get("title")))
    if not parsed.get("version") or (parsed.get("bozo") and not entries):
        why = parsed.get("bozo_exception")
        detail = f" ({str(why).splitlines()[0][:120]})" if why else ""
        raise FetchError(f"{url}: not a readable RSS or Atom feed{detail}")
    return parsed.feed.get("title"), entries


def add_feed(store: FeedStore, url: str, fetcher: Fetcher) -> tuple[str, str | None, int]:
    """Subscribe to ``url`` after checking that it is a feed: (url, title, number of items)."""
    url = normalize_url(url)
    resp = fetcher.get_feed(url)
    title, entries = parse_feed(resp.content, resp.url)
    store.add(url, title)
    return url, title, len(entries)


@dataclass
class FeedResult:
    url: str
    status: str  # "unchanged (304)", "3 new items", "failed: ..."
    failed: bool = False


@dataclass
class UpdateReport:
    feeds: list[FeedResult] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: int = 0  # items already fetched
    index: object = None  # qa.index.build.IndexReport when something changed
    timings: Timings = field(default_factory=Timings)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def summary(self) -> str:
        """``3 new, 1 updated, ...`` for the terminal."""
        failed_feeds = sum(1 for f in self.feeds if f.failed)
        unchanged = sum(1 for f in self.feeds if f.status.startswith("unchanged"))
        parts = [f"{self.count('new')} new", f"{self.count('updated')} updated",
                 plural(self.count("duplicate"), "duplicate") + " (kept once)",
                 f"{self.skipped + self.count('unchanged')} skipped (already fetched or unchanged)",
                 f"{self.count('failed')} failed"]
        return (f"{plural(len(self.feeds), 'feed')} ({unchanged} unchanged, {failed_feeds} failed); items: "
                + ", ".join(parts))


def update(store: FeedStore, fetcher: Fetcher, index_dir: Path, news_dir: Path,
           say: Callable[[str], None] = print, max_items: int = MAX_ITEMS, encoder=None,  # noqa: ANN001
           progress: bool = False) -> UpdateReport:
    """Poll every feed once, fetch and store new or changed items, and bring the index up to date."""
    report = UpdateReport()
    for feed in store.feeds():
        try:
            resp = fetcher.get_feed(feed.url, etag=feed.etag, last_modified=feed.last_modified)
            if resp.not_modified:
                store.checked(feed.url, "unchanged (304)")
                report.feeds.append(FeedResult(feed.url, "unchanged (304)"))
                say(f"{feed.url}: unchanged (304 Not Modified)")
                continue
            title, entries = parse_feed(resp.content, resp.url)
        except FetchError as exc:
            store.checked(feed.url, f"failed: {exc}")
            report.feeds.append(FeedResult(feed.url, f"failed: {exc}", failed=True))
            say(f"{feed.url}: failed: {exc}")
            continue
        seen = store.seen(feed.url)
        todo = [e for e in entries[:max_items] if e.key not in seen or (e.updated and seen[e.key] != e.updated)]
        report.skipped += min(len(entries), max_items) - len(todo)
        say(f"{feed.url}: {len(entries)} items, {len(todo)} to fetch")
        by_link: dict[str, Entry] = {}
        for e in todo:
            by_link.setdefault(e.link, e)
        outcomes = fetch_articles(list(by_link), news_dir, fetcher, timings=report.timings,
                                  on_outcome=lambda o: say(f"  {o.line()}"), progress=progress)
        retry = False
        for e, o in zip(by_link.values(), outcomes):  # outcomes come in request order
            if o.status == "failed" and o.transient:
                retry = True  # not marked: fetched again next time
            else:
                store.mark(feed.url, e, o.status)
        report.outcomes += outcomes
        status = f"{sum(1 for o in outcomes if o.status in CHANGES)} new or changed items"
        # with an item to retry, forget the validators so that the next update gets the whole feed again
        store.checked(feed.url, status, (None, None) if retry else (resp.etag, resp.last_modified), title)
        report.feeds.append(FeedResult(feed.url, status))
    # also when nothing changed (unless every feed failed): articles stored by an update whose
    # indexing failed are indexed now; an up-to-date index costs one hash per file
    if report.feeds and not all(f.failed for f in report.feeds):
        t0 = time.perf_counter()
        report.index = index_news(index_dir, news_dir, progress=progress, encoder=encoder)
        report.timings.index = time.perf_counter() - t0
    return report
