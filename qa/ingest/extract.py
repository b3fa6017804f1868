"""HTML page -> article text and metadata (title, outlet, author, date), with trafilatura.

The page's own metadata comes first, because publishers write it for exactly this:

- title: JSON-LD ``headline`` > ``og:title`` > trafilatura's title (``<h1>``/``<title>``); a trailing
  `` | Outlet`` / `` - Outlet`` naming the outlet is cut off;
- outlet: ``og:site_name`` > JSON-LD ``publisher.name`` > trafilatura's site name > what follows
  the headline in ``<title>`` (``Headline | Outlet``) > the host name (``www.`` dropped);
- date (the publication date, never the modification date): JSON-LD ``datePublished`` >
  ``article:published_time`` > htmldate (through trafilatura: other meta tags, ``<time>``,
  the URL, the text);
- author: JSON-LD ``author`` > ``<meta name="author">`` > trafilatura's author.

The text is trafilatura's main-content extraction without comments or tables; a first line
repeating the title, byline and news-ticker lines, and the run of headings, link lists, credits
and newsletter pitches after the last paragraph are dropped. trafilatura and lxml are imported only here
(not by the query path).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ARTICLE_TYPES = {"newsarticle", "article", "reportagenewsarticle", "analysisnewsarticle", "opinionnewsarticle",
                 "backgroundnewsarticle", "reviewnewsarticle", "blogposting", "liveblogposting", "report",
                 "scholarlyarticle", "techarticle"}
_DATE = re.compile(r"((?:19|20)\d\d)-(\d\d)-(\d\d)")
_BYLINE = re.compile(r"^(?:by|written by|story by|reporting by)\s+[A-Z][\w.'’-]*"
                     r"(?:[\s,]+(?:and\s+)?[A-Z][\w.'’-]*){0,6}\s*(?:[|,/–—-].{0,60})?$", re.IGNORECASE)
MIN_CHARS = 50  # less text than this (or no sentence) is not an article: a menu, a login page
_TICKER = re.compile(r"^\d{1,2}:\d\d\s+\S")  # "15:40 Ruble strengthens against the euro"
_PITCH = re.compile(r"\b(sign up|subscribe|newsletter|unsubscribe|in your inbox|follow us)\b", re.IGNORECASE)
_TITLE_SEPARATORS = (" | ", " - ", " — ", " – ", " :: ", " · ")


@dataclass
class Article:
    """An extracted article: body text (paragraphs separated by blank lines) and metadata."""

    text: str
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    date: str | None = None  # YYYY-MM-DD
    url: str | None = None
    canonical_url: str | None = None
    language: str | None = None

    def stored_text(self) -> str:
        """What is stored and indexed: the title, a blank line, then the body."""
        return f"{self.title}\n\n{self.text}\n" if self.title else f"{self.text}\n"


def _iso_date(value: object) -> str | None:
    m = _DATE.search(str(value or ""))
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def _name(value: object) -> str | None:
    """A person or organisation name from a JSON-LD value (string, object or list)."""
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value) if n]
        return ", ".join(dict.fromkeys(names)) or None
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, str) and value.strip() and not value.strip().startswith(("http://", "https://")):
        return " ".join(value.split())
    return None


def _json_ld_nodes(tree) -> list[dict]:  # noqa: ANN001 (lxml element)
    nodes: list[dict] = []

    def walk(obj: object) -> None:
        if isinstance(obj, list):
            for x in obj:
                walk(x)
        elif isinstance(obj, dict):
            nodes.append(obj)
            if "@graph" in obj:
                walk(obj["@graph"])

    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            walk(json.loads(script.text_content() or "null"))
        except ValueError:
            continue
    return nodes


def _types(node: dict) -> set[str]:
    t = node.get("@type", [])
    return {str(x).lower() for x in (t if isinstance(t, list) else [t])}


def page_metadata(tree) -> dict[str, str | None]:  # noqa: ANN001 (lxml element)
    """The metadata the page states itself (JSON-LD, OpenGraph, article:*, meta author, canonical)."""
    out: dict[str, str | None] = {}
    nodes = _json_ld_nodes(tree)
    by_id = {n["@id"]: n for n in nodes if isinstance(n.get("@id"), str)}
    article = next((n for n in nodes if _types(n) & ARTICLE_TYPES), None)
    if article:
        out["ld_title"] = _name(article.get("headline")) or _name(article.get("name"))
        out["ld_date"] = _iso_date(article.get("datePublished"))
        out["ld_author"] = _name(article.get("author"))
        pub = article.get("publisher")
        if isinstance(pub, dict) and "@id" in pub and "name" not in pub:
            pub = by_id.get(pub["@id"], pub)
        out["ld_outlet"] = _name(pub)
    if not out.get("ld_outlet"):
        site = next((n for n in nodes if _types(n) & {"newsmediaorganization", "website"}), None)
        out["ld_outlet"] = _name(site) if site else None

    def meta(*keys: str) -> str | None:
        for k in keys:
            for attr in ("property", "name", "itemprop"):
                for el in tree.xpath(f'//meta[@{attr}="{k}"]'):
                    v = " ".join((el.get("content") or "").split())
                    if v:
                        return v
        return None

    out["og_title"] = meta("og:title")
    out["og_site"] = meta("og:site_name")
    out["og_date"] = _iso_date(meta("article:published_time"))
    out["meta_author"] = _name(meta("author", "article:author"))
    canon = tree.xpath('//link[@rel="canonical"]/@href') or [meta("og:url") or ""]
    out["canonical"] = canon[0].strip() or None
    return out


def _strip_outlet(title: str, outlet: str | None, host: str | None) -> str:
    """``Headline | Outlet`` -> ``Headline`` (only when the cut part names the outlet or host)."""
    names = {x.lower() for x in (outlet, host) if x}
    for sep in _TITLE_SEPARATORS:
        if sep in title:
            head, _, tail = title.rpartition(sep)
            t = tail.strip().lower()
            if head.strip() and any(t == n or t in n or n in t for n in names):
                return head.strip()
    return title.strip()


def _host(url: str | None) -> str | None:
    host = urlsplit(url).hostname if url else None
    return host[4:] if host and host.startswith("www.") else host


def _title_outlet(tree, title: str | None) -> str | None:  # noqa: ANN001 (lxml element)
    """The outlet named after the headline in ``<title>`` (``Headline | Outlet``), or None."""
    raw = " ".join((tree.findtext(".//title") or "").split())
    headlines = {" ".join(h.text_content().split()).lower() for h in tree.xpath("//h1")}
    if title:
        headlines.add(title.lower())
    for sep in _TITLE_SEPARATORS:
        head, found, tail = raw.rpartition(sep)
        if found and tail.strip() and head.strip().lower() in headlines and len(tail) <= 60:
            return tail.strip()
    return None


def _is_trailer(line: str) -> bool:
    """A line of what follows an article: a heading, link or ticker line, a newsletter or subscription pitch."""
    short_fragment = len(line) < 80 and not line.rstrip("\"'”’)").endswith((".", "!", "?"))
    return short_fragment or (len(line) < 200 and bool(_PITCH.search(line)))


def _clean_body(text: str, title: str | None, author: str | None) -> str:
    """Drop a first line repeating the title, byline and ticker lines, and the trailing run of
    headings, link lists, credits and newsletter pitches after the last paragraph."""
    lines = [" ".join(ln.split()) for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if lines and title and lines[0].lower() == title.lower():
        lines = lines[1:]
    out = [ln for ln in lines if not (len(ln) < 120 and (_BYLINE.match(ln) or _TICKER.match(ln)
                                                          or (author and ln.lower() == author.lower())))]
    while len(out) > 1 and _is_trailer(out[-1]):
        out.pop()
    return "\n\n".join(out)


def extract(html: str | bytes, url: str | None = None) -> Article:
    """The article in an HTML page; ValueError when no article text is found."""
    import lxml.html
    import trafilatura

    if isinstance(html, bytes):
        from qa.ingest.decoding import BadDocument, decode

        try:
            html = decode(html, url or "page")
        except BadDocument as exc:
            raise ValueError(str(exc)) from None
    if not html.strip():
        raise ValueError("empty page")
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise ValueError(f"not an HTML page ({exc})") from None
    page = page_metadata(tree)
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                      include_tables=False, favor_precision=True,
                                      date_extraction_params={"original_date": True, "extensive_search": True})
    if doc is None or not (doc.text or "").strip():
        raise ValueError("no article text found on the page")
    host = _host(url) or (doc.hostname and _host("http://" + doc.hostname))
    raw_title = page.get("ld_title") or page.get("og_title") or doc.title
    named = doc.sitename if doc.sitename and "." not in doc.sitename else None  # not its host-name fallback
    outlet = page.get("og_site") or page.get("ld_outlet") or named or _title_outlet(tree, raw_title) or host
    title = _strip_outlet(raw_title, outlet, host) if raw_title else None
    author = page.get("ld_author") or page.get("meta_author") or doc.author
    date = page.get("ld_date") or page.get("og_date") or _iso_date(doc.date)
    body = _clean_body(doc.text, title, author)
    if len(body) < MIN_CHARS or not re.search(r"[.!?][\"'”’)]?(\s|$)", body):
        raise ValueError("no article text found on the page")
    return Article(text=body, title=title, outlet=outlet, author=author, date=date, url=url,
                   canonical_url=page.get("canonical"), language=doc.language)
