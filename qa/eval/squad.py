"""``qa eval --squad FILE``: answers on a SQuAD file (v1.1 or v2.0), with the product's own path.

Open setting: every paragraph of the file is indexed as one document (its article's title as the
title) by the product's indexer, and each question is asked through ``Engine.ask`` — exactly what
``qa ask`` does. Reported: the lead cited from the gold paragraph, the answer text and its first
sentence (the text up to the first ``[n]``) holding a gold answer, short answers (given; exact and
F1 under SQuAD's normalisation, against any gold answer), and abstention on the answerable and
the unanswerable questions.

Closed setting (``--closed``): the reader alone over each question's gold paragraph — the best
span, or no answer when it does not beat the [CLS] score by the model's own threshold — scored as
SQuAD 2.0's official script does (exact match and F1 over all questions; the answerable and the
unanswerable apart), with the sentence holding the predicted span, beside the published baselines.

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

from qa import progress as bars
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


# ---------------------------------------------------------------- the closed setting

# Published figures on SQuAD 2.0 dev (Rajpurkar, Jia and Liang 2018, "Know What You Don't Know", Table 3).
PUBLISHED_DEV = [("BiDAF-No-Answer", 59.8, 62.6), ("DocumentQA", 61.9, 64.8), ("DocumentQA + ELMo", 65.1, 67.6),
                 ("human", 86.3, 89.0)]


@dataclass
class ClosedReport:
    """Figures of the closed setting, in percent as the official script gives them."""

    questions: int = 0
    exact: float = 0.0
    f1: float = 0.0
    has_ans_exact: float = 0.0
    has_ans_f1: float = 0.0
    no_ans_accuracy: float = 0.0
    sentence_top1: float = 0.0  # answerable: the sentence holding the predicted span holds a gold answer
    ms_per_question: float = 0.0


def evaluate_closed(reader, docs: list[dict], questions: list[SquadQuestion], progress: bool = False) -> ClosedReport:
    """The reader over each question's gold paragraph (see the module docstring; ``progress``: a bar
    of the questions read)."""
    from qa.text.sentences import split_sentences

    by_id = {d["_id"]: d for d in docs}
    r = ClosedReport(questions=len(questions))
    t0 = time.perf_counter()
    has_n = no_n = 0
    for q in bars.track(questions, "questions", "question", progress):
        doc = by_id[q.doc_id]
        (reading,) = reader.read(q.question, [(doc["title"], doc["text"])])
        span = reading.best_span()
        answered = span is not None and span.score - reading.null > reader.threshold
        prediction = doc["text"][span.start : span.end] if answered else ""
        if not q.answers:
            no_n += 1
            r.no_ans_accuracy += not prediction
            r.exact += not prediction
            r.f1 += not prediction
            continue
        has_n += 1
        em, f = exact(prediction, list(q.answers)) if prediction else False, f1(prediction, list(q.answers))
        r.has_ans_exact += em
        r.has_ans_f1 += f
        r.exact += em
        r.f1 += f
        if span is not None:
            sentence = next((doc["text"][a:b] for a, b in split_sentences(doc["text"]) if a <= span.start < b), "")
            r.sentence_top1 += holds(sentence, list(q.answers))
    r.ms_per_question = 1000 * (time.perf_counter() - t0) / max(r.questions, 1)
    r.exact, r.f1 = 100 * r.exact / max(r.questions, 1), 100 * r.f1 / max(r.questions, 1)
    r.has_ans_exact, r.has_ans_f1 = 100 * r.has_ans_exact / max(has_n, 1), 100 * r.has_ans_f1 / max(has_n, 1)
    r.no_ans_accuracy = 100 * r.no_ans_accuracy / max(no_n, 1)
    r.sentence_top1 /= max(has_n, 1)
    return r


def print_closed(name: str, r: ClosedReport) -> None:
    """The closed setting's figures beside the published ones."""
    print(f"{name}, closed setting (gold paragraph given): {r.questions:,} questions, {r.ms_per_question:.0f} ms each")
    print(f"  {'system':<28}{'EM':>7}{'F1':>7}")
    print(f"  {'ours (reader alone)':<28}{r.exact:7.1f}{r.f1:7.1f}   answerable EM {r.has_ans_exact:.1f} F1 "
          f"{r.has_ans_f1:.1f}; unanswerable right {r.no_ans_accuracy:.1f}%; answer sentence top-1 "
          f"{r.sentence_top1:.3f}")
    for system, em, f in PUBLISHED_DEV:
        print(f"  {system:<28}{em:7.1f}{f:7.1f}   published, SQuAD 2.0 dev")


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


def evaluate_open(engine, questions: list[SquadQuestion], keep_misses: int = 40,
                  progress: bool = False) -> OpenReport:
    """Ask every question through ``engine.ask``; compute the figures (``progress``: a bar of the
    questions answered)."""
    r = OpenReport(questions=len(questions))
    t0 = time.perf_counter()
    f1_sum = 0.0
    for q in bars.track(questions, "questions", "question", progress):
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


def build(docs: list[dict], root: Path, say, progress: bool = False) -> None:
    """Index the paragraphs (a re-run re-encodes nothing; ``progress``: the index's bars)."""
    from qa.index.build import build_index

    root.mkdir(parents=True, exist_ok=True)
    corpus = root.parent / f"{root.name}.corpus.jsonl"
    text = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    if not corpus.exists() or corpus.read_text(encoding="utf-8") != text:
        corpus.write_text(text, encoding="utf-8")
    report = build_index([corpus], root, progress=progress, warn=lambda m: say(f"warning: {m}"),
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


def run(path: Path, index_dir: Path | None, limit: int = 0, as_json: bool = False, closed: bool = False) -> int:
    """``qa eval --squad FILE [--limit N] [--closed] [--json]``."""
    from qa.search.engine import Engine

    def say(msg: str) -> None:
        bars.write(msg, file=sys.stderr)

    path = Path(path)
    docs, questions = load_squad(path)
    if closed:
        from embeddings.reader import Reader
        from qa.errors import model_errors

        with model_errors():
            reader = Reader()
        closed_report = evaluate_closed(reader, docs, spread(questions, limit), progress=not as_json)
        if as_json:
            print(json.dumps(asdict(closed_report)))
        else:
            print_closed(path.name, closed_report)
        return 0
    root = Path(index_dir) if index_dir else index_root(path)
    build(docs, root, say, progress=not as_json)
    engine = Engine.open(root, build_if_missing=False)
    report = evaluate_open(engine, spread(questions, limit), progress=not as_json)
    report.passages = engine.stats().passages
    if as_json:
        print(json.dumps(asdict(report), ensure_ascii=False))
    else:
        print_open(path.name, report)
    return 0
