"""``qa eval``: retrieval and answer quality on a question set, or on a BEIR dataset.

A question set is JSON Lines: ``{"id", "question", "answers": [str], "answerable": bool}``.
A retrieved passage is a hit when it contains one of the answer strings
(case-insensitive, whitespace collapsed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import UserError
from qa.types import Hit


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def load_questions(path: Path) -> list[dict]:
    """Read a question set (JSON Lines)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    out = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise UserError(f"{path}:{n}: not JSON ({exc})") from exc
            row.setdefault("answerable", bool(row.get("answers")))
            out.append(row)
    return out


def first_hit_rank(hits: list[Hit], answers: list[str]) -> int | None:
    """1-based rank of the first passage containing an answer string."""
    wanted = [_norm(a) for a in answers]
    for h in hits:
        text = _norm(h.text)
        if any(a in text for a in wanted):
            return h.rank
    return None


@dataclass
class QuestionReport:
    """Figures for one question set."""

    questions: int = 0
    answerable: int = 0
    hit1: float = 0.0
    hit5: float = 0.0
    mrr10: float = 0.0
    answer_contains: float = 0.0
    abstention_accuracy: float = 0.0
    false_abstentions: int = 0
    false_answers: int = 0
    seconds: float = 0.0
    misses: list[str] = field(default_factory=list)


def evaluate_questions(engine, questions: list[dict]) -> QuestionReport:
    """Run every question through ``search`` and ``ask``; compute the figures."""
    r = QuestionReport(questions=len(questions))
    t0 = time.perf_counter()
    h1 = h5 = rr = contains = correct_abst = 0.0
    for q in questions:
        answer = engine.ask(q["question"])
        if q["answerable"]:
            r.answerable += 1
            hits = engine.search(q["question"], k=10)
            rank = first_hit_rank(hits, q["answers"])
            h1 += rank == 1
            h5 += rank is not None and rank <= 5
            rr += 1 / rank if rank else 0
            if rank is None or rank > 1:
                r.misses.append(f"{q.get('id')}: rank {rank} — {q['question']}")
            if answer.abstained:
                r.false_abstentions += 1
            else:
                correct_abst += 1
                contains += any(_norm(a) in _norm(answer.answer) for a in q["answers"])
        elif answer.abstained:
            correct_abst += 1
        else:
            r.false_answers += 1
            r.misses.append(f"{q.get('id')}: answered, should abstain — {q['question']}")
    n = max(r.answerable, 1)
    r.hit1, r.hit5, r.mrr10 = h1 / n, h5 / n, rr / n
    r.answer_contains = contains / n
    r.abstention_accuracy = correct_abst / max(r.questions, 1)
    r.seconds = time.perf_counter() - t0
    return r


def run_questions(engine, path: Path, as_json: bool = False) -> int:
    """``qa eval``: print the figures for a question set."""
    report = evaluate_questions(engine, load_questions(path))
    if as_json:
        from dataclasses import asdict

        print(json.dumps(asdict(report), ensure_ascii=False))
        return 0
    print(f"{path.name}: {report.questions} questions ({report.answerable} answerable) in {report.seconds:.1f} s")
    print(f"  hit@1 {report.hit1:.3f}   hit@5 {report.hit5:.3f}   MRR@10 {report.mrr10:.3f}")
    print(f"  answer text holds the expected string: {report.answer_contains:.3f}")
    print(f"  abstention accuracy {report.abstention_accuracy:.3f} "
          f"({report.false_abstentions} answerable abstained, {report.false_answers} unanswerable answered)")
    for m in report.misses:
        print(f"  - {m}")
    return 0


def run_beir(folder: Path, index_dir: Path | None, limit: int = 0, as_json: bool = False) -> int:
    """``qa eval --beir DIR``: see :mod:`qa.beir`."""
    from qa.beir import run

    return run(folder, index_dir, limit=limit, as_json=as_json)
