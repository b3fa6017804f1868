"""``qa eval --squad FILE``: answers on a SQuAD file (v1.1 or v2.0), with the product's own path.

Open setting: every paragraph of the file is indexed as one document (its article's title as the
title) by the product's indexer, and each question is asked through ``Engine.ask`` — exactly what
``qa ask`` does. Reported: the lead cited from the gold paragraph, the answer text and its first
sentence (the text up to the first ``[n]``) holding a gold answer, short answers (given; exact and
F1 under SQuAD's normalisation, against any gold answer), and abstention on the answerable and
the unanswerable questions.

The file is only read: SQuAD 2.0 dev is for reporting; tune on a split of train.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qa.errors import UserError
from qa.eval.questions import holds, lead

# ---------------------------------------------------------------- SQuAD's own normalisation


def normalize_answer(s: str) -> str:
    """SQuAD's official normalisation: lower case, no punctuation, no articles, single spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact(prediction: str, golds: list[str]) -> bool:
    """Exact match with any gold answer, after normalisation."""
    p = normalize_answer(prediction)
    return any(p == normalize_answer(g) for g in golds)


def f1(prediction: str, golds: list[str]) -> float:
    """The best token F1 against the gold answers, after normalisation."""
    best = 0.0
    p = normalize_answer(prediction).split()
    for g in golds:
        t = normalize_answer(g).split()
        common = sum((Counter(p) & Counter(t)).values())
        if common:
            precision, recall = common / len(p), common / len(t)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


# ---------------------------------------------------------------- reading the file


@dataclass(frozen=True)
class SquadQuestion:
    """One question with its gold paragraph's document id and its answers (none: unanswerable)."""

    qid: str
    question: str
    doc_id: str
    answers: tuple[str, ...]


def load_squad(path: Path) -> tuple[list[dict], list[SquadQuestion]]:
    """The paragraphs as BEIR documents (``_id``, ``title``, ``text``) and the questions."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a SQuAD file ({exc})") from exc
    docs: list[dict] = []
    questions: list[SquadQuestion] = []
    for a, article in enumerate(data):
        title = article.get("title", "").replace("_", " ")
        for p, para in enumerate(article.get("paragraphs", [])):
            doc_id = f"s{a:03d}p{p:03d}"
            docs.append({"_id": doc_id, "title": title, "text": para["context"]})
            for qa in para.get("qas", []):
                golds = () if qa.get("is_impossible") else tuple(dict.fromkeys(x["text"] for x in qa["answers"]))
                questions.append(SquadQuestion(str(qa["id"]), qa["question"], doc_id, golds))
    if not questions:
        raise UserError(f"{path} holds no questions")
    return docs, questions


def spread(items: list, limit: int) -> list:
    """``limit`` items spread evenly over ``items`` (all of them when ``limit`` is 0 or larger)."""
    if limit <= 0 or limit >= len(items):
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


# ---------------------------------------------------------------- the open setting


@dataclass
class OpenReport:
    """Figures of the open setting (answerable figures over the answerable questions)."""

    questions: int = 0
    answerable: int = 0
    unanswerable: int = 0
    lead_from_gold: float = 0.0
    answer_contains: float = 0.0
    first_sentence: float = 0.0
    short_given: int = 0
    short_exact: int = 0
    short_f1: float = 0.0  # mean over the short answers given
    abstained_answerable: float = 0.0
    abstained_unanswerable: float = 0.0
    seconds: float = 0.0
    ms_per_question: float = 0.0
    passages: int = 0
    misses: list[str] = field(default_factory=list)


def _lead_doc(answer) -> str | None:
    m = re.search(r"\[(\d+)\]", answer.answer)
    if not m:
        return None
    n = int(m.group(1))
    return next((c.doc_id for c in answer.citations if c.n == n), None)


def evaluate_open(engine, questions: list[SquadQuestion], keep_misses: int = 40) -> OpenReport:
    """Ask every question through ``engine.ask``; compute the figures."""
    r = OpenReport(questions=len(questions))
    t0 = time.perf_counter()
    f1_sum = 0.0
    for q in questions:
        answer = engine.ask(q.question)
        if not q.answers:
            r.unanswerable += 1
            r.abstained_unanswerable += answer.abstained
            continue
        r.answerable += 1
        if answer.abstained:
            r.abstained_answerable += 1
            if len(r.misses) < keep_misses:
                r.misses.append(f"{q.qid}: abstained — {q.question}")
            continue
        golds = list(q.answers)
        r.lead_from_gold += _lead_doc(answer) == q.doc_id
        r.answer_contains += holds(answer.answer, golds)
        first = holds(lead(answer.answer), golds)
        r.first_sentence += first
        if not first and len(r.misses) < keep_misses:
            r.misses.append(f"{q.qid}: not in the first sentence — {q.question} (gold: {golds[0]!r})")
        if answer.short is not None:
            r.short_given += 1
            r.short_exact += exact(answer.short.text, golds)
            f1_sum += f1(answer.short.text, golds)
    r.seconds = time.perf_counter() - t0
    r.ms_per_question = 1000 * r.seconds / max(r.questions, 1)
    n = max(r.answerable, 1)
    r.lead_from_gold /= n
    r.answer_contains /= n
    r.first_sentence /= n
    r.abstained_answerable /= n
    r.abstained_unanswerable /= max(r.unanswerable, 1)
    r.short_f1 = f1_sum / max(r.short_given, 1)
    return r


def index_root(path: Path) -> Path:
    """The index folder of a SQuAD file under the cache directory (named for its content)."""
    from embeddings.model import cache_dir

    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return cache_dir() / "squad" / f"{path.stem}-{digest}"


def build(docs: list[dict], root: Path, say) -> None:
    """Index the paragraphs (a re-run re-encodes nothing)."""
    from qa.index.build import build_index

    root.mkdir(parents=True, exist_ok=True)
    corpus = root.parent / f"{root.name}.corpus.jsonl"
    text = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    if not corpus.exists() or corpus.read_text(encoding="utf-8") != text:
        corpus.write_text(text, encoding="utf-8")
    report = build_index([corpus], root, progress=sys.stderr.isatty(), warn=lambda m: say(f"warning: {m}"),
                         multilingual_vectors=False)
    say(f"index {root}: {report.documents:,} paragraphs, {report.passages:,} passages ({report.seconds:.1f} s)")


def print_open(name: str, r: OpenReport) -> None:
    """The open setting's figures as text."""
    print(f"{name}, open setting: {r.questions:,} questions ({r.answerable:,} answerable, {r.unanswerable:,} "
          f"unanswerable) over {r.passages:,} passages, {r.ms_per_question:.0f} ms a question")
    print(f"  lead cited from the gold paragraph {r.lead_from_gold:.3f}   answer text holds a gold answer "
          f"{r.answer_contains:.3f}   its first sentence {r.first_sentence:.3f}")
    share = r.short_given / max(r.answerable, 1)
    print(f"  short answers: {r.short_given:,} given ({share:.1%} of answerable), exact {r.short_exact:,} "
          f"({r.short_exact / max(r.short_given, 1):.1%} of given), F1 {r.short_f1:.3f}")
    print(f"  abstained: {r.abstained_unanswerable:.1%} of unanswerable, {r.abstained_answerable:.1%} of answerable")
    for m in r.misses[:20]:
        print(f"  - {m}")


def run(path: Path, index_dir: Path | None, limit: int = 0, as_json: bool = False) -> int:
    """``qa eval --squad FILE [--limit N] [--json]``."""
    from qa.search.engine import Engine

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    path = Path(path)
    docs, questions = load_squad(path)
    root = Path(index_dir) if index_dir else index_root(path)
    build(docs, root, say)
    engine = Engine.open(root, build_if_missing=False)
    report = evaluate_open(engine, spread(questions, limit))
    report.passages = engine.stats().passages
    if as_json:
        print(json.dumps(asdict(report), ensure_ascii=False))
    else:
        print_open(path.name, report)
    return 0
