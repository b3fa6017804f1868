"""``qa fetch``, ``qa feeds add|list|remove`` and ``qa update``: the command line of live news.

``add_parsers(sub)`` adds the subcommands to ``qa``'s parser and ``COMMANDS`` maps their names to
functions, as ``qa.cli.main`` expects. Heavy modules are imported inside the functions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from qa import progress as bars
from qa.errors import FetchError, UserError


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of minutes above 0, not {text!r}")
    return value


def _fetch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-private", action="store_true", default=None,
                   help="allow private, loopback and link-local addresses (also QA_FETCH_ALLOW_PRIVATE=1)")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for a server (default 15)")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``fetch``, ``feeds`` and ``update`` to ``qa``'s subcommands."""
    f = sub.add_parser("fetch", help="download news pages, store and index them")
    f.add_argument("urls", nargs="+", metavar="URL")
    _fetch_options(f)

    feeds = sub.add_parser("feeds", help="RSS/Atom subscriptions: add, list, remove")
    fsub = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    fa = fsub.add_parser("add", help="subscribe to a feed (checked by fetching it once)")
    fa.add_argument("url", metavar="URL")
    _fetch_options(fa)
    fsub.add_parser("list", help="the subscriptions").add_argument("--json", action="store_true")
    fsub.add_parser("remove", help="unsubscribe").add_argument("url", metavar="URL")

    u = sub.add_parser("update", help="poll every feed, fetch and index the new items")
    u.add_argument("--every", type=_minutes, metavar="MINUTES", help="keep polling, every MINUTES")
    u.add_argument("--max-items", type=int, default=100, help="newest items taken per feed and update (default 100)")
    _fetch_options(u)


def _paths(args) -> tuple[Path, Path]:
    from qa.index.store import default_index_dir
    from qa.ingest.corpus import project_seeds
    from qa.ingest.news_store import default_news_dir

    index_dir = args.index_dir or default_index_dir(project_seeds())
    return index_dir, default_news_dir(index_dir)


def _fetcher(args):
    from qa.ingest.fetcher import Fetcher

    return Fetcher(allow_private=args.allow_private, timeout=args.timeout)


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def _index_line(report) -> str:
    return (f"Indexed {report.documents} documents, {report.passages} passages in {report.seconds:.1f} s "
            f"({report.embedded} passages embedded, {report.reused} reused); a running bot picks it up "
            "before its next question.")


def cmd_fetch(args) -> int:
    """``qa fetch URL [URL ...]``."""
    from qa.news.ingest import fetch_and_index, plural

    index_dir, news_dir = _paths(args)
    single = len(args.urls) == 1

    def show(o) -> None:  # noqa: ANN001
        if o.status != "failed":
            bars.write(o.line())
        elif not single:
            bars.write(o.line(), file=sys.stderr)

    with _fetcher(args) as fetcher:
        report = fetch_and_index(args.urls, index_dir, news_dir, fetcher, on_outcome=show, progress=True)
    failed = [o for o in report.outcomes if o.status == "failed"]
    if not (single and failed):
        print(f"{report.count('new')} new, {report.count('updated')} updated, "
              f"{plural(report.count('duplicate'), 'duplicate')} (kept once), {report.count('unchanged')} unchanged, "
              f"{len(failed)} failed; "
              f"articles are in {news_dir}.")
    if report.index is not None and not report.index.up_to_date:
        print(_index_line(report.index))
    if single and failed:
        raise FetchError(failed[0].reason)
    if failed:
        raise FetchError(f"{len(failed)} of {len(args.urls)} URLs could not be fetched (listed above)")
    return 0


def cmd_feeds(args) -> int:
    """``qa feeds add|list|remove``."""
    from qa.news.feeds import FeedStore, add_feed, default_feeds_db

    index_dir, _ = _paths(args)
    store = FeedStore(default_feeds_db(index_dir))
    try:
        if args.feeds_command == "add":
            with _fetcher(args) as fetcher:
                url, title, n = add_feed(store, args.url, fetcher)
            print(f"Subscribed to {title or url} ({url}, {n} items now); `qa update` fetches them.")
        elif args.feeds_command == "remove":
            from qa.ingest.fetcher import normalize_url

            if not store.remove(normalize_url(args.url)) and not store.remove(args.url.strip()):
                raise UserError(f"not subscribed to {args.url} (see `qa feeds list`)")
            print(f"Unsubscribed from {args.url}; articles already fetched stay indexed.")
        else:
            feeds = store.feeds()
            if args.json:
                print(json.dumps([f.__dict__ for f in feeds], ensure_ascii=False))
            elif not feeds:
                print("No feeds yet: add one with `qa feeds add URL`.")
            for f in [] if args.json else feeds:
                print(f"{f.url}  {f.title or ''}\n    {f.items} items seen; last update "
                      f"{f.checked_at or 'never'}{': ' + f.status if f.status else ''}")
    finally:
        store.close()
    return 0


def _update_once(args, index_dir: Path, news_dir: Path):
    from qa.news.feeds import FeedStore, default_feeds_db, update

    store = FeedStore(default_feeds_db(index_dir))
    try:
        if not store.feeds():
            raise UserError("no feeds to update: add one with `qa feeds add URL`")
        with _fetcher(args) as fetcher:
            report = update(store, fetcher, index_dir, news_dir, say=bars.write, max_items=args.max_items,
                            progress=True)
    finally:
        store.close()
    print(f"Summary: {report.summary()}.")
    for o in report.outcomes:
        if o.status == "failed":
            print(f"  failed: {o.reason}")
    if report.index is not None and not report.index.up_to_date:
        print(_index_line(report.index))
    return report


def cmd_update(args) -> int:
    """``qa update [--every MINUTES]``."""
    index_dir, news_dir = _paths(args)
    if not args.every:
        report = _update_once(args, index_dir, news_dir)
        failures = sum(1 for f in report.feeds if f.failed) + report.count("failed")
        if failures:
            raise FetchError(f"{failures} of the feeds and items could not be fetched (listed above)")
        return 0
    while True:
        started = time.monotonic()
        print(time.strftime("[%Y-%m-%d %H:%M:%S] updating feeds"), flush=True)
        try:
            _update_once(args, index_dir, news_dir)
        except UserError as exc:  # a locked index, a feed list gone: say so and try again next round
            print(f"qa: error: {exc}", file=sys.stderr, flush=True)
        wait = max(0.0, args.every * 60 - (time.monotonic() - started))
        print(f"next update in {wait / 60:.1f} min (Ctrl-C stops)", flush=True)
        time.sleep(wait)


COMMANDS = {"fetch": cmd_fetch, "feeds": cmd_feeds, "update": cmd_update}
