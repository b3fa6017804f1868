"""Run every benchmark and print one combined markdown table (date, CPU, cores, load).

The latency-sensitive benchmarks run first, the heavy scale one last.

    python benchmarks/run_all.py                      # full: includes 1M-passage scale (~40+ min on 2 cores)
    python benchmarks/run_all.py --scale 100000       # quicker scale run
    python benchmarks/run_all.py --skip-scale --out results.md
    python benchmarks/run_all.py --skip-scale --include /tmp/scale.json   # with bench_scale.py --json /tmp/scale.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loadavg, machine, table  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=1_000_000)
    ap.add_argument("--hnsw-max", type=int, help="passed to bench_scale.py")
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="bench_scale.py: reuse indexes built earlier")
    ap.add_argument("--include", type=Path, action="append", default=[],
                    help="rows saved earlier with a script's --json (e.g. a long bench_scale.py run)")
    ap.add_argument("--out", type=Path, help="also write the markdown here")
    args = ap.parse_args()

    scale = ["--scale", str(args.scale)] + (["--hnsw-max", str(args.hnsw_max)] if args.hnsw_max else [])
    scale += ["--reuse"] if args.reuse else []
    plan = [("bench_cli.py", []), ("bench_warm.py", []), ("bench_build.py", [])]
    if not args.skip_scale:
        plan.append(("bench_scale.py", scale))

    m = machine()
    rows, commands = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for script, extra in plan:
            out = Path(tmp) / f"{script}.json"
            cmd = [sys.executable, str(HERE / script), *extra, "--json", str(out)]
            commands.append(" ".join(["python", f"benchmarks/{script}", *extra]))
            print(f"running {commands[-1]} (load {loadavg()})", file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True, stdout=sys.stderr)
            rows += json.loads(out.read_text())
    for extra in args.include:
        rows += json.loads(extra.read_text())
        commands.append(f"(rows from {extra}, saved by an earlier run)")

    missed = [r["metric"] for r in rows if r["ok"] is False]
    md = "\n".join([
        "# Benchmarks", "",
        f"- date: {m['date']}",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {m['mem_gb']} GB RAM; Python {m['python']}",
        f"- load average (1/5/15 min) at start: {m['load']}; at end: {loadavg()}",
        "- commands: " + "; ".join(f"`{c}`" for c in commands), "",
        table(rows, with_bench=True), "",
        f"Targets missed: {len(missed)}" + ("".join(f"\n- {x}" for x in missed) if missed else ""),
    ])
    print(md)
    if args.out:
        args.out.write_text(md + "\n")


if __name__ == "__main__":
    main()
