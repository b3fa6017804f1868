"""Cold CLI runs (whole process) and the comparison with a plain sentence-transformers + faiss script.

Ours, on a temp copy of the seeds with a built index:
  - ``qa ask "..."`` and ``qa search "..."``: whole-process wall time (hyperfine if installed);
  - ``qa index --full`` with an empty embedding cache: whole-process build time;
  - warm ``engine.ask`` / ``engine.search`` p50 (see bench_warm.py).
Baseline (``baseline_st_faiss.py``, same passages, same weights): one cold question
(load model, embed all passages, build, search), the build alone, and warm p50 of
embed-query + search. Ratios are ours / baseline (below 1 = we are faster).

    python benchmarks/bench_cli.py [--runs 10] [--baseline-runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QA, QUESTIONS, Workspace, build_seed_index, emit, median, questions, row, wall  # noqa: E402

HERE = Path(__file__).resolve().parent
BASELINE = str(HERE / "baseline_st_faiss.py")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--baseline-runs", type=int, default=3)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    ws = Workspace("qa-bench-cli")
    try:
        rows = run(ws, args)
    finally:
        ws.close()
    emit(rows, args.json, "Cold CLI and baseline")


def _passages(ws: Workspace) -> int:
    from qa.index.store import open_current

    live = open_current(ws.index)
    return int(live.manifest["passages"]) if live else 0


def run(ws: Workspace, args) -> list[dict]:
    build_seed_index(ws)
    env = ws.env()
    q = questions()[0]
    ask = median(wall([QA, "ask", q], env, args.runs, warmup=2))
    search = median(wall([QA, "search", q], env, args.runs, warmup=2))
    index = median(wall([QA, "index", "--full"], env, args.baseline_runs, warmup=1,
                        prepare=f"rm -rf {ws.cache / 'embeddings'}"))
    rows = [row("cli", "cold `qa ask` (whole process, median)", ask, "s", "≤ 1.0 s", ask <= 1.0, f"{args.runs} runs"),
            row("cli", "cold `qa search` (whole process, median)", search, "s", "≤ 1.0 s", search <= 1.0),
            row("cli", "`qa index --full`, empty embedding cache (whole process)", index, "s",
                note=f"{_passages(ws)} passages; ONNX export reused")]

    ws.activate()
    from bench_warm import measure

    warm = measure(ws.index, calls=200)
    w_ask, w_search = median(warm["ask"]), median(warm["search"])
    if args.skip_baseline:
        return rows

    from bench_build import passage_texts

    pfile = ws.path / "passages.json"
    pfile.write_text(json.dumps(passage_texts(ws.seeds)))
    b_cold = median(wall([sys.executable, BASELINE, "--passages", str(pfile), q], env, args.baseline_runs,
                         warmup=1))
    b_build = median(wall([sys.executable, BASELINE, "--passages", str(pfile), "--build-only"], env,
                          args.baseline_runs, warmup=1))
    b = json.loads(subprocess.run([sys.executable, BASELINE, "--passages", str(pfile), "--bench", str(QUESTIONS)],
                                  env=env, check=True, capture_output=True, text=True).stdout)
    rows += [
        row("baseline", "ST+faiss script, one cold question (whole process)", b_cold, "s",
            note=f"import {b['import_s']:.1f} s, model load {b['load_s']:.1f} s, embed+build {b['build_s']:.1f} s"),
        row("baseline", "ST+faiss script, build only (whole process)", b_build, "s"),
        row("baseline", "ST+faiss warm question p50 (embed query + flat search)", b["warm_p50_ms"], "ms"),
        row("ratio", "cold ask: qa ask / baseline cold question", ask / b_cold, "×",
            note=f"{b_cold / ask:.0f}× faster"),
        row("ratio", "cold search: qa search / baseline cold question", search / b_cold, "×",
            note=f"{b_cold / search:.0f}× faster"),
        row("ratio", "build: qa index --full / baseline build", index / b_build, "×"),
        row("ratio", "warm: engine.search p50 / baseline warm p50", w_search / b["warm_p50_ms"], "×",
            note=f"{w_search:.1f} ms vs {b['warm_p50_ms']:.1f} ms"),
        row("ratio", "warm: engine.ask p50 / baseline warm p50", w_ask / b["warm_p50_ms"], "×",
            note=f"{w_ask:.1f} ms vs {b['warm_p50_ms']:.1f} ms; ask also composes the cited answer"),
    ]
    return rows


if __name__ == "__main__":
    main()
