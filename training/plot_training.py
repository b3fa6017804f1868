"""Figures of a training run: losses, throughput, validation figures per evaluated checkpoint.

  python training/plot_training.py [--log /work/data/reader-ckpt/train-log.jsonl]
      [--evals /work/data/reader-eval] [--out /work/data/reader-figs]

--evals holds metrics JSON files written by evaluate_reader.py --out (one per checkpoint; the
step is read from the file name step-XXXXXXX*.json).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def smooth(y, k=10):
    y = np.asarray(y, dtype=float)
    if len(y) < k:
        return y
    return np.convolve(y, np.ones(k) / k, mode="valid")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", default="/work/data/reader-ckpt/train-log.jsonl")
    ap.add_argument("--evals", default="/work/data/reader-eval")
    ap.add_argument("--out", default="/work/data/reader-figs")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    with open(args.log) as f:
        rows = [json.loads(x) for x in f if x.strip()]
    # a resumed run appends: keep the last record of each step
    by_step = {r["step"]: r for r in rows}
    rows = [by_step[k] for k in sorted(by_step)]
    ex = np.array([r["examples"] for r in rows])

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for key, lab, col in (("span_loss", "span loss (CE start+end)/2", "C0"), ("has_loss", "has-answer BCE", "C3")):
        y = [r[key] for r in rows]
        ax[0].plot(ex, y, alpha=0.25, color=col)
        ys = smooth(y)
        k0 = (len(ex) - len(ys)) // 2  # centred moving average
        ax[0].plot(ex[k0:k0 + len(ys)], ys, label=lab + " (10-point mean)", color=col)
    ax[0].set_xlabel("training examples seen")
    ax[0].set_ylabel("loss")
    ax[0].legend()
    ax[0].set_title("training loss")
    hours = np.array([r["elapsed_s"] for r in rows]) / 3600
    ax[1].plot(hours, [r["ex_per_s"] for r in rows], alpha=0.5, label="examples/s (10-step window)")
    ax[1].plot(hours, [r.get("load1", np.nan) for r in rows], alpha=0.6, label="load average (1 min)")
    if len(rows) > 1:
        ax[1].axhline(ex[-1] / (rows[-1]["elapsed_s"] or 1), color="k", ls="--",
                      label=f"mean {ex[-1] / (rows[-1]['elapsed_s'] or 1):.2f} ex/s")
    ax[1].set_xlabel("hours")
    ax[1].legend()
    ax[1].set_title("throughput on 2 shared cores")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "training.png"), dpi=110)
    print("wrote", os.path.join(args.out, "training.png"))

    evals = []
    for f in sorted(glob.glob(os.path.join(args.evals, "*.json"))):
        m = re.search(r"step-(\d+)", os.path.basename(f))
        if not m:
            continue
        with open(f) as fh:
            d = json.load(fh)
        evals.append((int(m.group(1)), os.path.basename(f), d))
    if evals:
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        torch_ev = [e for e in evals if "int8" not in e[1]]
        xs = [e[0] for e in torch_ev]
        for key, lab in (("F1", "F1 (all, at threshold)"), ("HasAns_F1", "HasAns F1"), ("forced_F1", "forced F1"),
                         ("NoAns_acc", "NoAns accuracy")):
            ax[0].plot(xs, [e[2].get(key, np.nan) for e in torch_ev], "o-", label=lab)
        ax[0].set_xlabel("step")
        ax[0].set_title("validation split (held out from SQuAD train)")
        ax[0].legend()
        for key, lab in (("sentence_top1", "answer-sentence top-1"), ("auc_span_minus_null", "AUC span-null"),
                         ("auc_head", "AUC has-answer head")):
            ax[1].plot(xs, [e[2].get(key, np.nan) for e in torch_ev], "o-", label=lab)
        ax[1].set_xlabel("step")
        ax[1].legend()
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "validation.png"), dpi=110)
        print("wrote", os.path.join(args.out, "validation.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
