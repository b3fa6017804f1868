"""``qa eval``: retrieval and answer quality on a question set, or on a BEIR dataset.

A question set is JSON Lines: ``{"id", "question", "answers": [str], "answerable": bool}``.
A retrieved passage is a hit when it contains one of the answer strings
(case-insensitive, whitespace collapsed).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qa import progress as bars
from qa.errors import UserError
from qa.types import Hit


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """The objects of a JSON Lines file with their line numbers; UserError when it cannot be read,
    a line is not JSON, or it holds none."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    out = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append((n, json.loads(line)))
            except ValueError as exc:
                raise UserError(f"{path}:{n}: not JSON ({exc})") from exc
    if not out:
        raise UserError(f"{path} holds no JSON lines")
    return out


def load_questions(path: Path) -> list[dict]:
    """Read a question set (JSON Lines)."""
    out = []
    for _, row in read_jsonl(path):
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


_MARKER = re.compile(r"\[\d+\]")


def lead(answer_text: str) -> str:
    """The answer's first cited item: its text up to the first ``[n]`` marker (a header line
    such as "What X said, according to the articles:" and the "Most recent source first."
    note are not part of it)."""
    m = _MARKER.search(answer_text)
    head = answer_text[: m.end()] if m else answer_text
    head = head.split("\n")[-1]
    return re.sub(r"^(Most recent source first\.|Newest first by the years[^.]*\.)\s*", "", head)


def holds(text: str, answers: list[str]) -> bool:
    """Whether ``text`` contains one of the expected strings (case and spacing aside)."""
    t = _norm(text)
    return any(_norm(a) in t for a in answers)


def short_right(short, answers: list[str]) -> bool:
    """Whether a short answer (a ShortAnswer or its JSON) names the expected answer (it contains
    one, or one contains it)."""
    text = short.get("text") if isinstance(short, dict) else getattr(short, "text", None)
    if not text:
        return False
    t = _norm(text)
    return any(_norm(a) in t or (len(t) >= 3 and t in _norm(a)) for a in answers)


@dataclass
class TypeFigures:
    """Figures for the answerable questions of one type."""

    questions: int = 0
    hit1: float = 0.0
    hit5: float = 0.0
    answer_contains: float = 0.0
    first_sentence: float = 0.0
    short_given: int = 0
    short_right: int = 0


@dataclass
class QuestionReport:
    """Figures for one question set."""

    questions: int = 0
    answerable: int = 0
    hit1: float = 0.0
    hit5: float = 0.0
    mrr10: float = 0.0
    answer_contains: float = 0.0
    first_sentence: float = 0.0
    short_given: int = 0
    short_right: int = 0
    abstention_accuracy: float = 0.0
    false_abstentions: int = 0
    false_answers: int = 0
    seconds: float = 0.0
    by_type: dict[str, TypeFigures] = field(default_factory=dict)
    by_lang: dict[str, TypeFigures] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)


def evaluate_questions(engine, questions: list[dict], progress: bool = False) -> QuestionReport:
    """Run every question through ``search`` and ``ask``; compute the figures (per ``type``
    too, where the set labels its questions with one). ``progress``: a bar of the questions answered."""
    r = QuestionReport(questions=len(questions))
    t0 = time.perf_counter()
    h1 = h5 = rr = contains = first = correct_abst = 0.0
    for q in bars.track(questions, "questions", "question", progress):
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
            in_answer = in_lead = False
            if answer.abstained:
                r.false_abstentions += 1
            else:
                correct_abst += 1
                in_answer = holds(answer.answer, q["answers"])
                in_lead = holds(lead(answer.answer), q["answers"])
                if in_answer and not in_lead:
                    r.misses.append(f"{q.get('id')}: not in the first sentence — {q['question']}")
            contains += in_answer
            first += in_lead
            short = getattr(answer, "short", None)
            good_short = short_right(short, q["answers"])
            r.short_given += bool(short)
            r.short_right += good_short
            groups = [r.by_type.setdefault(q["type"], TypeFigures())] if "type" in q else []
            if "lang" in q or "type" in q:
                groups.append(r.by_lang.setdefault(q.get("lang", "en"), TypeFigures()))
            for t in groups:
                t.questions += 1
                t.hit1 += rank == 1
                t.hit5 += rank is not None and rank <= 5
                t.answer_contains += in_answer
                t.first_sentence += in_lead
                t.short_given += bool(short)
                t.short_right += good_short
        elif answer.abstained:
            correct_abst += 1
        else:
            r.false_answers += 1
            r.misses.append(f"{q.get('id')}: answered, should abstain — {q['question']}")
    n = max(r.answerable, 1)
    r.hit1, r.hit5, r.mrr10 = h1 / n, h5 / n, rr / n
    r.answer_contains = contains / n
    r.first_sentence = first / n
    r.abstention_accuracy = correct_abst / max(r.questions, 1)
    for t in [*r.by_type.values(), *r.by_lang.values()]:
        m = max(t.questions, 1)
        t.hit1, t.hit5, t.answer_contains, t.first_sentence = (t.hit1 / m, t.hit5 / m, t.answer_contains / m,
                                                                t.first_sentence / m)
    r.seconds = time.perf_counter() - t0
    return r


def run_questions(engine, path: Path, as_json: bool = False) -> int:
    """``qa eval``: print the figures for a question set (a bar of the questions answered on a
    terminal, unless ``as_json``)."""
    report = evaluate_questions(engine, load_questions(path), progress=not as_json)
    if as_json:
        print(json.dumps(asdict(report), ensure_ascii=False))
        return 0
    print(f"{path.name}: {report.questions} questions ({report.answerable} answerable) in {report.seconds:.1f} s")
    print(f"  hit@1 {report.hit1:.3f}   hit@5 {report.hit5:.3f}   MRR@10 {report.mrr10:.3f}")
    print(f"  answer text holds the expected string: {report.answer_contains:.3f}   "
          f"its first sentence: {report.first_sentence:.3f}")
    print(f"  short answers: {report.short_given} given, {report.short_right} right")
    print(f"  abstention accuracy {report.abstention_accuracy:.3f} "
          f"({report.false_abstentions} answerable abstained, {report.false_answers} unanswerable answered)")
    if report.by_type or len(report.by_lang) > 1:
        print(f"  {'type':<11}{'n':>4}{'hit@1':>8}{'hit@5':>8}{'answer':>8}{'first':>8}{'short':>8}")
        for name, t in [*sorted(report.by_type.items()), *sorted((f"lang {k}", v) for k, v in report.by_lang.items())]:
            print(f"  {name:<11}{t.questions:>4}{t.hit1:>8.3f}{t.hit5:>8.3f}{t.answer_contains:>8.3f}"
                  f"{t.first_sentence:>8.3f}{f'{t.short_right}/{t.short_given}':>8}")
    for m in report.misses:
        print(f"  - {m}")
    return 0


# ---------------------------------------------------------------- dialogues


def load_dialogues(path: Path) -> list[dict]:
    """Read a dialogue set: ``{"id", "turns": [str, ...], "answers", "answerable", "merge", ...}``."""
    rows = load_questions(path)
    for n, row in enumerate(rows, 1):
        if not isinstance(row.get("turns"), list) or not row["turns"]:
            raise UserError(f"{path}:{n}: a dialogue needs a non-empty list of \"turns\"")
    return rows


@dataclass
class DialogueReport:
    """Figures for a dialogue set: how the last turn of each dialogue is answered."""

    dialogues: int = 0
    right: float = 0.0  # the last answer holds an expected string, or abstains when it should
    followups_right: float = 0.0  # of the dialogues whose last turn is a follow-up
    followups: int = 0
    standalone: int = 0
    wrongly_merged: int = 0  # a stand-alone last turn rewritten with the turns before
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [right, total]
    seconds: float = 0.0
    misses: list[str] = field(default_factory=list)


def evaluate_dialogues(start_conversation, dialogues: list[dict], progress: bool = False) -> DialogueReport:
    """Ask each dialogue's turns, in order, in one conversation (``start_conversation()`` gives
    an object whose ``ask(question)`` returns an Answer); score the last turn. ``progress``: a bar
    of the dialogues done."""
    r = DialogueReport(dialogues=len(dialogues))
    t0 = time.perf_counter()
    for d in bars.track(dialogues, "dialogues", "dialogue", progress):
        conv = start_conversation()
        answer = None
        for turn in d["turns"]:
            answer = conv.ask(turn)
        merged = getattr(answer, "understood_as", None) is not None
        if d.get("answerable", True):
            ok = not answer.abstained and holds(answer.answer, d["answers"])
        else:
            ok = answer.abstained
        if d.get("merge", True):
            r.followups += 1
            r.followups_right += ok
        else:
            r.standalone += 1
            if merged:
                r.wrongly_merged += 1
                r.misses.append(f"{d.get('id')}: merged, should stand alone — {d['turns'][-1]!r} "
                                f"as {answer.understood_as!r}")
        r.right += ok
        kind = r.by_kind.setdefault(d.get("kind", "?"), [0, 0])
        kind[0] += ok
        kind[1] += 1
        if not ok:
            how = f" (understood as {answer.understood_as!r})" if merged else ""
            r.misses.append(f"{d.get('id')}: {' / '.join(d['turns'])}{how}")
    r.right /= max(r.dialogues, 1)
    r.followups_right /= max(r.followups, 1)
    r.seconds = time.perf_counter() - t0
    return r


def run_dialogues(start_conversation, path: Path, as_json: bool = False) -> int:
    """``qa eval --dialogues FILE``: print the figures for a dialogue set."""
    report = evaluate_dialogues(start_conversation, load_dialogues(path), progress=not as_json)
    if as_json:
        print(json.dumps(asdict(report), ensure_ascii=False))
        return 0
    print(f"{path.name}: {report.dialogues} dialogues in {report.seconds:.1f} s")
    print(f"  last turn answered right: {report.right:.3f}   follow-ups: {report.followups_right:.3f} "
          f"of {report.followups}")
    print(f"  stand-alone last turns merged with the turns before: {report.wrongly_merged} of {report.standalone}")
    for kind, (ok, total) in sorted(report.by_kind.items()):
        print(f"    {kind:<15} {ok}/{total}")
    for m in report.misses:
        print(f"  - {m}")
    return 0


def run_beir(folder: Path, index_dir: Path | None, limit: int = 0, as_json: bool = False) -> int:
    """``qa eval --beir DIR``: see :mod:`qa.eval.beir`."""
    from qa.eval.beir import run

    return run(folder, index_dir, limit=limit, as_json=as_json)
