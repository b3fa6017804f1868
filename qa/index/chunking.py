"""Sentence-aware passages with character offsets into the original text.

A passage is a few consecutive sentences of one section (bounded length, one
sentence of overlap with the previous passage, two when that sentence refers to
someone named just before it, e.g. "according to the expert"). Its text is ``original[start:end]`` with
runs of whitespace (line breaks included) collapsed to one space:
:func:`normalize_ws`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.ingest.corpus import Document
from qa.text.sentences import split_sentences
from qa.text.words import ROLE_NOUNS, alternation

# Bump when cleaning, chunking or what is stored per passage changes: `qa index` then re-chunks
# every document (vectors of unchanged passage texts are reused). 4 added token states, which
# an older index lacks: its first refresh encodes every passage once. 5 added the sentences'
# named entities and speakers (qa/index/annotate.py).
PIPELINE_VERSION = 5
TARGET_CHARS = 600
MAX_CHARS = 1000
OVERLAP_SENTENCES = 1
WHOLE_MAX_CHARS = 6000
# A passage opening with "he added" or "according to the expert" would not say who is
# meant: its overlap then reaches back one more sentence, which usually names the person.
_REFERENCE = re.compile(
    rf"^\W*(?:\w+\W+){{0,4}}?(?:he|she|his|her|him|the {alternation(ROLE_NOUNS + ('source',))})\b", re.IGNORECASE)


@dataclass
class Passage:
    """A chunk of a document."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    sentences: list[tuple[int, int]]  # absolute spans of its sentences


def embed_text(title: str, text: str) -> str:
    """What is embedded and BM25-indexed for a passage: its article's title and text."""
    return f"{title}\n{text}" if title and title not in text else text


def normalize_ws(text: str) -> str:
    """Collapse whitespace runs to single spaces and strip the ends."""
    return " ".join(text.split())


def _hard_split(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence at whitespace into pieces of at most MAX_CHARS."""
    pieces = []
    s = start
    while end - s > MAX_CHARS:
        cut = text.rfind(" ", s + 1, s + MAX_CHARS)
        if cut <= s:
            cut = s + MAX_CHARS
        pieces.append((s, cut))
        s = cut
        while s < end and text[s].isspace():
            s += 1
    if end > s:
        pieces.append((s, end))
    return pieces


def document_sentences(doc: Document) -> list[list[tuple[int, int]]]:
    """Sentence spans of each section of ``doc`` (absolute offsets)."""
    out = []
    for section in doc.sections:
        spans: list[tuple[int, int]] = []
        for s, e in section:
            for a, b in split_sentences(doc.text[s:e], offset=s):
                spans.extend(_hard_split(doc.text, a, b))
        if spans:
            out.append(spans)
    return out


def chunk_document(doc: Document, target: int = TARGET_CHARS, overlap: int = OVERLAP_SENTENCES) -> list[Passage]:
    """Split ``doc`` into passages of about ``target`` characters."""
    passages: list[Passage] = []
    if doc.meta.get("whole") and len(doc.text) <= WHOLE_MAX_CHARS:
        # BEIR documents are already passage-sized: keep each one whole.
        sents = [span for section in document_sentences(doc) for span in section]
        if sents:
            s, e = sents[0][0], sents[-1][1]
            return [Passage(f"{doc.doc_id}#0", doc.doc_id, normalize_ws(doc.text[s:e]), s, e, sents)]
    for sents in document_sentences(doc):
        i = fresh = 0  # fresh: the first sentence no passage holds yet (the ones before it are overlap)
        while i < len(sents):
            j = i
            length = 0
            while j < len(sents) and (j <= fresh or length + (sents[j][1] - sents[j][0]) <= target):
                length += sents[j][1] - sents[j][0] + 1
                j += 1
            group = sents[i:j]
            start, end = group[0][0], group[-1][1]
            passages.append(Passage(
                chunk_id=f"{doc.doc_id}#{len(passages)}",
                doc_id=doc.doc_id,
                text=normalize_ws(doc.text[start:end]),
                start=start,
                end=end,
                sentences=list(group),
            ))
            if j >= len(sents):
                break
            nxt = max(j - overlap, i + 1)
            if (nxt - 1 > i and _REFERENCE.match(doc.text[sents[nxt][0] : sents[nxt][1]])
                    and sents[j - 1][1] - sents[nxt - 1][0] <= target):
                nxt -= 1
            i, fresh = nxt, j
    return passages
