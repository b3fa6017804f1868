"""Build the reader's training and validation examples from the rebuilt SQuAD train 1.1.

Split: whole articles are held out for validation (fixed seed) until >= --val-questions
questions; everything else is training.  SQuAD 2.0 dev is NOT read here (final report only).

Every question gives one POSITIVE example and one NEGATIVE (null) example (ratio 1 : 1):
  positive   question + its own paragraph, gold span;
  negatives  (kind drawn per question; a kind that is not possible falls through to the next)
    neg-near   another paragraph of the SAME article, the one that ranks highest by BM25 for the
               question among those containing none of the question's gold answer strings
               (case-insensitive)  - near-topic, the product's commonest miss;
    neg-bm25   the highest-BM25 paragraph of ANOTHER article (within the same split) containing
               none of the gold answer strings;
    neg-cut    the question's own paragraph with the answer-bearing sentences cut away
               (a contiguous run of >= 150 characters that contains no gold answer string).
  Mix: near 0.4, bm25 0.4, cut 0.2.
Passages: like the product (an article title plus a passage of 1-1000 characters): with
probability 0.5 the whole paragraph (long ones are windowed by the tokenizer), otherwise a
sentence-aligned crop of target length U(200, 1000) characters - around the answer for
positives, at a random place for negatives.  The same rule for both labels, so passage length
tells nothing about the label.

Writes to --out (default /work/data/reader):
  train.jsonl, val.jsonl  one example per line: id, qid, kind, article, title, question,
                          passage, answers=[{text, start}] (start in passage; [] = null)
  val-squad2.json         the validation examples in SQuAD 2.0 JSON format (one paragraph per example)
  split.json              which articles are validation, seed, counts
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reader_common import sentence_spans, write_jsonl  # noqa: E402

NEG_MIX = (("neg-near", 0.4), ("neg-bm25", 0.4), ("neg-cut", 0.2))


def load_squad(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["data"]


def contains_any(text: str, answers: list[str]) -> bool:
    low = text.lower()
    return any(a.lower() in low for a in answers if a)


def crop_around(ctx: str, a0: int, a1: int, target: int, rng: random.Random) -> tuple[int, int]:
    """Sentence-aligned window containing [a0, a1), grown randomly left/right to >= target chars."""
    sp = sentence_spans(ctx)
    i = next((k for k, (s, e) in enumerate(sp) if a0 < e), len(sp) - 1)
    j = next((k for k, (s, e) in enumerate(sp) if a1 <= e), len(sp) - 1)
    j = max(i, j)
    while sp[j][1] - sp[i][0] < target and (i > 0 or j < len(sp) - 1):
        if i > 0 and (j == len(sp) - 1 or rng.random() < 0.5):
            i -= 1
        else:
            j += 1
    return sp[i][0], sp[j][1]


def crop_random(ctx: str, target: int, rng: random.Random) -> tuple[int, int]:
    sp = sentence_spans(ctx)
    i = rng.randrange(len(sp))
    j = i
    while sp[j][1] - sp[i][0] < target and (i > 0 or j < len(sp) - 1):
        if j < len(sp) - 1:
            j += 1
        else:
            i -= 1
    return sp[i][0], sp[j][1]


def cut_away(ctx: str, answers: list[str], target: int) -> tuple[int, int] | None:
    """Longest contiguous run of sentences with no gold answer string, trimmed to ~target."""
    sp = sentence_spans(ctx)
    bad = [contains_any(ctx[s:e], answers) for s, e in sp]
    best, i = None, 0
    while i < len(sp):
        if bad[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(sp) and not bad[j + 1]:
            j += 1
        # trim to target, starting from i
        k = i
        while k < j and sp[k][1] - sp[i][0] < target:
            k += 1
        span = (sp[i][0], sp[k][1])
        if best is None or span[1] - span[0] > best[1] - best[0]:
            best = span
        i = j + 1
    if best is None or best[1] - best[0] < 150:
        return None
    s, e = best
    if contains_any(ctx[s:e], answers):
        return None
    return s, e


def strip_span(ctx: str, s: int, e: int) -> tuple[int, int]:
    while s < e and ctx[s].isspace():
        s += 1
    while e > s and ctx[e - 1].isspace():
        e -= 1
    return s, e


def build_split(articles: list[dict], rng: random.Random, crop_p: float, bm25_top: int):
    import bm25s

    paras = []  # (article index, paragraph index, context)
    for ai, art in enumerate(articles):
        for pi, p in enumerate(art["paragraphs"]):
            paras.append((ai, pi, p["context"]))
    corpus_tokens = bm25s.tokenize([c for _, _, c in paras], stopwords="en", show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=False)

    questions = []
    for ai, art in enumerate(articles):
        for pi, p in enumerate(art["paragraphs"]):
            for qa in p["qas"]:
                questions.append((ai, pi, qa))
    q_tokens = bm25s.tokenize([qa["question"] for _, _, qa in questions], stopwords="en",
                              show_progress=False)
    k = min(bm25_top, len(paras))
    results, _scores = retriever.retrieve(q_tokens, k=k, show_progress=False, n_threads=1)

    rows, stats = [], Counter()
    for qn, (ai, pi, qa) in enumerate(questions):
        art = articles[ai]
        title = art["title"]
        ctx = art["paragraphs"][pi]["context"]
        gold = [a["text"] for a in qa["answers"]]
        a = qa["answers"][0]
        a0, a1 = a["answer_start"], a["answer_start"] + len(a["text"])
        # ---- positive
        if rng.random() < crop_p:
            s, e = crop_around(ctx, a0, a1, rng.randint(200, 1000), rng)
            kind = "pos-crop"
        else:
            s, e, kind = 0, len(ctx), "pos-full"
        s, e = strip_span(ctx, s, e)
        s, e = min(s, a0), max(e, a1)
        rows.append({"id": qa["id"] + "-p", "qid": qa["id"], "kind": kind, "article": title,
                     "title": title, "question": qa["question"], "passage": ctx[s:e],
                     "answers": [{"text": a["text"], "start": a0 - s}]})
        stats[kind] += 1
        # ---- negative
        ranked = [int(x) for x in results[qn]]
        r, acc, first = rng.random(), 0.0, NEG_MIX[-1][0]
        for name, w in NEG_MIX:
            acc += w
            if r < acc:
                first = name
                break
        kinds = [first] + [n for n, _ in NEG_MIX if n != first]
        neg = None
        for nk in kinds:
            if nk == "neg-near":
                cands = [x for x in ranked if paras[x][0] == ai and paras[x][1] != pi
                         and not contains_any(paras[x][2], gold)]
                if not cands:
                    others = [x for x in range(len(paras)) if paras[x][0] == ai and paras[x][1] != pi
                              and not contains_any(paras[x][2], gold)]
                    cands = [rng.choice(others)] if others else []
                if cands:
                    neg = (nk, paras[cands[0]][0], paras[cands[0]][2], None)
            elif nk == "neg-bm25":
                cands = [x for x in ranked if paras[x][0] != ai and not contains_any(paras[x][2], gold)]
                if cands:
                    neg = (nk, paras[cands[0]][0], paras[cands[0]][2], None)
            elif nk == "neg-cut":
                span = cut_away(ctx, gold, rng.randint(200, 1000))
                if span:
                    neg = (nk, ai, ctx, span)
            if neg:
                break
        if neg is None:
            stats["neg-none"] += 1
            continue
        nk, nai, nctx, span = neg
        if span is None:
            cropped = rng.random() < crop_p
            span = crop_random(nctx, rng.randint(200, 1000), rng) if cropped else (0, len(nctx))
        s, e = strip_span(nctx, *span)
        passage = nctx[s:e]
        if contains_any(passage, gold) or not passage:
            stats["neg-dropped"] += 1
            continue
        ntitle = articles[nai]["title"]
        rows.append({"id": qa["id"] + "-n", "qid": qa["id"], "kind": nk, "article": title,
                     "title": ntitle, "question": qa["question"], "passage": passage,
                     "answers": []})
        stats[nk] += 1
    return rows, stats


def to_squad2(rows: list[dict]) -> dict:
    by_title: dict[str, list] = {}
    for r in rows:
        qa = {"id": r["id"], "question": r["question"], "is_impossible": not r["answers"],
              "answers": [{"text": a["text"], "answer_start": a["start"]} for a in r["answers"]]}
        by_title.setdefault(r["title"], []).append({"context": r["passage"], "qas": [qa]})
    return {"version": "v2.0", "data": [{"title": t, "paragraphs": p} for t, p in by_title.items()]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad", default="/work/data/squad/train-v1.1.json")
    ap.add_argument("--out", default="/work/data/reader")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--val-questions", type=int, default=2000)
    ap.add_argument("--crop-p", type=float, default=0.5)
    ap.add_argument("--bm25-top", type=int, default=30)
    args = ap.parse_args(argv)

    arts = load_squad(args.squad)
    rng = random.Random(args.seed)
    order = list(range(len(arts)))
    rng.shuffle(order)
    val_ids, nq = [], 0
    for i in order:
        if nq >= args.val_questions:
            break
        val_ids.append(i)
        nq += sum(len(p["qas"]) for p in arts[i]["paragraphs"])
    val_set = set(val_ids)
    train_arts = [a for i, a in enumerate(arts) if i not in val_set]
    val_arts = [a for i, a in enumerate(arts) if i in val_set]

    os.makedirs(args.out, exist_ok=True)
    summary = {"seed": args.seed, "source": args.squad, "val_articles": [a["title"] for a in val_arts]}
    for name, part, seed in (("val", val_arts, args.seed + 1), ("train", train_arts, args.seed + 2)):
        rows, stats = build_split(part, random.Random(seed), args.crop_p, args.bm25_top)
        random.Random(seed).shuffle(rows)
        write_jsonl(os.path.join(args.out, f"{name}.jsonl"), rows)
        nq = sum(len(p["qas"]) for a in part for p in a["paragraphs"])
        summary[name] = {"articles": len(part), "questions": nq, "examples": len(rows), **stats}
        print(name, json.dumps(summary[name]))
        if name == "val":
            with open(os.path.join(args.out, "val-squad2.json"), "w", encoding="utf-8") as fh:
                json.dump(to_squad2(rows), fh, ensure_ascii=False)
    with open(os.path.join(args.out, "split.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
