"""``Where``: a filter on the articles a search may return (date range, outlets).

The files backend checks each candidate's article; Milvus pushes it down as an expression.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Where:
    """Articles published on or after ``since`` and up to ``until`` (YYYY-MM-DD), by one of
    ``outlets``. An undated article passes no date bound."""

    since: str | None = None
    until: str | None = None
    outlets: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.outlets)

    def admits(self, date: str | None, source: str | None) -> bool:
        """Whether an article with this date and outlet passes."""
        if self.since and not (date and date >= self.since):
            return False
        if self.until and not (date and date <= self.until):
            return False
        return not self.outlets or source in self.outlets
