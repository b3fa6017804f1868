"""Warm latency: one process, Engine opened once and warmed, then every question of
eval/questions.jsonl asked in turn until ~500 calls; p50/p99 of ``engine.ask`` and
``engine.search`` (default mode, k=10), plus the query-encoding share of it.

    python benchmarks/bench_warm.py [--calls 500] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Workspace, build_seed_index, emit, median, pct, questions, row  # noqa: E402


def timed(fn, items: list[str], calls: int) -> list[float]:
    """Milliseconds of ``fn(item)``, cycling through ``items`` for ``calls`` calls."""
    out = []
    for i in range(calls):
        q = items[i % len(items)]
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def measure(index_dir: Path, calls: int = 500) -> dict[str, list[float]]:
    """Per-call latencies (ms) of ask, search and the bare query encoding."""
    from qa.search.engine import Engine

    engine = Engine.open(index_dir, build_if_missing=False)
    engine.warm_up()
    qs = questions()
    for q in qs[:10]:  # let caches and allocators settle
        engine.ask(q)
    return {"ask": timed(engine.ask, qs, calls), "search": timed(engine.search, qs, calls),
            "encode": timed(lambda q: engine.encoder.encode([q]), qs, calls)}


# p50 / p99 targets (ms): search as before; ask reads up to 5 passages with the reader model (issue 19)
TARGETS = {"ask": (150, 400), "search": (20, 60)}


def rows_for(lat: dict[str, list[float]]) -> list[dict]:
    rows = []
    for name, label in (("ask", "engine.ask"), ("search", "engine.search (k=10)")):
        v = lat[name]
        p50, p99 = TARGETS[name]
        rows.append(row("warm", f"{label} p50 ({len(v)} calls)", median(v), "ms", f"≤ {p50} ms", median(v) <= p50))
        rows.append(row("warm", f"{label} p99", pct(v, 99), "ms", f"≤ {p99} ms", pct(v, 99) <= p99,
                        f"max {max(v):.1f} ms"))
    e = lat["encode"]
    rows.append(row("warm", "query encoding alone (OnnxEncoder.encode, 1 text) p50 / p99",
                    f"{median(e):.1f} / {pct(e, 99):.1f}", "ms", note="part of both figures above"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    ws = Workspace("qa-bench-warm")
    try:
        build_seed_index(ws)
        ws.activate()
        rows = rows_for(measure(ws.index, args.calls))
    finally:
        ws.close()
    emit(rows, args.json, "Warm questions (one process)")


if __name__ == "__main__":
    main()
