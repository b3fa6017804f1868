"""Milvus filter expressions, built from values safely (Milvus Lite 2.5 takes no templates).

A version's rows are ``added <= V < removed`` (:func:`visible`); date and outlet filters are
plain comparisons on the passages' scalar fields (:func:`where`).
"""

from __future__ import annotations

from collections.abc import Iterable

from qa.index.where import Where

LIVE = 1 << 62  # ``removed`` of a row no build has replaced


def literal(text: str) -> str:
    """``text`` as a double-quoted string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def contains(field: str, text: str) -> str:
    """``field`` contains ``text`` (byte-exact; ``%`` and ``_`` in it match themselves)."""
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{field} like {literal('%' + pattern + '%')}"


def one_of(field: str, values: Iterable[str | int]) -> str:
    """``field`` is one of ``values``."""
    items = [literal(v) if isinstance(v, str) else str(int(v)) for v in values]
    return f"{field} in [{', '.join(items)}]"


def visible(version: int) -> str:
    """The rows of build ``version``."""
    return f"(added <= {int(version)} and removed > {int(version)})"


def both(*parts: str) -> str:
    """All of the non-empty ``parts``."""
    kept = [p for p in parts if p]
    return " and ".join(f"({p})" if " or " in p else p for p in kept)


def where(w: Where | None) -> str:
    """A :class:`~qa.index.where.Where` over the passages' ``date`` and ``source`` fields ("" for none)."""
    if not w:
        return ""
    parts = []
    if w.since:
        parts.append(f"date >= {literal(w.since)}")
    if w.until:
        parts.append(f'date <= {literal(w.until)} and date != ""')
    if w.outlets:
        parts.append(one_of("source", w.outlets))
    return both(*parts)
