"""Terminal rendering of answers, hits and sources (rich)."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qa.types import Answer, CorpusStats, Hit, SourceInfo


def source_line(h: Hit) -> str:
    """``Outlet, date — title (file:start-end) URL`` for one citation or hit (URL when fetched)."""
    where = f"{h.doc_id}:{h.start}-{h.end}"
    line = f"{h.source or 'unknown outlet'}, {h.date or 'undated'} — {h.title} ({where})"
    return f"{line} {h.url}" if h.url else line


_MARKER = re.compile(r"\s*\[(\d+)\]")
_LEAD = re.compile(r"^(?:- )?(?:\([^()]*\)\s*)*")  # "- (2019-01-15, ANI) " before a statement
_SENTENCE_END = re.compile(r"(?<=[.!?…\"”])\s+")


def excerpt(a: Answer, n: int, text: str, limit: int = 300) -> str:
    """``limit`` characters of a cited passage, from the first sentence the answer cites as ``[n]``
    (the passage's start when it can't be found)."""
    start = 0
    parts = _MARKER.split(a.answer)  # text, number, text, number, ...
    for cited, number in zip(parts[0::2], parts[1::2]):
        if int(number) != n:
            continue
        cited = _LEAD.sub("", cited.rsplit("\n", 1)[-1].strip())
        # the whole stretch, else its sentences in turn (a heading such as "Most recent source
        # first." or a sentence quoted before the passage starts is not in it)
        for piece in [cited, *_SENTENCE_END.split(cited)]:
            found = text.find(_LEAD.sub("", piece)[:60]) if piece.strip() else -1
            if found >= 0:
                start = found
                break
        break
    out = text[start : start + limit]
    return f"{'…' if start else ''}{out}{'…' if start + limit < len(text) else ''}"


def print_answer(con: Console, a: Answer) -> None:
    if a.understood_as:
        con.print(f"Understood as: {escape(a.understood_as)}", style="dim italic")
    if a.short and not a.abstained:
        con.print(f"[bold]{escape(a.short.text)}[/] [cyan]\\[{a.short.n}][/]")
    con.print(escape(a.answer), style="yellow" if a.abstained else None)
    if a.citations:
        con.print()
        con.print("Sources", style="underline")
        for c in a.citations:
            con.print(f"[cyan][{c.n}][/] {escape(source_line(c))}")
            con.print(f"    [dim]{escape(excerpt(a, c.n, c.text))}[/]")


def print_hits(con: Console, hits: list[Hit]) -> None:
    if not hits:
        con.print("No matching passages.", style="yellow")
    for h in hits:
        con.print(f"[cyan]{h.rank}.[/] [dim]{h.score:.4f}[/] {escape(source_line(h))}")
        con.print(f"   {escape(h.text)}")
        con.print()


def print_sources(con: Console, sources: list[SourceInfo], stats: CorpusStats) -> None:
    t = Table(title=f"{stats.documents} articles, {stats.passages} passages")
    also = any(s.also_published_by for s in sources)
    for col in ("date", "outlet", "title", "passages", "doc_id") + (("also published by",) if also else ()):
        t.add_column(col, overflow="fold")
    for s in sources:
        row = [s.date or "undated", s.source or "unknown", escape(s.title), str(s.passages), s.doc_id]
        if also:
            row.append(escape(", ".join(a.get("outlet") or a.get("url") or "?" for a in s.also_published_by)))
        t.add_row(*row)
    con.print(t)
