"""Cited-answer QA over news articles: the core (``Engine``) and the ``qa`` CLI.

One subpackage per stage, each importing only the ones below it (import-linter checks it):
``text`` (language rules) < ``ingest`` (articles in) < ``index`` (passages, vectors, BM25; build and
read) and ``question`` (a question parsed once) < ``answer`` (lead, support, citations, abstention)
< ``search`` (retrieval and the ``Engine``) < ``chat`` (follow-ups, conversations) < ``eval`` and
``news`` (live news) < ``cli``. ``types`` (the result dataclasses), ``errors`` and ``progress`` (the
progress bars of long work, on a terminal only) lie below them all.
"""

from qa.types import Answer, Citation, CorpusStats, Hit, ShortAnswer, SourceInfo

__all__ = ["Answer", "Citation", "CorpusStats", "Hit", "ShortAnswer", "SourceInfo", "Engine"]


def __getattr__(name: str):
    if name == "Engine":
        from qa.search.engine import Engine

        return Engine
    raise AttributeError(name)
