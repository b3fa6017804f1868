"""Result types shared by the core and both front ends.

They are plain dataclasses; the CLI's JSON is their ``dataclasses.asdict``
(see docs/cli.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Hit:
    """One retrieved passage with its document's metadata."""

    rank: int
    doc_id: str
    chunk_id: str
    score: float
    text: str
    title: str
    source: str | None
    date: str | None  # YYYY-MM-DD
    path: str | None
    start: int  # char offsets of ``text`` in the original file
    end: int
    url: str | None = None  # where a fetched article came from (qa fetch / qa update)


@dataclass
class Citation(Hit):
    """A passage cited by an answer; ``n`` is its ``[n]`` marker."""

    n: int = 0


@dataclass
class Answer:
    """An extractive answer: sentences with ``[n]`` markers and their sources."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    short: ShortAnswer | None = None  # the fact alone ("Munich", [1]), when one candidate clearly wins
    understood_as: str | None = None  # a follow-up question as rewritten against the turns before


@dataclass
class ShortAnswer:
    """The fact a question asks for, alone, and the ``[n]`` of the citation it comes from."""

    text: str
    n: int


@dataclass
class SourceInfo:
    """One indexed article, as listed by ``qa sources`` and the bot's /sources."""

    doc_id: str
    title: str
    source: str | None
    date: str | None
    path: str | None
    language: str
    passages: int
    url: str | None = None
    also_published_by: list[dict] = field(default_factory=list)  # syndicated copies: outlet, url, title, date


@dataclass
class CorpusStats:
    """What the index holds, for /start and ``qa sources``."""

    documents: int
    passages: int
    outlets: list[str]
    date_min: str | None  # over the articles whose date is stated
    date_max: str | None
    undated: int = 0  # articles with no stated date
    years_mentioned: tuple[int, int] | None = None  # range of the latest years undated articles mention
