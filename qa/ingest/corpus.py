"""Loading articles: decoding, cleaning, metadata (title, outlet, date, language).

A document keeps its original text; every passage cut from it is a span of that
text, so citations point at exactly what the file says.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from qa.ingest.cleaning import HEADER_LINE, classify, sections, split_lines
from qa.ingest.decoding import MAX_DOC_BYTES, BadDocument, decode  # noqa: F401 (re-exported)
from qa.text.markup import html_to_text
from qa.text.words import MONTH, month_number

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md", ".html", ".htm")
RAW_SUFFIXES = (".raw.html", ".raw.htm")  # a fetched page as downloaded, kept beside its extracted text


@dataclass
class Document:
    """An article: original text, citable sections, metadata."""

    doc_id: str
    title: str
    text: str  # the original (decoded) text; offsets point into it
    sections: list[list[tuple[int, int]]]
    source: str | None = None
    date: str | None = None  # YYYY-MM-DD, only when the text states it
    year_hint: int | None = None  # latest year the text mentions (for recency only)
    language: str = "en"
    path: str | None = None
    fingerprint: str = ""
    meta: dict = field(default_factory=dict)


# ---------------------------------------------------------------- decoding


def fingerprint_bytes(data: bytes) -> str:
    """Content fingerprint of a file (sha256, hex)."""
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- metadata

_MONTH_RE = MONTH
_DATE_PATTERNS = [
    re.compile(r"\b(?P<y>(?:19|20)\d\d)-(?P<m>\d\d)-(?P<d>\d\d)\b"),
    re.compile(r"\b(?P<mon>" + _MONTH_RE + r")\s+(?P<d>\d{1,2}),?\s+(?P<y>(?:19|20)\d\d)\b"),
    re.compile(r"\b(?P<d>\d{1,2})\s+(?P<mon>" + _MONTH_RE + r")\s+(?P<y>(?:19|20)\d\d)\b"),
]
_DATELINE_OUTLET = re.compile(
    r"^[A-ZА-Я][\w .\[\]]{1,40},\s*" + r"(?:" + _MONTH_RE + r"\s+\d{1,2},?\s+\d{4}|\d{4}-\d\d-\d\d)"
    + r",\s*(?P<outlet>[A-Z][\w&.\- ]{1,40}?)[.:]\s"
)
_YEAR = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")


def _parse_date(text: str) -> str | None:
    for pat in _DATE_PATTERNS:
        m = pat.search(text)
        if not m:
            continue
        gd = m.groupdict()
        month = int(gd["m"]) if gd.get("m") else month_number(gd["mon"])
        try:
            return date(int(gd["y"]), month, int(gd["d"])).isoformat()
        except ValueError:
            continue
    return None


def _outlet(lines_text: list[str], header: list[str], body_start: str) -> str | None:
    for h in header:
        m = HEADER_LINE.match(h)
        if m:
            return h.split("|")[0].strip()
    m = _DATELINE_OUTLET.match(body_start)
    if m:
        return m.group("outlet").strip()
    for t in lines_text:
        m = re.search(r"^\s*([A-Z][\w.-]{1,40}) is not responsible for", t)
        if m:
            return m.group(1)
    full = "\n".join(lines_text)
    m = re.search(r"\b(?:in|of) the ([A-Z][\w-]{2,30}) (?:article|report|newspaper)\b", full)
    if m:
        return m.group(1)
    told = Counter(re.findall(r"\btold ([A-Z][\w-]{2,30})\b", full))
    if told:
        name, count = told.most_common(1)[0]
        if count >= 3:
            return name
    return None


def _language(text: str) -> str:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "und"
    cyr = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    cjk = sum(1 for c in letters if "\u3040" <= c <= "\u9fff")
    if cyr > 0.5 * len(letters):
        return "ru"
    if cjk > 0.3 * len(letters):
        return "ja"
    return "en"


def sidecar_path(path: Path) -> Path:
    """``NAME.meta.json`` beside the article ``NAME.ext``."""
    return path.with_name(path.stem + ".meta.json")


def _read_meta_sidecar(path: Path) -> dict:
    """Optional ``NAME.meta.json`` beside an article: title/source (or outlet)/date overrides,
    and the ``url`` and ``also_published_by`` of a fetched article."""
    side = sidecar_path(path)
    if not side.exists():
        return {}
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s: ignoring unreadable metadata (%s)", side.name, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    if not data.get("source") and data.get("outlet"):
        data["source"] = data["outlet"]
    return {k: v for k, v in data.items() if k in ("title", "source", "date", "url", "also_published_by") and v}


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# a year that is a plan or a deadline, not a period the article reports: "by 2030", "will ... in 2027"
_FUTURE_YEAR = re.compile(r"\b(?:by|until|till|through|before)\s+(?:the end of\s+)?(?:\w+\s+)?$", re.IGNORECASE)
_FUTURE = re.compile(r"\b(?:will|shall|plans?|planned|planning|expects?|expected|scheduled|aims?|aiming|"
                     r"intends?|target|goal|forecast)\b", re.IGNORECASE)


def reported_years(text: str) -> list[int]:
    """The years ``text`` reports as past or present: not later than today, and not a plan for a
    year to come ("will ... in 2027", "by 2030")."""
    this_year = date.today().year
    out = []
    for sentence in _SENTENCE_END.split(text):
        future = bool(_FUTURE.search(sentence))
        for m in _YEAR.finditer(sentence):
            y = int(m.group(1))
            if y > this_year or _FUTURE_YEAR.search(sentence[: m.start()]) or (future and y >= this_year - 1):
                continue
            out.append(y)
    return out


def make_document(doc_id: str, text: str, path: str | None = None, fingerprint: str = "",
                  title: str | None = None, meta: dict | None = None) -> Document:
    """Clean ``text`` and extract metadata into a :class:`Document`."""
    lines = split_lines(text)
    found_title = classify(lines)
    secs = sections(lines)
    body_lines = [ln.text for ln in lines if ln.kind in ("body", "caption")]
    first_body = next((ln for ln in lines if ln.kind == "body"), None)
    header = [ln.text for ln in lines[: (lines.index(first_body) if first_body else len(lines))]]
    body_start = first_body.text if first_body else ""
    stated = _parse_date("\n".join(header)) or _parse_date(body_start[:200])
    years = reported_years("\n".join(body_lines))
    meta = meta or {}
    doc = Document(
        doc_id=doc_id,
        title=(meta.get("title") or title or found_title or doc_id).strip(),
        text=text,
        sections=secs,
        source=meta.get("source") or _outlet([ln.text for ln in lines if ln.kind != "comment"], header, body_start),
        date=meta.get("date") or stated,
        year_hint=max(years) if years else None,
        language=_language(" ".join(body_lines)[:5000]),
        path=path,
        fingerprint=fingerprint or fingerprint_bytes(text.encode("utf-8")),
    )
    if doc.date:
        doc.year_hint = int(doc.date[:4])
    return doc


def _html_article(markup: str, name: str) -> tuple[str, dict]:
    """Text and metadata of an HTML page (qa.ingest.extract: trafilatura and the page's own metadata);
    our own rules (html_to_text) when it finds no article."""
    from qa.ingest.extract import extract

    try:
        art = extract(markup)
    except ValueError as exc:
        log.info("%s: %s; reading it with the plain-text rules", name, exc)
        return html_to_text(markup), {}
    found = {"title": art.title, "source": art.outlet, "date": art.date}
    return art.stored_text(), {k: v for k, v in found.items() if v}


def load_file(path: Path) -> Document:
    """Read one article file (.txt, .md, .html)."""
    data = path.read_bytes()
    text = decode(data, path.name)
    meta = _read_meta_sidecar(path)
    if path.suffix.lower() in (".html", ".htm"):
        text, found = _html_article(text, path.name)
        meta = {**found, **meta}
    doc = make_document(path.stem, text, str(path), fingerprint_bytes(data), meta=meta)
    doc.meta.update({k: meta[k] for k in ("url", "also_published_by") if k in meta})
    if not doc.sections:
        raise BadDocument(f"{path.name}: no article text left after cleaning")
    return doc


def iter_files(root: Path) -> Iterator[Path]:
    """Article files under ``root`` (recursively), in a stable order."""
    if root.is_file():
        yield root
        return
    for p in sorted(root.rglob("*")):
        if (p.is_file() and p.suffix.lower() in TEXT_SUFFIXES and not p.name.startswith(".")
                and not p.name.lower().endswith(RAW_SUFFIXES)):
            yield p


def iter_beir(path: Path) -> Iterator[Document]:
    """Documents of a BEIR ``corpus.jsonl`` (``_id`` becomes ``doc_id``)."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                doc_id, body = str(row["_id"]), str(row.get("text") or "")
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s:%d: skipped (%s)", path.name, lineno, exc)
                continue
            if not body.strip():
                log.warning("%s:%d: skipped empty document %s", path.name, lineno, doc_id)
                continue
            fp = fingerprint_bytes(line.encode("utf-8"))
            yield Document(doc_id=doc_id, title=str(row.get("title") or doc_id), text=body,
                           sections=[[(0, len(body))]], path=None, fingerprint=fp,
                           language=_language(body[:2000]), meta={"whole": True})


def project_seeds() -> Path:
    """The default corpus: ``QA_SEEDS_DIR``, ``./seeds``, or the project's ``seeds/``."""
    env = os.environ.get("QA_SEEDS_DIR")
    if env:
        return Path(env)
    here = Path.cwd() / "seeds"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "seeds"
