"""What retrieval hands on: stored passages, ranked candidates, and the folding of overlaps.

Consecutive passages share a sentence. ``fold_overlaps`` makes search results in which no
sentence appears twice; ``join_overlapping`` makes an answer's sources likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.types import Hit

FOLD_WINDOW = 10  # results fold overlapping passages ranked this high (fold_overlaps)


@dataclass(frozen=True)
class Candidate:
    """A ranked passage row and its scores."""

    row: int
    score: float  # the ranking's score (higher is better)
    dense: float  # cosine with the query (0 when not a dense candidate)
    lexical: float  # BM25 score (0 when no query term matches)
    # MaxSim of each of its sentences with the question, where the rerank computed it (its top passages)
    sentence_late: tuple[float, ...] | None = None


@dataclass
class PassageRow:
    """A passage with its document's metadata, as stored."""

    row: int
    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    sentences: list[tuple[int, int, str]]  # absolute span and normalised text
    title: str
    source: str | None
    date: str | None
    year_hint: int | None
    path: str | None
    language: str
    url: str | None = None  # where a fetched article came from


def to_hit(p: PassageRow, rank: int, score: float) -> Hit:
    """A passage as a search result (or, with ``n``, a citation's fields)."""
    return Hit(rank=rank, doc_id=p.doc_id, chunk_id=p.chunk_id, score=round(float(score), 6), text=p.text,
               title=p.title, source=p.source, date=p.date, path=p.path, start=p.start, end=p.end, url=p.url)


def draw(k: int) -> int:
    """Candidates to draw for ``k`` results: overlapping ones fold into one (fold_overlaps)."""
    return 2 * k + FOLD_WINDOW


def fold_overlaps(ranked: list[PassageRow], max_parts: int = 2,
                  window: int = FOLD_WINDOW) -> list[tuple[PassageRow, int]]:
    """Results in which no sentence appears twice. Consecutive passages share a sentence, and
    when a question matches that sentence both rank high, the answer often in the one ranked
    second: a passage among the first ``window`` that overlaps one better-ranked result (of at
    most ``max_parts - 1`` passages) is folded into it, its text and span covering both in
    reading order (chunk id "A+B"); any other that overlaps a result keeps its longest run of
    sentences not shown yet (none: dropped). So the first results do not depend on how many are
    asked for. A passage whose text is not its sentences joined (none that qa/index/chunking.py makes)
    is left as it is. Returns (passage, index in ``ranked`` of its best part), best first."""
    out: list[tuple[PassageRow, int]] = []
    parts: list[int] = []
    seen: set[str] = set()
    for i, p in enumerate(ranked):
        if p.chunk_id in seen:
            continue
        seen.add(p.chunk_id)
        hit = [j for j, (q, _) in enumerate(out) if _overlap(q, p)]
        if not hit or not joinable(p) or not all(joinable(out[j][0]) for j in hit):
            out.append((p, i))
            parts.append(1)
        elif len(hit) == 1 and parts[hit[0]] < max_parts and i < window:
            q, first = out[hit[0]]
            out[hit[0]] = (_merge(q, p), first)
            parts[hit[0]] += 1
        else:
            shown = [(out[j][0].start, out[j][0].end) for j in hit]
            rest = _longest_run([not any(a <= x[0] < b for a, b in shown) for x in p.sentences])
            if rest:
                out.append((_with_sentences(p, p.chunk_id, p.sentences[rest.start:rest.stop]), i))
                parts.append(1)
    return out


def join_overlapping(passages: list[PassageRow]) -> list[PassageRow]:
    """``passages`` with every group of overlapping ones (same document, chains included) joined
    into one, where the group's first member stood: an answer's sources, none repeating a
    sentence of another. Passages whose text is not their sentences joined stay apart."""
    groups: list[PassageRow] = []
    for p in passages:
        touching = [i for i, g in enumerate(groups) if _overlap(g, p) and joinable(g) and joinable(p)]
        if not touching:
            groups.append(p)
            continue
        joined = p
        for i in touching:
            joined = _merge(groups[i], joined)
        groups[touching[0]] = joined
        groups = [g for i, g in enumerate(groups) if i not in touching[1:]]
    return groups


def _overlap(a: PassageRow, b: PassageRow) -> bool:
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end


def joinable(p: PassageRow) -> bool:
    """Whether the passage's text is its sentences joined by spaces (so a union can be rebuilt)."""
    return bool(p.sentences) and " ".join(t for _, _, t in p.sentences) == p.text


def _longest_run(keep: list[bool]) -> range:
    """The longest run of consecutive True values (empty when there is none)."""
    best, start = range(0), None
    for i, k in enumerate([*keep, False]):
        if k and start is None:
            start = i
        elif not k and start is not None:
            best = max(best, range(start, i), key=len)
            start = None
    return best


def _merge(a: PassageRow, b: PassageRow) -> PassageRow:
    """One passage covering two overlapping ones (metadata and row of ``a``)."""
    first, second = sorted((a, b), key=lambda p: p.start)
    sentences = sorted({s[0]: s for s in a.sentences + b.sentences}.values())
    return _with_sentences(a, f"{first.chunk_id}+{second.chunk_id}", sentences)


def _with_sentences(p: PassageRow, chunk_id: str, sentences: list[tuple[int, int, str]]) -> PassageRow:
    """``p`` (metadata and row) holding ``sentences``, consecutive ones, only."""
    return PassageRow(p.row, chunk_id, p.doc_id, " ".join(t for _, _, t in sentences), sentences[0][0],
                      sentences[-1][1], sentences, p.title, p.source, p.date, p.year_hint, p.path, p.language, p.url)
