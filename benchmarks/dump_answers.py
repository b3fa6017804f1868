"""Dump ``qa ask --json`` and ``qa search --json`` for every question of every set under eval/.

One JSON line per question and command, exactly as the CLI prints them, so two runs (before and
after a change meant to keep behaviour) can be compared with ``diff``.

    python benchmarks/dump_answers.py --index-dir IDX > before.jsonl
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from qa.search.engine import Engine

ROOT = Path(__file__).resolve().parents[1]


def questions() -> list[str]:
    """Every question (and every dialogue turn) of every set under eval/, in file order."""
    out = []
    for path in sorted((ROOT / "eval").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if "question" in row:
                out.append(row["question"])
            out.extend(row.get("turns", []))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--mode", default="rerank", help="search mode (rerank, hybrid, dense, bm25)")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    engine = Engine.open(args.index_dir, build_if_missing=False)
    for q in questions():
        if args.mode == "rerank":
            print(json.dumps(asdict(engine.ask(q)), ensure_ascii=False))
        hits = engine.search(q, k=args.k, mode=args.mode)
        print(json.dumps({"query": q, "results": [asdict(h) for h in hits]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
