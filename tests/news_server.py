"""A local HTTP server for the live-news tests and benchmark: pages, feeds, and misbehaviour.

Routes are functions of the request handler; helpers build the usual ones (a page, a feed with
ETag/Last-Modified, a redirect, a stalled answer, a huge streamed body, a status sequence).
Every request is recorded (path and headers) for assertions. Listens on a loopback address only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8",
          headers: dict | None = None) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


def page(body: str | bytes, ctype: str = "text/html; charset=utf-8", status: int = 200,
         etag: str | None = None, last_modified: str | None = None) -> Route:
    """A fixed answer; with ``etag``/``last_modified`` a matching conditional GET gets a 304."""
    data = body.encode("utf-8") if isinstance(body, str) else body

    def route(h: BaseHTTPRequestHandler) -> None:
        headers = {}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = last_modified
        if (etag and h.headers.get("If-None-Match") == etag) or (
                last_modified and not etag and h.headers.get("If-Modified-Since") == last_modified):
            h.send_response(304)
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            return
        _send(h, status, data, ctype, headers)

    return route


def feed(body: str, etag: str = '"v1"') -> Route:
    """An RSS/Atom document served with an ETag and Last-Modified."""
    return page(body, "application/rss+xml; charset=utf-8", etag=etag, last_modified=formatdate(0, usegmt=True))


def redirect(location: str, status: int = 302) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        _send(h, status, b"", headers={"Location": location})

    return route


def stall(release: threading.Event, seconds: float = 5.0) -> Route:
    """Sends nothing until ``release`` is set (or ``seconds`` pass): the client times out first."""

    def route(h: BaseHTTPRequestHandler) -> None:
        release.wait(seconds)

    return route


def huge(total: int, declare_length: bool = False, chunk: int = 64 * 1024) -> Route:
    """An HTML body of ``total`` bytes generated while sending (never held in memory)."""
    block = (b"<p>" + b"x" * (chunk - 7) + b"</p>\n")[:chunk]

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        if declare_length:
            h.send_header("Content-Length", str(total))
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        sent = 0
        try:
            while sent < total:
                h.wfile.write(block)
                sent += len(block)
                h.server.huge_sent = sent  # type: ignore[attr-defined]
        except (BrokenPipeError, ConnectionResetError):
            pass

    return route


def statuses(codes: list[int], then: Route, headers: dict | None = None) -> Route:
    """Answers with each of ``codes`` in turn (e.g. 503), then with ``then``."""
    left = list(codes)

    def route(h: BaseHTTPRequestHandler) -> None:
        if left:
            _send(h, left.pop(0), b"busy", "text/plain", headers)
        else:
            then(h)

    return route


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        srv: NewsServer = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        with srv.lock:
            srv.requests.append((self.path, dict(self.headers)))
        route = srv.routes.get(path)
        if route is None:
            _send(self, 404, b"not found", "text/plain")
        else:
            route(self)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up on purpose (size cap, timeout) is not an error here


class NewsServer:
    """``with NewsServer() as s: s.routes["/a"] = page(...); s.url("/a")``"""

    def __init__(self, robots: str = "User-agent: *\nDisallow: /private/\n", host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {"/robots.txt": page(robots, "text/plain")}
        self.requests: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.host = host
        self.httpd = _Server((host, 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.httpd.huge_sent = 0  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def hits(self, path: str) -> list[dict]:
        """Headers of the requests made for ``path``."""
        with self.lock:
            return [h for p, h in self.requests if p.split("?", 1)[0] == path]

    def __enter__(self) -> NewsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def rss(items: list[tuple[str, str, str]], title: str = "Test feed") -> str:
    """An RSS 2.0 document of ``(guid, link, title)`` items."""
    body = "".join(f"<item><guid>{g}</guid><link>{link}</link><title>{t}</title>"
                   f"<pubDate>Tue, 05 Mar 2024 08:00:00 GMT</pubDate></item>" for g, link, t in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>http://127.0.0.1/</link><description>test</description>{body}</channel></rss>")
