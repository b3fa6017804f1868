"""The bot's /add URL against the fake Bot API server and a local news server (hash encoder)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.app import build_application
from qa.index.store import current_version_name
from tests.news_server import NewsServer, page
from tests.test_bot_telegram import TOKEN, FakeEngine, RunningBot, answers_in, server  # noqa: F401 (fixture)

DATA = Path(__file__).parent / "data" / "news"
ADMIN, OTHER = 42, 43


@pytest.fixture
def site():
    with NewsServer() as s:
        s.routes["/story"] = page((DATA / "p03_graph_publisher_ref.html").read_bytes())
        yield s


@pytest.fixture
def bot(server, tmp_path, seeds_copy, hash_encoder, cache_dir, monkeypatch):  # noqa: F811
    monkeypatch.setenv("QA_SEEDS_DIR", str(seeds_copy))
    monkeypatch.setenv("QA_FETCH_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("QA_BOT_ADMIN_IDS", f"{ADMIN}, 7")
    monkeypatch.delenv("QA_NEWS_DIR", raising=False)
    engine = FakeEngine()
    engine.index_dir = tmp_path / "idx"
    app = build_application(engine, TOKEN, base_url=server.base_url, feedback_db=tmp_path / "fb.sqlite",
                            retry_base_delay=0.05)
    running = RunningBot(app).start()
    yield engine
    running.stop()


def _text(msg) -> str:
    return msg.result["text"]


def test_admin_adds_a_page_and_is_told_what_was_added(server, site, bot, tmp_path):  # noqa: F811
    server.inject_text(ADMIN, f"/add {site.url('/story')}")
    (msg,) = server.wait_for_messages(ADMIN, 1, timeout=20)
    text = _text(msg)
    assert "Added Abe and Putin meet in Vladivostok: what was agreed (Eastern Review, 2019-09-05)" in text
    assert "ask me about it now" in text
    assert f'href="{site.url("/story")}"' in msg.params["text"]
    assert current_version_name(tmp_path / "idx") is not None
    meta = json.loads(next((tmp_path / "news").rglob("*.meta.json")).read_text())
    assert meta["outlet"] == "Eastern Review"


def test_others_are_refused_politely_and_nothing_is_fetched(server, site, bot, tmp_path):  # noqa: F811
    server.inject_text(OTHER, f"/add {site.url('/story')}")
    (msg,) = server.wait_for_messages(OTHER, 1)
    assert "only this bot's administrators can add articles" in _text(msg)
    assert not site.hits("/story") and not (tmp_path / "idx").exists()


def test_usage_and_bad_url(server, site, bot):  # noqa: F811
    server.inject_text(ADMIN, "/add")
    (msg,) = server.wait_for_messages(ADMIN, 1)
    assert "/add URL" in _text(msg)
    server.inject_text(ADMIN, f"/add {site.url('/missing')}")
    msgs = server.wait_for_messages(ADMIN, 2)
    assert "Could not add it" in _text(msgs[1]) and "HTTP 404" in _text(msgs[1])


def test_fetch_runs_off_the_event_loop(server, site, bot):  # noqa: F811
    served = page((DATA / "p09_meta_pubdate.html").read_bytes())

    def slow(h) -> None:  # answers only once released
        site.release.wait(10)
        served(h)

    site.routes["/slow"] = slow
    server.inject_text(ADMIN, f"/add {site.url('/slow')}")
    server.wait_for(lambda: site.hits("/slow"), message="the slow page requested")
    t0 = time.monotonic()
    server.inject_text(OTHER, "what did Lavrov say")  # another chat is answered while /add waits
    server.wait_for(lambda: answers_in(server, OTHER), message="an answer during /add")
    assert time.monotonic() - t0 < 5
    assert not server.messages(ADMIN)
    site.release.set()
    (msg,) = server.wait_for_messages(ADMIN, 1, timeout=20)
    assert "Added Hokkaido governor visits Shikotan" in _text(msg)


def test_source_lines_link_to_the_url_and_list_syndicated_copies():
    from bot.render import render_sources, source_line
    from qa.types import Hit, SourceInfo

    h = Hit(rank=1, doc_id="d", chunk_id="d#0", score=1.0, text="t", title="A <b>title</b>", source="Wire",
            date="2020-01-02", path=None, start=0, end=1, url='https://w.example/a?x=1&y="2"')
    assert source_line(h) == ('Wire, 2020-01-02 — <a href="https://w.example/a?x=1&amp;y=&quot;2&quot;">'
                              "<i>A &lt;b&gt;title&lt;/b&gt;</i></a>")
    h.url = "javascript:alert(1)"
    assert "href" not in source_line(h)
    s = SourceInfo("d", "T", "Wire", "2020-01-02", None, "en", 2, url="https://w.example/a",
                   also_published_by=[{"outlet": "Gazette", "url": "https://g.example/b"}])
    (msg,) = render_sources([s])
    assert "Wire, Gazette — <a href=\"https://w.example/a\"><i>T</i></a>" in msg
