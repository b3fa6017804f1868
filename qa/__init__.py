"""Cited-answer QA over news articles: the core (``Engine``) and the ``qa`` CLI."""

from qa.types import Answer, Citation, CorpusStats, Hit, ShortAnswer, SourceInfo

__all__ = ["Answer", "Citation", "CorpusStats", "Hit", "ShortAnswer", "SourceInfo", "Engine"]


def __getattr__(name: str):
    if name == "Engine":
        from qa.engine import Engine

        return Engine
    raise AttributeError(name)
