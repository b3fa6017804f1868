"""qa fetch / feeds / update end to end against a local server (hash encoder, no model)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli.main import main
from qa.index.store import current_version_name
from tests.news_server import NewsServer, feed, page, rss, stall

DATA = Path(__file__).parent / "data" / "news"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
ROOT = Path(__file__).resolve().parents[1]


def _path(name: str) -> str:
    return "/" + "/".join(EXPECTED[name]["url"].split("/")[3:])


@pytest.fixture
def site():
    with NewsServer() as s:
        for name in EXPECTED:
            s.routes[_path(name)] = page((DATA / name).read_bytes())
        yield s


@pytest.fixture
def env(tmp_path, seeds_copy, hash_encoder, cache_dir, monkeypatch):
    monkeypatch.setenv("QA_SEEDS_DIR", str(seeds_copy))
    monkeypatch.setenv("QA_FETCH_ALLOW_PRIVATE", "1")
    monkeypatch.delenv("QA_NEWS_DIR", raising=False)
    monkeypatch.delenv("QA_FEEDS_DB", raising=False)
    return tmp_path


def qa(env, capsys, *argv):
    code = main(["--index-dir", str(env / "idx"), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_fetch_stores_indexes_and_cites_the_url(env, site, capsys):
    url = site.url(_path("p01_wire_jsonld.html"))
    code, out, err = qa(env, capsys, "fetch", url)
    assert code == 0, err
    assert out.startswith("new        Japan, Russia agree to resume fishing talks near disputed islands (Harbor Times, "
                          "2024-03-05)")
    stored = list((env / "news").rglob("*"))
    names = sorted(p.name.split("-")[-1].split(".", 1)[1] for p in stored if p.is_file() and not p.name.startswith("."))
    assert names == ["meta.json", "raw.html", "txt"]
    meta = json.loads(next((env / "news").rglob("*.meta.json")).read_text())
    assert meta["url"] == url and meta["outlet"] == "Harbor Times" and meta["author"] == "Keiko Tanaka"
    assert meta["fetched_at"].endswith("Z")

    code, out, _ = qa(env, capsys, "search", "Nemuro kelp octopus quotas", "--k", "3", "--json")
    hits = json.loads(out)["results"]
    top = hits[0]
    assert top["url"] == url and top["source"] == "Harbor Times"
    text = Path(top["path"]).read_text(encoding="utf-8")
    assert " ".join(text[top["start"] : top["end"]].split()) == top["text"]  # offsets into the stored text
    assert all(h["url"] is None for h in hits if h["doc_id"].startswith("00"))  # seed articles have none

    code, out, _ = qa(env, capsys, "ask", "What do the Nemuro boats catch near the islands?")
    assert url in out  # the terminal citation shows the URL
    code, out, _ = qa(env, capsys, "sources", "--json")
    docs = json.loads(out)
    assert len(docs) == 6  # 5 seeds + 1 article: the raw HTML is not indexed
    assert [d["url"] for d in docs if d["url"]] == [url]

    # a plain `qa index` keeps the news folder (it is recorded in the manifest's sources)
    code, out, _ = qa(env, capsys, "index")
    assert code == 0 and "up to date" in out


def test_syndicated_copy_kept_once_and_listed(env, site, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    wire, copy = site.url(_path("p05_amp_style_wire.html")), site.url(_path("p06_syndicated_copy.html"))
    code, out, err = qa(env, capsys, "fetch", wire, copy)
    assert code == 0, err
    assert "1 new, 0 updated, 1 duplicate (kept once)" in out
    code, out, _ = qa(env, capsys, "sources", "--json")
    docs = [d for d in json.loads(out) if d["url"]]
    assert len(docs) == 1 and docs[0]["source"] == "Pacific Wire"
    assert [(a["outlet"], a["url"]) for a in docs[0]["also_published_by"]] == [("Island Gazette", copy)]
    code, out, _ = qa(env, capsys, "sources")
    assert "also published by" in out and "Island Gazette" in out


def test_updated_page_replaces_the_old_version(env, site, capsys):
    name = "p02_og_only.html"
    url = site.url(_path(name))
    assert qa(env, capsys, "fetch", url)[0] == 0
    code, out, _ = qa(env, capsys, "fetch", url)
    assert code == 0 and out.startswith("unchanged") and "Indexed" not in out
    html = (DATA / name).read_text().replace("openly hostile course", "openly hostile and unfriendly course")
    site.routes[_path(name)] = page(html)
    code, out, _ = qa(env, capsys, "fetch", url)
    assert code == 0 and out.startswith("updated")
    assert len(list((env / "news").rglob("*.txt"))) == 1
    code, out, _ = qa(env, capsys, "search", "hostile unfriendly course", "--json")
    assert "unfriendly" in json.loads(out)["results"][0]["text"]


@pytest.mark.parametrize("path,message", [
    ("/doc.pdf", "not an HTML page (content type application/pdf)"),
    ("/nowhere", "HTTP 404"),
    ("/private/secret", "robots.txt"),
    ("/empty", "no article text"),
])
def test_bad_input_one_line_and_index_unchanged(env, site, capsys, path, message):
    site.routes["/doc.pdf"] = page(b"%PDF-1.4", "application/pdf")
    site.routes["/empty"] = page("<html><body><nav>Home</nav></body></html>")
    site.routes["/private/secret"] = page("<p>x</p>")
    assert qa(env, capsys, "fetch", site.url(_path("p04_title_and_time_only.html")))[0] == 0
    before = current_version_name(env / "idx")
    code, out, err = qa(env, capsys, "fetch", site.url(path))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("qa: error: ") and message in err
    assert current_version_name(env / "idx") == before


def test_refuses_private_addresses_without_permission(env, site, capsys, monkeypatch):
    monkeypatch.delenv("QA_FETCH_ALLOW_PRIVATE")
    code, _, err = qa(env, capsys, "fetch", site.url(_path("p01_wire_jsonld.html")))
    assert code == 1 and "loopback address" in err and "--allow-private" in err
    assert not (env / "idx").exists()
    code, _, err = qa(env, capsys, "fetch", "--allow-private", site.url(_path("p01_wire_jsonld.html")))
    assert code == 0, err


def test_several_urls_some_bad(env, site, capsys):
    good = site.url(_path("p07_blog_microdata.html"))
    code, out, err = qa(env, capsys, "fetch", good, site.url("/nope"))
    assert code == 1 and "1 new" in out and "Indexed" in out
    assert "failed" in err and "qa: error: 1 of 2 URLs could not be fetched" in err


def test_feeds_add_list_remove_and_update(env, site, capsys):
    names = sorted(EXPECTED)
    items = [(n, site.url(_path(n)), n) for n in names[:6]]
    site.routes["/feed.xml"] = feed(rss(items[:4], title="Wire feed"))
    site.routes["/broken.xml"] = page("<rss><channel><item>oops", "application/rss+xml")
    site.routes["/page.html"] = page("<html><body><p>hi</p></body></html>")

    code, out, err = qa(env, capsys, "feeds", "add", site.url("/feed.xml"))
    assert code == 0 and "Subscribed to Wire feed" in out and "4 items" in out
    for bad, msg in (("/broken.xml", "not a readable RSS or Atom feed"), ("/page.html", "not an RSS or Atom feed")):
        code, out, err = qa(env, capsys, "feeds", "add", site.url(bad))
        assert code == 1 and msg in err and err.count("\n") == 1
    code, out, _ = qa(env, capsys, "feeds", "list", "--json")
    assert [f["url"] for f in json.loads(out)] == [site.url("/feed.xml")]
    assert (env / "feeds.sqlite").exists()

    code, out, err = qa(env, capsys, "update")
    assert code == 0, err
    assert "4 items, 4 to fetch" in out and "items: 4 new" in out and "Indexed" in out
    v1 = current_version_name(env / "idx")

    code, out, _ = qa(env, capsys, "update")  # unchanged feed: a conditional GET, a 304, nothing indexed
    assert code == 0 and "unchanged (304 Not Modified)" in out and "Indexed" not in out
    assert current_version_name(env / "idx") == v1
    assert site.hits("/feed.xml")[-1].get("If-None-Match") == '"v1"'

    # the feed grows by two items (one a syndicated copy of an item already fetched)
    site.routes["/feed.xml"] = feed(rss(items, title="Wire feed"), etag='"v2"')
    code, out, _ = qa(env, capsys, "update")
    assert "6 items, 2 to fetch" in out and "1 new" in out and "1 duplicate (kept once)" in out and "4 skipped" in out

    code, out, _ = qa(env, capsys, "feeds", "remove", site.url("/feed.xml"))
    assert code == 0
    code, _, err = qa(env, capsys, "feeds", "remove", site.url("/feed.xml"))
    assert code == 1 and "not subscribed" in err
    code, _, err = qa(env, capsys, "update")
    assert code == 1 and "no feeds" in err


def test_update_reports_broken_feed_and_retries_timed_out_items(env, site, capsys):
    good = site.url(_path("p09_meta_pubdate.html"))
    site.routes["/feed.xml"] = feed(rss([("a", good, "A"), ("b", site.url("/slow"), "B")]))
    site.routes["/slow"] = stall(site.release)
    site.routes["/other.xml"] = feed(rss([("c", site.url(_path("p10_wordpress_no_og.html")), "C")]))
    assert qa(env, capsys, "feeds", "add", site.url("/feed.xml"))[0] == 0
    assert qa(env, capsys, "feeds", "add", site.url("/other.xml"))[0] == 0
    site.routes["/other.xml"] = page("<rss><channel><item>broken", "application/rss+xml")
    code, out, err = qa(env, capsys, "update", "--timeout", "0.3")
    assert code == 1 and "qa: error: 2 of the feeds and items could not be fetched" in err
    assert "1 new" in out and "timed out" in out and "not a readable RSS" in out and "Indexed" in out
    # the timed-out item was not marked as seen, and the feed's validators were dropped: tried again
    site.routes["/slow"] = page((DATA / "p11_jsonld_only_modern.html").read_bytes())
    code, out, err = qa(env, capsys, "update", "--timeout", "0.3")
    assert "2 items, 1 to fetch" in out and "Japan's new prime minister" in out


def test_update_every_loops_until_interrupted(env, site, capsys, monkeypatch):
    from qa.cli import news as news_cli

    site.routes["/feed.xml"] = feed(rss([("a", site.url(_path("p12_print_style_dateline.html")), "A")]))
    assert qa(env, capsys, "feeds", "add", site.url("/feed.xml"))[0] == 0
    waits = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(news_cli.time, "sleep", sleep)
    code, out, _ = qa(env, capsys, "update", "--every", "0.5")
    assert code == 130 and out.count("updating feeds") == 2 and "1 new" in out and "unchanged (304" in out
    assert 25 < waits[0] <= 30


def test_fetch_and_update_bars_on_a_terminal_only(env, site, capsys, monkeypatch):
    first, second = site.url(_path("p01_wire_jsonld.html")), site.url(_path("p07_blog_microdata.html"))
    monkeypatch.delenv("QA_PROGRESS", raising=False)
    code, out, err = qa(env, capsys, "fetch", first)  # stderr redirected: no bar
    assert code == 0 and out.startswith("new ") and not any(m in err for m in ("\r", "\x1b[", "%|")), err

    monkeypatch.setenv("QA_PROGRESS", "1")  # a terminal: the pages fetched, then the index's steps
    code, out, err = qa(env, capsys, "fetch", first, second)
    assert code == 0, err
    lines = out.splitlines()  # the outcome lines whole, on stdout; the bars on stderr
    assert lines[0].startswith("unchanged  ") and lines[1].startswith("new ") and "\r" not in out
    assert re.search(r"fetching: +0%\|[^|]*\| 0/2 \[", err) and re.search(r"embedding: +0%\|[^|]*\| 0/\d+ \[", err)

    items = [("a", first, "A"), ("b", site.url(_path("p09_meta_pubdate.html")), "B")]
    site.routes["/feed.xml"] = feed(rss(items, title="Wire feed"))
    assert qa(env, capsys, "feeds", "add", site.url("/feed.xml"))[0] == 0
    code, out, err = qa(env, capsys, "update")
    assert code == 0 and "2 items, 2 to fetch" in out and "\r" not in out
    assert re.search(r"fetching: +0%\|[^|]*\| 0/2 \[", err)


def test_query_path_does_not_import_the_news_libraries():
    code = ("import sys, qa.cli.main, qa.search.engine, qa.search.retrieve, qa.answer, bot.handlers; "
            "qa.cli.main._parser(); print(sorted(m for m in ('trafilatura', 'feedparser', 'datasketch', 'lxml', "
            "'qa.ingest.fetcher', 'qa.ingest.extract') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=True).stdout
    assert out.strip() == "[]"
