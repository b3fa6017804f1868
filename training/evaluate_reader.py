"""Evaluate the reader on the validation split (held out from SQuAD TRAIN) - or any file in the
same JSONL format.  The model is a checkpoint directory (torch) or an .onnx file (onnxruntime).

Figures:
  * threshold: "answer when best span score - null score > t"; t is chosen on THIS data to
    maximise the SQuAD 2.0 F1 (unless --threshold is given); the same is done for the has-answer
    head's probability (rule "answer when p_has > t_head") - both are reported, and `decision`
    names the better one;
  * SQuAD 2.0-style EM / F1 over all examples at the chosen threshold (null examples score 1
    when the model abstains), split into HasAns EM/F1 and NoAns accuracy;
  * forced EM / F1: the best non-null span on answerable examples (no abstention);
  * answer-sentence top-1: on answerable examples, the sentence holding the forced span's start
    equals the sentence holding the gold answer's start (sentences split simply on . ! ?);
  * has-answer AUC (span - null score, and the head's probability) and accuracy at threshold;
  * abstention rate per kind of example (pos-full, pos-crop, neg-near, neg-bm25, neg-cut).
SQuAD normalisation (lower case, no punctuation, no articles, single spaces) for EM/F1.

Usage:
  python training/evaluate_reader.py --model /work/data/reader-ckpt/step-0000250 \
      [--data /work/data/reader/val.jsonl] [--limit N] [--threshold T] [--out metrics.json]
  python training/evaluate_reader.py --model /work/data/reader-export/early/model.onnx
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reader_common import (  # noqa: E402
    MAX_LENGTH,
    STRIDE,
    build_model,
    decode,
    exact,
    f1_score,
    load_tokenizer,
    make_features,
    pad_batch,
    read_jsonl,
    roc_auc,
    sentence_index,
    sentence_spans,
)


# ------------------------------------------------------------------ running a model
class TorchRunner:
    def __init__(self, ckpt: str, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.model = build_model(ckpt).eval()

    def __call__(self, ii, am, tt):
        t = self.torch
        with t.inference_mode():
            s, e, h = self.model(t.from_numpy(ii), t.from_numpy(am), t.from_numpy(tt))
        return s.numpy(), e.numpy(), h.numpy()  # h: logit


class OnnxRunner:
    def __init__(self, path: str, threads: int):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.outs = [o.name for o in self.sess.get_outputs()]

    def __call__(self, ii, am, tt):
        res = self.sess.run(None, {"input_ids": ii, "attention_mask": am, "token_type_ids": tt})
        d = dict(zip(self.outs, res))
        h = d.get("has_answer")
        if h is not None:  # exported as a probability -> back to a logit for decode()
            h = np.log(np.clip(h, 1e-7, 1 - 1e-7)) - np.log(np.clip(1 - h, 1e-7, 1))
        return d["start_logits"], d["end_logits"], h


def make_runner(model: str, threads: int):
    if model.endswith(".onnx"):
        return OnnxRunner(model, threads)
    return TorchRunner(model, threads)


def run_model(runner, feats, batch_size: int = 64):
    n = len(feats.input_ids)
    order = np.argsort([len(x) for x in feats.input_ids])
    starts, ends = [None] * n, [None] * n
    has = np.zeros(n, dtype=np.float64)
    for b0 in range(0, n, batch_size):
        idx = order[b0:b0 + batch_size]
        ii, am, tt = pad_batch([feats.input_ids[i] for i in idx], [feats.token_type_ids[i] for i in idx])
        s, e, h = runner(ii, am, tt)
        for r, i in enumerate(idx):
            L = len(feats.input_ids[i])
            starts[i], ends[i] = s[r, :L].astype(np.float64), e[r, :L].astype(np.float64)
            if h is not None:
                has[i] = float(np.ravel(h)[r])
    return starts, ends, has


# ------------------------------------------------------------------ metrics
def best_threshold(scores: np.ndarray, gain_answer: np.ndarray, gain_null: np.ndarray):
    """Threshold t maximising sum(gain_answer where score > t, gain_null where score <= t)."""
    order = np.argsort(scores)
    s = scores[order]
    ga, gn = gain_answer[order], gain_null[order]
    # abstain on the first k (sorted ascending), answer on the rest
    total = np.concatenate([[0.0], np.cumsum(gn)]) + np.concatenate([np.cumsum(ga[::-1])[::-1], [0.0]])
    k = int(np.argmax(total))
    if k == 0:
        t = s[0] - 1.0
    elif k == len(s):
        t = s[-1] + 1.0
    else:
        t = (s[k - 1] + s[k]) / 2
    return float(t), float(total[k] / len(s))


def compute_metrics(examples, preds, threshold=None, head_threshold=None) -> dict:
    is_ans = np.array([bool(e["answers"]) for e in examples])
    em_forced = np.array([max((exact(p["text"], a["text"]) for a in e["answers"]), default=0.0)
                          for e, p in zip(examples, preds)])
    f1_forced = np.array([max((f1_score(p["text"], a["text"]) for a in e["answers"]), default=0.0)
                          for e, p in zip(examples, preds)])
    diff = np.array([p["diff"] for p in preds], dtype=float)
    diff = np.where(np.isfinite(diff), diff, -1e9)
    p_has = np.array([p["p_has"] if p["p_has"] is not None else np.nan for p in preds], dtype=float)

    # gains when answering / abstaining
    ga_f1 = np.where(is_ans, f1_forced, 0.0)
    gn = np.where(is_ans, 0.0, 1.0)
    res = {"n": int(len(examples)), "n_answerable": int(is_ans.sum()), "n_null": int((~is_ans).sum())}

    def at(decide_answer, prefix):
        em = np.where(decide_answer, np.where(is_ans, em_forced, 0.0), np.where(is_ans, 0.0, 1.0))
        f1 = np.where(decide_answer, np.where(is_ans, f1_forced, 0.0), np.where(is_ans, 0.0, 1.0))
        res[prefix + "EM"] = 100 * float(em.mean())
        res[prefix + "F1"] = 100 * float(f1.mean())
        res[prefix + "HasAns_EM"] = 100 * float(em[is_ans].mean())
        res[prefix + "HasAns_F1"] = 100 * float(f1[is_ans].mean())
        res[prefix + "NoAns_acc"] = 100 * float((~decide_answer[~is_ans]).mean())
        res[prefix + "has_answer_acc"] = 100 * float((decide_answer == is_ans).mean())
        res[prefix + "abstain_on_answerable"] = 100 * float((~decide_answer[is_ans]).mean())
        return decide_answer

    t = threshold if threshold is not None else best_threshold(diff, ga_f1, gn)[0]
    res["threshold"] = t
    dec = at(diff > t, "")
    if np.isfinite(p_has).all():
        th = head_threshold if head_threshold is not None else best_threshold(p_has, ga_f1, gn)[0]
        res["head_threshold"] = th
        at(p_has > th, "head_")
        res["auc_head"] = roc_auc(is_ans, p_has)
        res["decision"] = "head" if res["head_F1"] > res["F1"] else "span_minus_null"
    res["auc_span_minus_null"] = roc_auc(is_ans, diff)
    res["forced_EM"] = 100 * float(em_forced[is_ans].mean())
    res["forced_F1"] = 100 * float(f1_forced[is_ans].mean())

    # answer-sentence top-1 (answerable examples, forced span)
    hits = []
    for e, p in zip(examples, preds):
        if not e["answers"]:
            continue
        sp = sentence_spans(e["passage"])
        gold = sentence_index(sp, e["answers"][0]["start"])
        hits.append(p["start"] >= 0 and sentence_index(sp, p["start"]) == gold)
    res["sentence_top1"] = float(np.mean(hits))
    by_kind = defaultdict(list)
    for e, d in zip(examples, dec):
        by_kind[e.get("kind", "?")].append(not d)
    res["abstain_by_kind"] = {k: round(100 * float(np.mean(v)), 1) for k, v in sorted(by_kind.items())}
    return res


def evaluate(model: str, examples: list[dict], threads: int = 2, threshold=None, head_threshold=None,
             tok=None, feats=None):
    tok = tok or load_tokenizer()
    feats = feats or make_features(tok, examples, MAX_LENGTH, STRIDE)
    runner = make_runner(model, threads)
    t0 = time.time()
    starts, ends, has = run_model(runner, feats)
    dt = time.time() - t0
    preds = decode(examples, feats, starts, ends, has)
    m = compute_metrics(examples, preds, threshold, head_threshold)
    m["model"] = model
    m["seconds"] = round(dt, 1)
    m["windows"] = len(feats.input_ids)
    return m, preds


def squad_examples(path: str) -> list[dict]:
    """Official SQuAD JSON -> reader examples (question + its paragraph + title; all gold answers)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    out = []
    for art in data:
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                answers = [] if qa.get("is_impossible") else [
                    {"text": a["text"], "start": a["answer_start"]} for a in qa["answers"]]
                kind = "squad-null" if not answers else "squad-answerable"
                out.append({"id": qa["id"], "kind": kind, "title": art["title"], "question": qa["question"],
                            "passage": p["context"], "answers": answers})
    return out


def fmt(m: dict) -> str:
    keys = ["EM", "F1", "HasAns_F1", "NoAns_acc", "has_answer_acc", "abstain_on_answerable", "threshold",
            "head_F1", "head_has_answer_acc", "head_threshold", "auc_span_minus_null", "auc_head",
            "forced_EM", "forced_F1", "sentence_top1", "decision"]
    out = []
    for k in keys:
        if k in m:
            v = m[k]
            out.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(out) + f"\nabstain % by kind: {m.get('abstain_by_kind')}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="checkpoint dir or .onnx file")
    ap.add_argument("--data", default="/work/data/reader/val.jsonl")
    ap.add_argument("--squad", default=None,
                    help="evaluate on an official-format SQuAD JSON instead (each question with its own "
                         "paragraph); for SQuAD 2.0 dev: FINAL REPORT ONLY, pass --meta so that the "
                         "thresholds come from the validation split")
    ap.add_argument("--meta", default=None, help="meta.json of an export: take its thresholds")
    ap.add_argument("--limit", type=int, default=0, help="first N examples only")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--head-threshold", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="write metrics JSON here")
    ap.add_argument("--preds", default=None, help="write per-example predictions (JSONL) here")
    args = ap.parse_args(argv)

    ex = squad_examples(args.squad) if args.squad else read_jsonl(args.data)
    if args.meta:
        with open(args.meta) as f:
            meta = json.load(f)
        if args.threshold is None:
            args.threshold = meta["threshold"]
        if args.head_threshold is None:
            args.head_threshold = meta.get("has_answer_threshold")
    if args.limit:
        ex = ex[:args.limit]
    m, preds = evaluate(args.model, ex, args.threads, args.threshold, args.head_threshold)
    print(json.dumps(m, indent=1))
    print(fmt(m))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(m, fh, indent=1)
    if args.preds:
        with open(args.preds, "w", encoding="utf-8") as fh:
            for e, p in zip(ex, preds):
                fh.write(json.dumps({"id": e["id"], "kind": e.get("kind"), **p}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
