"""The safe fetcher against a local server: robots, redirects, size, time, types, retries, SSRF."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import qa.ingest.fetcher as fetcher_mod
from qa.errors import FetchError, UserError
from qa.ingest.fetcher import Fetcher, TransientFetchError
from tests.news_server import NewsServer, feed, huge, page, redirect, rss, stall, statuses

HTML = ("<html><head><title>T</title></head><body><article><p>" + "Body text of a story. " * 20
        + "</p></article></body></html>")


@pytest.fixture
def srv():
    with NewsServer() as s:
        s.routes["/a"] = page(HTML)
        yield s


@pytest.fixture
def f():
    with Fetcher(allow_private=True, timeout=0.5, retries=2, backoff=0.01) as fx:
        yield fx


def test_page_with_user_agent_and_robots_read_once(srv, f):
    r = f.get_page(srv.url("/a"))
    r2 = f.get_page(srv.url("/a") + "?x=1")
    assert r.status == 200 and b"Body text" in r.content and r2.status == 200
    assert srv.hits("/a")[0]["User-Agent"].startswith("news-qa/")
    assert len(srv.hits("/robots.txt")) == 1


def test_robots_disallow_and_errors_are_user_errors(srv, f):
    srv.routes["/private/x"] = page(HTML)
    with pytest.raises(FetchError, match="robots.txt .* disallows"):
        f.get_page(srv.url("/private/x"))
    assert not srv.hits("/private/x")
    assert issubclass(FetchError, UserError)


def test_robots_missing_allows_and_unreachable_refuses(srv):
    srv.routes["/robots.txt"] = page("no", "text/plain", status=404)
    with Fetcher(allow_private=True, timeout=0.5) as fx:
        assert fx.get_page(srv.url("/a")).status == 200
    srv.routes["/robots.txt"] = page("down", "text/plain", status=500)
    with Fetcher(allow_private=True, timeout=0.5, retries=0) as fx, pytest.raises(TransientFetchError, match="robots"):
        fx.get_page(srv.url("/a"))


def test_non_html_and_404(srv, f):
    srv.routes["/doc.pdf"] = page(b"%PDF-1.4", "application/pdf")
    with pytest.raises(FetchError, match="not an HTML page .*application/pdf"):
        f.get_page(srv.url("/doc.pdf"))
    with pytest.raises(FetchError, match="HTTP 404"):
        f.get_page(srv.url("/missing"))


def test_redirects_followed_up_to_five_and_loops_refused(srv, f):
    for i in range(5):
        srv.routes[f"/r{i}"] = redirect(f"/r{i + 1}" if i < 4 else "/a")
    r = f.get_page(srv.url("/r0"))
    assert r.url == srv.url("/a") and len(r.redirects) == 5
    srv.routes["/r-1"] = redirect("/r0")
    with pytest.raises(FetchError, match="more than 5 redirects"):
        f.get_page(srv.url("/r-1"))
    srv.routes["/loop/a"], srv.routes["/loop/b"] = redirect("/loop/b", 301), redirect("/loop/a", 308)
    with pytest.raises(FetchError, match="redirect loop"):
        f.get_page(srv.url("/loop/a"))
    srv.routes["/to-ftp"] = redirect("ftp://example.org/x")
    with pytest.raises(FetchError, match="not an http"):
        f.get_page(srv.url("/to-ftp"))


def test_redirect_target_is_checked_again(srv, monkeypatch):
    # 127.0.0.1 is allowed here; the redirect goes to 127.0.0.2, which is "private"
    monkeypatch.setattr(fetcher_mod, "_refusal", lambda ip: "a private address" if str(ip) == "127.0.0.2" else None)
    srv.routes["/jump"] = redirect(f"http://127.0.0.2:{srv.port}/a")
    with Fetcher(allow_private=False, timeout=0.5) as fx, pytest.raises(FetchError, match="127.0.0.2.*private"):
        fx.get_page(srv.url("/jump"))


def test_timeout(srv, f):
    srv.routes["/slow"] = stall(srv.release)
    t0 = time.monotonic()
    with pytest.raises(TransientFetchError, match="timed out"):
        f.get_page(srv.url("/slow"))
    assert time.monotonic() - t0 < 3


@pytest.mark.parametrize("declared", [False, True])
def test_50_mb_page_stopped_at_the_cap(srv, declared):
    srv.routes["/huge"] = huge(50 * 1024 * 1024, declare_length=declared)
    with Fetcher(allow_private=True, timeout=2) as fx, pytest.raises(FetchError, match="10 MB limit"):
        fx.get_page(srv.url("/huge"))
    time.sleep(0.1)
    assert srv.httpd.huge_sent < 20 * 1024 * 1024  # stopped reading: the server could not send it all


def test_retries_on_503_and_429_then_succeeds(srv, f):
    srv.routes["/busy"] = statuses([503, 429], page(HTML), headers={"Retry-After": "0"})
    assert f.get_page(srv.url("/busy")).status == 200
    assert len(srv.hits("/busy")) == 3
    srv.routes["/down"] = statuses([503] * 5, page(HTML))
    with pytest.raises(TransientFetchError, match="HTTP 503"):
        f.get_page(srv.url("/down"))
    assert len(srv.hits("/down")) == 3  # first try + 2 retries


def test_conditional_get_gives_304(srv, f):
    srv.routes["/feed.xml"] = feed(rss([("1", "http://x/1", "One")]), etag='"abc"')
    first = f.get_feed(srv.url("/feed.xml"))
    assert first.etag == '"abc"' and first.last_modified and not first.not_modified
    again = f.get_feed(srv.url("/feed.xml"), etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.status == 304
    assert srv.hits("/feed.xml")[1]["If-None-Match"] == '"abc"'


# ------------------------------------------------------------------ SSRF


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x",
                                 "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/", "http://192.168.0.1/",
                                 "http://[::ffff:127.0.0.1]:9/", "http://0.0.0.0:9/"])
def test_private_loopback_link_local_refused(url, monkeypatch):
    monkeypatch.delenv("QA_FETCH_ALLOW_PRIVATE", raising=False)
    with Fetcher(timeout=0.5) as fx, pytest.raises(FetchError, match="refused .* address .*--allow-private"):
        fx.get_page(url)


def test_every_resolved_address_is_checked(monkeypatch):
    def fake(host, port, *a, **k):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(fetcher_mod.socket, "getaddrinfo", fake)
    with Fetcher(allow_private=False, timeout=0.5) as fx, pytest.raises(FetchError, match="10.0.0.7 is a private"):
        fx.get_page("http://mixed.example/")


def test_address_checked_again_at_connect_time(srv, monkeypatch):
    """DNS rebinding: the name resolves to a public address for the check, to loopback for the connection."""
    real = socket.getaddrinfo
    calls = []

    def rebinding(host, port, *a, **k):
        if host == "rebind.example":
            calls.append(host)
            ip = "93.184.216.34" if len(calls) == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, port, *a, **k)

    monkeypatch.setattr(fetcher_mod.socket, "getaddrinfo", rebinding)
    with Fetcher(allow_private=False, timeout=0.5, respect_robots=False) as fx, \
            pytest.raises(FetchError, match="127.0.0.1 is a loopback"):
        fx.get_page(f"http://rebind.example:{srv.port}/a")
    assert not srv.hits("/a")


def test_env_allows_private(srv, monkeypatch):
    monkeypatch.setenv("QA_FETCH_ALLOW_PRIVATE", "1")
    with Fetcher(timeout=0.5) as fx:
        assert fx.get_page(srv.url("/a")).status == 200


def test_at_most_two_requests_per_host_at_once(srv, tmp_path):
    from qa.news.ingest import fetch_articles

    state = {"now": 0, "max": 0}
    lock = threading.Lock()
    body = page(HTML)

    def counted(h) -> None:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        body(h)

    for i in range(8):
        srv.routes[f"/c{i}"] = counted
    with Fetcher(allow_private=True, timeout=2) as fx:
        fx.get_page(srv.url("/a"))  # robots.txt read first
        out = fetch_articles([srv.url(f"/c{i}") for i in range(8)], tmp_path, fx, workers=8)
    assert state["max"] == 2 and all(o.status != "failed" for o in out)



def test_a_url_with_credentials_is_refused_without_echoing_them():
    with pytest.raises(FetchError, match="user name or password") as exc:
        fetcher_mod.normalize_url("http://user:s3cret@127.0.0.1:8765/article.html")
    assert "s3cret" not in str(exc.value)
