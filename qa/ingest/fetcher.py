"""A polite, safe HTTP fetcher for news pages and feeds (httpx).

Rules: a User-Agent naming the project; robots.txt respected (RFC 9309); conditional GET
(ETag / Last-Modified) when the caller passes them; at most ``per_host`` requests at a time
to one host; connect/read timeouts; a size cap enforced while streaming; content-type checks;
at most ``max_redirects`` redirects, each target checked again; retries with backoff on
5xx, 429 and refused/reset connections. Host names are resolved and every address is checked:
private, loopback, link-local, multicast and reserved ranges are refused unless
``allow_private`` (``--allow-private`` / ``QA_FETCH_ALLOW_PRIVATE=1``). The check is made again
at connect time on the address actually used, so a host name that resolves differently the
second time (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
import time
import urllib.robotparser
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from qa.errors import FetchError

log = logging.getLogger(__name__)

USER_AGENT = "news-qa/0.1 (cited-answer QA over news; fetches pages its user asked for; respects robots.txt)"
ROBOTS_AGENT = "news-qa"
MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml",
              "text/xml", "application/x-rss+xml")
RETRY_STATUS = {429, 500, 502, 503, 504}


class HTTPStatusError(FetchError):
    """The server answered with an error status (``status``)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class TransientFetchError(FetchError):
    """A failure worth trying again later: timeout, no connection, 5xx or 429 after the retries."""


def allow_private_from_env() -> bool:
    """``QA_FETCH_ALLOW_PRIVATE=1`` allows private, loopback and link-local addresses."""
    return os.environ.get("QA_FETCH_ALLOW_PRIVATE", "").strip().lower() in ("1", "true", "yes")


@dataclass
class Response:
    """A fetched resource (after redirects)."""

    url: str  # the final URL
    status: int
    content: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    redirects: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The body decoded with the charset the server declared (else UTF-8, replacing errors)."""
        charset = "utf-8"
        for part in self.content_type.split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.lower() == "charset" and v:
                charset = v.strip("\"'")
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")


def normalize_url(url: str) -> str:
    """``url`` checked (http/https, a host) with its fragment dropped; FetchError otherwise."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"{url[:200]}: not an http(s) URL")
    if not parts.hostname:
        raise FetchError(f"{url[:200]}: no host name in the URL")
    if parts.username is not None or parts.password is not None:  # it would be stored and shown with the URL
        raise FetchError(f"{parts.scheme}://{parts.hostname}/...: a URL with a user name or password is not fetched")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


def _refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address may not be fetched by default, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for test, what in ((ip.is_loopback, "a loopback"), (ip.is_link_local, "a link-local"),
                       (ip.is_private, "a private"), (ip.is_multicast, "a multicast"),
                       (ip.is_reserved, "a reserved"), (ip.is_unspecified, "an unspecified")):
        if test:
            return f"{ip} is {what} address"
    return None


def checked_addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """Every address ``host`` resolves to, each checked; FetchError if any is refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host!r} ({exc})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow_private:
        for a in addresses:
            why = _refusal(ipaddress.ip_address(a.split("%")[0]))
            if why:
                raise FetchError(f"refused {host}: {why} (pass --allow-private or set QA_FETCH_ALLOW_PRIVATE=1 "
                                 "to fetch from your own network)")
    return addresses


class _GuardedBackend(httpcore.SyncBackend):
    """Connects only to addresses that passed the check (the one made at connect time)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ANN001
        last: Exception | None = None
        for address in checked_addresses(host, port, self.allow_private):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")


class Fetcher:
    """Fetches pages and feeds politely; thread-safe (use one per run, from several threads)."""

    def __init__(self, allow_private: bool | None = None, timeout: float = 15.0, max_bytes: int = MAX_BYTES,
                 max_redirects: int = MAX_REDIRECTS, retries: int = 2, backoff: float = 1.0, per_host: int = 2,
                 user_agent: str = USER_AGENT, respect_robots: bool = True) -> None:
        self.allow_private = allow_private_from_env() if allow_private is None else allow_private
        self.timeout, self.max_bytes, self.max_redirects = timeout, max_bytes, max_redirects
        self.retries, self.backoff, self.per_host = retries, backoff, max(1, min(int(per_host), 2))
        self.user_agent, self.respect_robots = user_agent, respect_robots
        transport = httpx.HTTPTransport()
        pool = getattr(transport, "_pool", None)
        if pool is not None and hasattr(pool, "_network_backend"):
            pool._network_backend = _GuardedBackend(self.allow_private)
        else:  # another httpx: the check before each request remains
            log.warning("httpx internals changed: addresses are checked before connecting only")
        self.client = httpx.Client(transport=transport, follow_redirects=False, trust_env=False,
                                   timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                   headers={"User-Agent": user_agent})
        self._lock = threading.Lock()
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._robots: dict[str, urllib.robotparser.RobotFileParser | str] = {}
        self._robots_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ public

    def get_page(self, url: str) -> Response:
        """An HTML page (text/html or XHTML)."""
        return self.get(url, HTML_TYPES, "an HTML page")

    def get_feed(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Response:
        """An RSS/Atom feed, conditionally (a 304 gives ``not_modified``)."""
        return self.get(url, FEED_TYPES, "an RSS or Atom feed", etag=etag, last_modified=last_modified)

    def get(self, url: str, accept: tuple[str, ...], what: str, etag: str | None = None,
            last_modified: str | None = None, max_bytes: int | None = None) -> Response:
        """GET ``url`` following at most ``max_redirects`` checked redirects; FetchError on any refusal."""
        start = url = normalize_url(url)
        seen: list[str] = []
        for _ in range(self.max_redirects + 1):
            self._check(url)
            resp = self._get_once(url, accept, what, etag, last_modified, max_bytes or self.max_bytes)
            if resp.status not in (301, 302, 303, 307, 308):
                resp.redirects = seen
                return resp
            target = resp.content.decode("utf-8", "replace")  # _finish puts the Location there
            if not target:
                raise FetchError(f"{url}: redirect without a Location")
            seen.append(url)
            try:
                url = normalize_url(urljoin(url, target))
            except FetchError as exc:
                raise FetchError(f"{start}: redirected to {exc}") from None
            if url in seen:
                raise FetchError(f"{start}: redirect loop ({url} again)")
        raise FetchError(f"{start}: more than {self.max_redirects} redirects")

    # ------------------------------------------------------------ internals

    def _check(self, url: str) -> None:
        parts = urlsplit(url)
        try:
            checked_addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80),
                              self.allow_private)
        except FetchError as exc:
            raise FetchError(f"{url}: {exc}") from None
        if self.respect_robots and not self._robots_allow(url):
            raise FetchError(f"{url}: robots.txt of {parts.netloc} disallows fetching it")

    def _host_slot(self, url: str) -> threading.BoundedSemaphore:
        host = urlsplit(url).hostname or ""  # per host name, whatever the port
        with self._lock:
            return self._hosts.setdefault(host, threading.BoundedSemaphore(self.per_host))

    def _get_once(self, url: str, accept: tuple[str, ...], what: str, etag: str | None,
                  last_modified: str | None, max_bytes: int) -> Response:
        """One request (retried on 5xx/429/refused connections); a redirect's Location in ``content``."""
        headers = {"Accept": ", ".join(accept) + ", */*;q=0.1"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            delay = self.backoff * (2 ** attempt)
            try:
                with self._host_slot(url), self.client.stream("GET", url, headers=headers) as r:
                    if r.status_code in RETRY_STATUS and attempt < self.retries:
                        delay = max(delay, _retry_after(r.headers.get("Retry-After"), cap=30.0))
                        log.info("%s: HTTP %d, retrying in %.1f s", url, r.status_code, delay)
                    else:
                        return self._finish(url, r, accept, what, max_bytes)
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                if attempt >= self.retries:
                    raise TransientFetchError(f"{url}: cannot connect ({_reason(exc)})") from None
                log.info("%s: %s, retrying in %.1f s", url, _reason(exc), delay)
            except httpx.TimeoutException:
                raise TransientFetchError(f"{url}: timed out (no answer within {self.timeout:g} s)") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{url}: {_reason(exc)}") from None
            attempt += 1
            time.sleep(delay)

    def _finish(self, url: str, r: httpx.Response, accept: tuple[str, ...], what: str, max_bytes: int) -> Response:
        status = r.status_code
        if status in (301, 302, 303, 307, 308):
            return Response(url, status, r.headers.get("Location", "").encode())
        if status == 304:
            return Response(url, 304, not_modified=True, etag=r.headers.get("ETag"),
                            last_modified=r.headers.get("Last-Modified"))
        if status in RETRY_STATUS:
            raise TransientFetchError(f"{url}: HTTP {status} {r.reason_phrase}".rstrip())
        if status >= 400:
            raise HTTPStatusError(f"{url}: HTTP {status} {r.reason_phrase}".rstrip(), status)
        ctype = r.headers.get("Content-Type", "")
        mime = ctype.split(";")[0].strip().lower()
        if accept and mime not in accept:
            raise FetchError(f"{url}: not {what} (content type {mime or 'missing'})")
        declared = r.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{url}: {int(declared) / 1e6:.0f} MB is larger than the "
                             f"{max_bytes / 1e6:.0f} MB limit")
        chunks, size = [], 0
        for chunk in r.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{url}: larger than the {max_bytes / 1e6:.0f} MB limit (stopped reading)")
            chunks.append(chunk)
        return Response(url, status, b"".join(chunks), ctype, r.headers.get("ETag"), r.headers.get("Last-Modified"))

    def _robots_allow(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.path == "/robots.txt":
            return True
        host = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            lock = self._robots_locks.setdefault(host, threading.Lock())
        with lock:
            if host not in self._robots:
                self._robots[host] = self._load_robots(host)
        rules = self._robots[host]
        if isinstance(rules, str):
            raise TransientFetchError(f"{url}: {rules}")
        return rules.can_fetch(ROBOTS_AGENT, url)

    def _load_robots(self, host: str) -> urllib.robotparser.RobotFileParser | str:
        """The host's robots.txt rules; a 4xx allows everything, a 5xx or no answer nothing (RFC 9309)."""
        rp = urllib.robotparser.RobotFileParser()
        try:
            resp = self.get(host + "/robots.txt", (), "robots.txt", max_bytes=512 * 1024)
        except HTTPStatusError as exc:
            if 400 <= exc.status < 500:
                rp.parse([])
                return rp
            return f"robots.txt of {urlsplit(host).netloc} cannot be read (HTTP {exc.status}), so nothing is fetched"
        except FetchError as exc:
            return f"robots.txt of {urlsplit(host).netloc} cannot be read, so nothing is fetched " \
                   f"({str(exc).split(': ', 1)[-1]})"
        rp.parse(resp.content.decode("utf-8", "replace").splitlines())
        return rp


def _retry_after(value: str | None, cap: float) -> float:
    if value and value.strip().isdigit():
        return min(float(value.strip()), cap)
    return 0.0


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
