"""The text the reader sees: chosen sentences with ``[n]`` markers and numbered citations, or
an honest abstention."""

from __future__ import annotations

from dataclasses import asdict

from qa.answer.select import Picked, when
from qa.index.passages import join_overlapping, to_hit
from qa.types import Answer, Citation, ShortAnswer

NOT_COVERED = "The articles don't cover this: no passage in the indexed articles answers the question."


def abstention(question: str, why: str | None = None) -> Answer:
    """An answer that says the articles do not answer (``why``: a more specific reason)."""
    return Answer(question=question, answer=why or NOT_COVERED, abstained=True, citations=[])


def statements_header(name: str) -> str:
    """The line above the statements of "what did X say"."""
    return f"What {name} said, according to the articles:"


def not_named(name: str) -> str:
    """Why a "what did X say" question about someone the articles never name is not answered."""
    return f"The articles don't mention {name}."


def not_on_topic(name: str, topic: str) -> str:
    """Why a "what did X say about Y" question is not answered."""
    return f"The articles quote {name}, but not on {topic}."


def compose(question: str, picked: list[Picked], recent: bool, header: str | None = None,
            short: str | None = None) -> Answer:
    """Answer text with ``[n]`` markers, and the numbered citations; ``short``: the fact alone,
    from the first sentence."""
    # Cited passages that overlap are one source, numbered by first use.
    sources = join_overlapping(list({s.passage.row: s.passage for s in picked}.values()))
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    lines = []
    for s in picked:
        p = s.passage
        j = next(i for i, src in enumerate(sources)
                 if src.doc_id == p.doc_id and src.start <= p.start and p.end <= src.end)
        if j not in numbers:
            numbers[j] = len(numbers) + 1
            hit = to_hit(sources[j], len(numbers), s.passage_score)
            citations.append(Citation(**asdict(hit), n=numbers[j]))
        prefix = ""
        if header or recent:
            prefix = f"({when(p)}, {p.source or 'unknown outlet'}) "
        lines.append(f"{'- ' if header else ''}{prefix}{s.text} [{numbers[j]}]")
    body = "\n".join(lines) if header else " ".join(lines)
    if recent and any(s.passage.date for s in picked):
        body = f"Most recent source first. {body}"
    elif recent and picked:  # no stated dates: the order is only by the years the articles mention
        body = f"Newest first by the years the articles mention (none states its date). {body}"
    if header:
        body = f"{header}\n{body}"
    return Answer(question=question, answer=body, abstained=False, citations=citations,
                  short=ShortAnswer(short, 1) if short and picked else None)
