"""The news folder: names, duplicates across writers, files removed by hand."""

from __future__ import annotations

import json
from pathlib import Path

from qa.ingest.corpus import iter_files
from qa.ingest.extract import extract
from qa.ingest.news_store import NewsStore, article_url, name_for

DATA = Path(__file__).parent / "data" / "news"


def _art(name: str, url: str):
    return extract((DATA / name).read_bytes(), url)


def test_article_url_and_name():
    assert article_url("https://a.example/x?utm_source=rss&id=3#top") == "https://a.example/x?id=3"
    assert article_url("https://a.example/x?p=1", "https://a.example/story") == "https://a.example/story"
    assert article_url("https://a.example/x", "https://evil.example/y") == "https://a.example/x"  # other host
    n = name_for("https://www.a.example/news/2024/My Story.html")
    assert n.startswith("www-a-example/my-story-") and "/" in n and " " not in n


def test_duplicates_seen_across_two_writers_and_hand_removal(tmp_path):
    wire = _art("p05_amp_style_wire.html", "https://pacificwire.example/news/tokyo-protest-missiles-0123")
    copy = _art("p06_syndicated_copy.html", "https://islandgazette.example/world/tokyo-protest")
    other = _art("p02_og_only.html", "https://northerncourier.example/politics/lavrov")
    a, b = NewsStore(tmp_path), NewsStore(tmp_path)  # e.g. `qa update` and the bot's /add
    assert b.add(other, b"<html>", "t", other.url).status == "new"  # b reads the catalogue now
    first = a.add(wire, b"<html>", "t", wire.url)
    assert first.status == "new"
    dup = b.add(copy, b"<html>", "t", copy.url)  # b must see a's article
    assert dup.status == "duplicate" and dup.duplicate_of == wire.url
    meta = json.loads(first.path.with_name(first.path.name[:-4] + ".meta.json").read_text())
    assert [x["outlet"] for x in meta["also_published_by"]] == ["Island Gazette"]
    assert [p.name.endswith(".txt") for p in iter_files(tmp_path)] == [True, True]  # raw HTML not indexed
    a.close()
    b.close()
    for p in first.path.parent.glob(first.path.name[:-4] + ".*"):  # removed by hand
        p.unlink()
    c = NewsStore(tmp_path)
    assert c.add(copy, b"<html>", "t", copy.url).status == "new"
    c.close()


def test_unreadable_catalogue_is_rebuilt_from_the_files(tmp_path):
    wire = _art("p05_amp_style_wire.html", "https://pacificwire.example/news/tokyo-protest-missiles-0123")
    copy = _art("p06_syndicated_copy.html", "https://islandgazette.example/world/tokyo-protest")
    s = NewsStore(tmp_path)
    s.add(wire, b"<html>", "t", wire.url)
    s.close()
    for p in tmp_path.glob(".catalog.sqlite*"):
        p.write_bytes(b"not a database" * 100)
    s = NewsStore(tmp_path)
    assert s.add(copy, b"<html>", "t", copy.url).status == "duplicate"
    s.close()
