"""Article extraction from news-like pages (tests/data/news/): metadata and boilerplate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.index.chunking import chunk_document
from qa.ingest.corpus import iter_files, load_file, make_document
from qa.ingest.extract import extract

DATA = Path(__file__).parent / "data" / "news"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))


def _extract(name: str):
    return extract((DATA / name).read_bytes(), EXPECTED[name]["url"])


def test_title_outlet_date_right_on_at_least_nine_in_ten():
    right = {"title": 0, "outlet": 0, "date": 0}
    wrong = []
    for name, exp in EXPECTED.items():
        art = _extract(name)
        for key in right:
            if getattr(art, key) == exp[key]:
                right[key] += 1
            else:
                wrong.append((name, key, getattr(art, key), exp[key]))
    n = len(EXPECTED)
    assert n >= 10
    assert all(v >= 0.9 * n for v in right.values()), wrong


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_body_kept_boilerplate_and_comments_out_of_passages(name):
    exp = EXPECTED[name]
    art = _extract(name)
    doc = make_document("d", art.stored_text(), meta={"title": art.title, "source": art.outlet, "date": art.date})
    passages = " ".join(p.text for p in chunk_document(doc))
    for phrase in exp["body"]:
        assert phrase in passages, phrase
    for phrase in exp["boilerplate"]:
        assert phrase.lower() not in passages.lower(), phrase
    if "author" in exp:
        assert art.author == exp["author"]


def test_page_metadata_wins_over_the_visible_text():
    art = _extract("p01_wire_jsonld.html")
    assert art.date == "2024-03-05"  # datePublished, not dateModified (03-06)
    assert art.title == "Japan, Russia agree to resume fishing talks near disputed islands"  # no " | Harbor Times"
    assert art.canonical_url.endswith("/japan-russia-fishing-talks")


def test_not_an_article():
    with pytest.raises(ValueError):
        extract(b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "https://x.example/")
    with pytest.raises(ValueError):
        extract(b"   ", "https://x.example/")


def test_html_files_in_a_corpus_are_read_with_trafilatura_and_raw_copies_skipped(tmp_path):
    shutil.copy(DATA / "p03_graph_publisher_ref.html", tmp_path / "abe.html")
    shutil.copy(DATA / "p02_og_only.html", tmp_path / "abe.raw.html")
    (tmp_path / "plain.txt").write_text("A plain headline\n\nSome body text that says something. " * 3)
    assert [p.name for p in iter_files(tmp_path)] == ["abe.html", "plain.txt"]
    doc = load_file(tmp_path / "abe.html")
    assert (doc.title, doc.source, doc.date) == ("Abe and Putin meet in Vladivostok: what was agreed",
                                                 "Eastern Review", "2019-09-05")
    assert "Remarkable persistence" not in doc.text  # a reader comment


def test_meta_sidecar_outlet_and_url(tmp_path):
    (tmp_path / "a.txt").write_text("Headline here\n\nThe minister said the talks would resume next week.\n")
    (tmp_path / "a.meta.json").write_text(json.dumps({"title": "T", "outlet": "Wire", "date": "2020-01-02",
                                                      "url": "https://w.example/a", "also_published_by": []}))
    doc = load_file(tmp_path / "a.txt")
    assert (doc.title, doc.source, doc.date, doc.meta["url"]) == ("T", "Wire", "2020-01-02", "https://w.example/a")
