"""Fit the answer layer's weights on the reader's evidence (the constants of qa/answer/reading.py).

Data — never a held-out set, never SQuAD dev:
- news: the question sets under eval/ that are in-sample already (every ``questions*.jsonl`` but
  ``questions_fresh*``), over the seed articles;
- SQuAD: a tuning file made from the reader's validation articles (SQuAD 1.1 *train* articles the
  reader never trained on; training/prepare_reader_data.py's split.json): all their paragraphs are
  indexed but a quarter, whose questions stay as unanswerable ones (attached, in SQuAD 2.0 form, to
  another paragraph of their article): on the topic, not in the articles.

For each question ``Engine.draft`` gives the candidate sentences with their features; a candidate
is right when it holds a gold answer (case and spacing aside). Then:
- lead weights: a grid search for the weights (the rules' score fixed at 1) that put a right
  candidate first for the most questions, news and SQuAD weighted alike; leave-one-source-out shown;
- answering at all: logistic regression on the question's best evidence, then two floors on its
  probability: ANSWER_MIN, and DOUBTFUL_MIN where retrieval doubts too (the rules' abstention test
  on the best cosine and coverage); the pair that abstains on the most unanswerable questions
  (mean over the sources) while abstaining on at most ABSTAIN_BUDGET of either source's answerable;
- short answers: the lowest span share at which the lead's span is exact (SQuAD's normalisation)
  for at least SHORT_EXACT of those given on either source.

    QA_READER=embeddings/reader python training/fit_answer.py --squad-train /work/data/squad/train-v1.1.json \\
        --split /work/data/reader/split.json --work /work/data/fit

It prints the constants to put in qa/answer/reading.py, and the figures each choice gives.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import pickle
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ABSTAIN_BUDGET = 0.025
SHORT_EXACT = 0.80
GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def tune_file(train: Path, split: Path, out: Path, seed: int = 13) -> Path:
    """The SQuAD tuning file (see the module docstring)."""
    data = json.loads(train.read_text(encoding="utf-8"))["data"]
    keep = set(json.loads(split.read_text(encoding="utf-8"))["val_articles"])
    rng = random.Random(seed)
    articles = []
    for a in data:
        if a["title"] not in keep:
            continue
        paras = a["paragraphs"]
        left_out = set(rng.sample(range(len(paras)), len(paras) // 4))
        kept = [dict(context=p["context"], qas=[dict(q, is_impossible=False) for q in p["qas"]])
                for i, p in enumerate(paras) if i not in left_out]
        for i in sorted(left_out):
            for q in paras[i]["qas"]:
                golds = [x["text"].lower() for x in q["answers"]]
                host = [p for p in kept if not any(g in p["context"].lower() for g in golds)]
                if host:
                    rng.choice(host)["qas"].append({"id": q["id"], "question": q["question"], "answers": [],
                                                    "is_impossible": True})
        articles.append({"title": a["title"], "paragraphs": kept})
    out.write_text(json.dumps({"version": "v2.0", "data": articles}), encoding="utf-8")
    return out


def news_questions() -> list[dict]:
    """The in-sample news questions (English; the held-out sets left out)."""
    out = []
    for path in sorted((ROOT / "eval").glob("questions*.jsonl")):
        if "fresh" in path.name:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                row.setdefault("answerable", bool(row.get("answers")))
                if row.get("lang", "en") == "en":
                    out.append({"source": "news", "set": path.stem, "question": row["question"],
                                "answers": row.get("answers", []), "answerable": row["answerable"]})
    return out


def collect(engine, questions: list[dict]) -> list[dict]:
    """Each question's draft as plain numbers: per candidate features, labels, spans; per question
    the abstention features."""
    from qa.answer import TESTS, kind
    from qa.answer.reading import answer_features, lead_features, span_text
    from qa.eval.questions import holds

    rows = []
    for n, q in enumerate(questions):
        d = engine.draft(q["question"])
        if d is None or not d.picked:
            continue
        f = lead_features(d, TESTS.get(kind(d.query)))
        ev = [d.evidence.get(id(p)) for p in d.picked]
        rows.append({**q, "asks": d.query.asks, "recent": d.query.recent,
                     "features": {k: v.tolist() for k, v in f.items()},
                     "right": [holds(p.text, q["answers"]) if q["answerable"] else False for p in d.picked],
                     "spans": [span_text(p, e) if e else None for p, e in zip(d.picked, ev)],
                     "span_prob": [e.prob if e else 0.0 for e in ev],
                     "span_margin": [e.margin if e and math.isfinite(e.margin) else -99.0 for e in ev],
                     "answer": answer_features(d)})
        if n % 200 == 0:
            print(f"  {n}/{len(questions)}", file=sys.stderr, flush=True)
    return rows


def lead_accuracy(rows: list[dict], weights: dict[str, float]) -> float:
    """Share of answerable questions whose best candidate under ``weights`` is right."""
    ok = [r for r in rows if r["answerable"]]
    if not ok:
        return 0.0
    hits = 0
    for r in ok:
        score = sum(w * np.array(r["features"][k]) for k, w in weights.items())
        hits += r["right"][int(np.argmax(score))]
    return hits / len(ok)


def fit_lead(rows: list[dict], names: tuple[str, ...]) -> dict[str, float]:
    """The grid weights (``rules`` fixed at 1) with the best mean accuracy over the sources."""
    sources = sorted({r["source"] for r in rows})
    best, best_w = -1.0, None
    for combo in itertools.product(GRID, repeat=len(names) - 1):
        w = {"rules": 1.0, **dict(zip(names[1:], combo))}
        acc = np.mean([lead_accuracy([r for r in rows if r["source"] == s], w) for s in sources])
        if acc > best:
            best, best_w = acc, w
    return best_w


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 3000) -> np.ndarray:
    """Weights of a logistic regression (``x`` holds a bias column), by gradient descent."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ w))
        w -= 0.5 * (x.T @ (p - y) / len(y) + l2 * w)
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad-train", type=Path, required=True)
    ap.add_argument("--split", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True, help="folder for the tuning file, indexes and drafts")
    ap.add_argument("--recollect", action="store_true", help="draft every question again")
    ap.add_argument("--squad-limit", type=int, default=0, help="only N SQuAD questions, spread over the file")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work.mkdir(parents=True, exist_ok=True)
    from embeddings import reader
    from qa.answer import reading
    from qa.eval import squad
    from qa.index.build import build_index
    from qa.search.engine import Engine

    if not reader.available():
        sys.exit("no reader model: set QA_READER to an exported model folder")
    cache = args.work / "drafts.pkl"
    if cache.exists() and not args.recollect:
        rows = pickle.loads(cache.read_bytes())
    else:
        tune = tune_file(args.squad_train, args.split, args.work / "tune-squad.json")
        docs, qs = squad.load_squad(tune)
        squad.build(docs, args.work / "squad-index", lambda m: print(m, file=sys.stderr))
        build_index([ROOT / "seeds"], args.work / "news-index")
        squad_qs = [{"source": "squad", "set": "tune", "question": q.question, "answers": list(q.answers),
                     "answerable": bool(q.answers)} for q in squad.spread(qs, args.squad_limit)]
        rows = collect(Engine(args.work / "news-index"), news_questions())
        rows += collect(Engine(args.work / "squad-index"), squad_qs)
        cache.write_bytes(pickle.dumps(rows))
    sources = sorted({r["source"] for r in rows})
    counts = ", ".join(f"{s} {sum(r['source'] == s for r in rows)}" for s in sources)
    print(f"drafts: {len(rows)} ({counts})")

    names = tuple(reading.LEAD_WEIGHTS)
    rules_only = {"rules": 1.0, "test": reading.LEAD_WEIGHTS.get("test", 0.0)} if "test" in names else {"rules": 1.0}
    w = fit_lead(rows, names)
    print("\nlead: share of answerable questions whose first candidate holds the answer")
    for s in sources:
        part = [r for r in rows if r["source"] == s]
        held = fit_lead([r for r in rows if r["source"] != s], names)
        print(f"  {s:6}  rules {lead_accuracy(part, rules_only):.3f}   fitted {lead_accuracy(part, w):.3f}   "
              f"fitted on the other source alone {lead_accuracy(part, held):.3f}")
    print(f"LEAD_WEIGHTS = {w}")

    cols = list(reading.ANSWER_WEIGHTS)
    x = np.array([[r["answer"][c] for c in cols] for r in rows])
    y = np.array([r["answerable"] for r in rows], float)
    aw = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-x @ aw))
    doubt = np.array([reading.doubtful(r["answer"]) for r in rows])
    src = {s: np.array([r["source"] == s for r in rows]) for s in sources}

    def abstains(lo: float, hi: float) -> np.ndarray:
        return p < np.where(doubt, hi, lo)

    best, floors = -1.0, (0.0, 0.0)
    for lo in np.arange(0.05, 0.96, 0.01):
        for hi in np.arange(lo, 0.96, 0.01):
            ab = abstains(lo, hi)
            if all(np.mean(ab[m & (y == 1)]) <= ABSTAIN_BUDGET for m in src.values()):
                caught = float(np.mean([np.mean(ab[m & (y == 0)]) for m in src.values()]))
                if caught > best + 1e-9:
                    best, floors = caught, (float(lo), float(hi))
    print("\nanswer at all (logistic; the rules' own abstention shown for comparison):")
    for name, ab in (("rules", doubt), ("fitted", abstains(*floors))):
        for s, m in src.items():
            print(f"  {name:6}  {s:6}  abstains on {np.mean(ab[m & (y == 1)]):.1%} of answerable, "
                  f"{np.mean(ab[m & (y == 0)]):.1%} of unanswerable")
    print(f"ANSWER_WEIGHTS = {dict(zip(cols, np.round(aw, 3).tolist()))}\n"
          f"ANSWER_MIN = {floors[0]:.2f}\nDOUBTFUL_MIN = {floors[1]:.2f}")

    from qa.eval.squad import exact

    print("\nshort answers (the lead's span; questions answered right in the lead):")
    best_t = None
    for t in np.arange(0.1, 0.96, 0.05):
        ok_all = True
        line = []
        for s in sources:
            given = exact_n = 0
            answerable = 0
            for r in rows:
                if r["source"] != s or not r["answerable"]:
                    continue
                answerable += 1
                score = sum(wt * np.array(r["features"][k]) for k, wt in w.items())
                i = int(np.argmax(score))
                span = r["spans"][i]
                if (span and r["span_prob"][i] >= t and r["span_margin"][i] > 0
                        and r["asks"] not in reading.NO_SHORT and len(span.split()) <= reading.SHORT_MAX_WORDS):
                    given += 1
                    exact_n += exact(span, r["answers"])
            share = exact_n / given if given else 1.0
            ok_all &= share >= SHORT_EXACT
            line.append(f"{s} {given}/{answerable} given, {share:.1%} exact")
        print(f"  floor {t:.2f}: " + "; ".join(line))
        if ok_all and best_t is None:
            best_t = float(t)
    print(f"SHORT_MIN_PROB = {best_t}")


if __name__ == "__main__":
    main()
