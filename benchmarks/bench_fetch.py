"""Live news: a backlog of pages served locally, fetched, extracted, stored and indexed.

A separate process serves ``--pages`` generated news pages (JSON-LD, OpenGraph, navigation,
cookie banner, newsletter box, related stories, comments; bodies drawn from the seed articles'
sentences, so no two pages are near-duplicates) from ``--hosts`` loopback addresses
(127.0.0.1, 127.0.0.2, ...). This process runs ``qa.news.ingest.fetch_articles`` on all the URLs
(8 worker threads, at most 2 requests per host, robots.txt read per host; the CPU time of each
phase is summed over the threads, so it shows where the 2 cores went) and then
``qa.news.ingest.index_news`` (the seeds plus the news folder, into a fresh index with an empty
embedding cache), and prints where the time went.

    python benchmarks/bench_fetch.py [--pages 1000] [--hosts 10] [--encoder real|hash] [--json out.json]

``--encoder hash`` uses the tests' hashed bag-of-words encoder (no model, no multilingual
vectors): it measures everything but the embedding.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SEEDS, Workspace, emit, loadavg, row  # noqa: E402

OUTLETS = ["Harbor Times", "Northern Courier", "Eastern Review", "Pacific Wire", "Asia Ledger", "Sapporo Herald",
           "Far East Observer", "Kremlin Watch", "Volga News Agency", "Island Gazette"]


def _sentences() -> list[str]:
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt")))
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split()))]
    return [s for s in sents if 60 <= len(s) <= 300 and s[0].isupper()]


def page_html(i: int, sents: list[str]) -> str:
    """The i-th generated page (deterministic)."""
    rnd = random.Random(i)
    outlet = OUTLETS[i % len(OUTLETS)]
    title = f"{rnd.choice(sents)[:70].rsplit(' ', 1)[0]} ({i})"
    date = f"20{rnd.randint(13, 25):02d}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
    paras = ["<p>" + " ".join(rnd.sample(sents, 3)) + "</p>" for _ in range(rnd.randint(5, 9))]
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": title,
                     "datePublished": f"{date}T08:00:00Z", "author": {"@type": "Person", "name": "A. Writer"},
                     "publisher": {"@type": "Organization", "name": outlet}})
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title} | {outlet}</title>
<meta property="og:title" content="{title}"><meta property="og:site_name" content="{outlet}">
<meta property="article:published_time" content="{date}T08:00:00Z">
<script type="application/ld+json">{ld}</script></head><body>
<div class="cookie-banner">We use cookies to improve your experience. <button>Accept</button></div>
<header><a href="/">{outlet}</a><nav><a href="/world">World</a> <a href="/business">Business</a>
<a href="/sport">Sport</a> <a href="/opinion">Opinion</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">By A. Writer</p>
{paras[0]}{paras[1]}
<div class="newsletter"><h3>Morning Briefing</h3><p>Sign up for our newsletter.</p></div>
{''.join(paras[2:])}
<aside class="bio"><p>A. Writer covers diplomacy for {outlet}.</p></aside></article>
<section class="related"><h2>Related stories</h2><ul><li><a href="/a">Markets rally</a></li>
<li><a href="/b">Storm hits coast</a></li></ul></section>
<section id="comments"><h2>Comments</h2><div class="comment"><b>reader{i}</b><p>Interesting, thanks.</p></div></section>
</main><footer>© {outlet}. All rights reserved. Privacy · Terms</footer></body></html>"""


def serve(pages: int, hosts: int) -> None:
    """Serve the pages (page i on host i % hosts) until stdin closes; print one URL a line, then 'ready'."""
    sys.path.insert(0, str(ROOT))
    from tests.news_server import NewsServer, page

    sents = _sentences()
    servers = [NewsServer(host=f"127.0.0.{h + 1}") for h in range(hosts)]
    for i in range(pages):
        servers[i % hosts].routes[f"/news/{i}"] = page(page_html(i, sents))
    for s in servers:
        s.__enter__()
    for i in range(pages):
        print(servers[i % hosts].url(f"/news/{i}"))
    print("ready", flush=True)
    sys.stdin.read()
    for s in servers:
        s.__exit__(None, None, None)


def run(args) -> list[dict]:
    ws = Workspace("qa-bench-fetch")
    ws.activate()
    os.environ["QA_FETCH_ALLOW_PRIVATE"] = "1"
    news = ws.path / "news"
    encoder = None
    if args.encoder == "hash":
        os.environ["QA_MULTILINGUAL"] = "0"
        sys.path.insert(0, str(ROOT))
        from tests.conftest import HashEncoder

        encoder = HashEncoder()
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--pages", str(args.pages), "--hosts",
                               str(args.hosts)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        urls = []
        for line in server.stdout:
            if line.strip() == "ready":
                break
            urls.append(line.strip())
        import trafilatura  # noqa: F401  (import time is not extraction time)

        from qa.ingest.fetcher import Fetcher
        from qa.news.ingest import Timings, fetch_articles, index_news

        t = Timings()
        t0 = time.perf_counter()
        with Fetcher() as fetcher:
            outcomes = fetch_articles(urls, news, fetcher, workers=args.workers, timings=t)
        t_get = time.perf_counter() - t0
        t1 = time.perf_counter()
        report = index_news(ws.index, news, encoder=encoder)
        t_index = time.perf_counter() - t1
        total = time.perf_counter() - t0
    finally:
        server.stdin.close()
        server.wait(10)
    statuses = {s: sum(1 for o in outcomes if o.status == s) for s in ("new", "duplicate", "failed")}
    n = len(urls)
    note = f"{args.encoder} encoder; {args.hosts} hosts, {args.workers} threads, 2 per host"
    rows = [
        row("fetch", "pages", n, "", note=f"{note}: {statuses['new']} new, {statuses['duplicate']} duplicates, "
            f"{statuses['failed']} failed"),
        row("fetch", "total (fetch + extract + store + index)", total, "s", note=f"{n / total:.1f} pages/s"),
        row("fetch", "fetch + extract + store, wall", t_get, "s", note=f"{n / t_get:.1f} pages/s"),
        row("fetch", "  HTTP client (CPU, all threads)", t.fetch, "s", note=f"{t.fetch / n * 1000:.1f} ms/page"),
        row("fetch", "  extract (CPU, all threads)", t.extract, "s", note=f"{t.extract / n * 1000:.1f} ms/page"),
        row("fetch", "  store + dedup (CPU)", t.store, "s", note=f"{t.store / n * 1000:.1f} ms/page"),
        row("fetch", "index (seeds + news, empty cache)", t_index, "s",
            note=f"{report.passages} passages, {report.embedded} embedded; {n / t_index:.1f} pages/s"),
    ]
    ws.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--encoder", choices=["real", "hash"], default="real")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.pages, args.hosts)
        return
    print(f"load before: {loadavg()}", file=sys.stderr)
    rows = run(args)
    emit(rows, args.json, f"Live news: {args.pages} pages fetched and indexed (load after: {loadavg()})")


if __name__ == "__main__":
    main()
