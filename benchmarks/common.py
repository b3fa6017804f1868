"""Shared helpers for the benchmark scripts: temp index dirs, timing, tables, machine facts.

Every benchmark returns rows ``{"bench", "metric", "value", "unit", "target", "ok", "note"}``;
``print_rows`` shows them as a markdown table and ``--json PATH`` saves them for ``run_all.py``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "eval" / "questions.jsonl"
VENV_BIN = Path(sys.executable).parent
QA = str(VENV_BIN / "qa")
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa-news"


def questions() -> list[str]:
    """The evaluation questions' texts."""
    return [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line]


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(p / 100 * len(v) + 0.5) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rss_gb(kind: str = "VmRSS") -> float:
    """Current resident set size of this process, GB (``RssAnon``: private memory only, not mapped files)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(kind + ":"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def peak_rss_gb() -> float:
    """Peak resident set size of this process, GB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def machine() -> dict:
    """CPU model, core count, memory and current load."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpu": cpu, "cores": os.cpu_count(),
            "mem_gb": round(mem / 1024**2, 1), "load": loadavg(), "python": platform.python_version()}


class Workspace:
    """A temp folder with its own index dir and embedding cache (the ONNX export is shared).

    ``QA_CACHE_DIR`` points at ``<tmp>/cache`` whose ``onnx`` is a symlink to the default
    cache's, so nothing is re-exported but every embedding is computed afresh.
    """

    def __init__(self, name: str = "qa-bench") -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.index = self.path / "index"
        self.cache = self.path / "cache"
        self.seeds = self.path / "seeds"
        self.cache.mkdir()
        onnx = DEFAULT_CACHE / "onnx"
        if onnx.is_dir():
            (self.cache / "onnx").symlink_to(onnx)
        shutil.copytree(SEEDS, self.seeds)
        for f in self.seeds.iterdir():
            f.chmod(0o644)

    def env(self) -> dict[str, str]:
        return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "QA_INDEX_DIR": str(self.index),
                "QA_CACHE_DIR": str(self.cache), "QA_SEEDS_DIR": str(self.seeds)}

    def activate(self) -> None:
        """Use this workspace in the current process."""
        os.environ.update(self.env())

    def fresh_cache(self) -> None:
        """Forget every cached embedding (keeps the ONNX symlink)."""
        shutil.rmtree(self.cache / "embeddings", ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def build_seed_index(ws: Workspace) -> None:
    """Build the workspace's index from its seeds with the ``qa`` CLI."""
    subprocess.run([QA, "index"], env=ws.env(), check=True, capture_output=True)


def wall(cmd: list[str], env: dict, runs: int, warmup: int = 1, prepare: str | None = None) -> list[float]:
    """Whole-process wall times (s) of ``cmd``: hyperfine if installed, else subprocess timing.

    ``prepare`` is a shell command run before every timed run (and warm-up).
    """
    import shlex

    if shutil.which("hyperfine"):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            extra = ["--prepare", prepare] if prepare else []
            subprocess.run(["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
                            *extra, "--export-json", out.name, shlex.join(cmd)], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            return json.loads(Path(out.name).read_text())["results"][0]["times"]
    times = []
    for i in range(warmup + runs):
        if prepare:
            subprocess.run(prepare, shell=True, check=True)
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return times


def row(bench: str, metric: str, value: float | str, unit: str = "", target: str = "", ok: bool | None = None,
        note: str = "") -> dict:
    return {"bench": bench, "metric": metric, "value": value, "unit": unit, "target": target, "ok": ok, "note": note}


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(rows: list[dict], with_bench: bool = False) -> str:
    """Rows as a markdown table."""
    head = (["bench"] if with_bench else []) + ["metric", "value", "target", "met", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        met = "" if r["ok"] is None else ("yes" if r["ok"] else "**NO**")
        cells = ([r["bench"]] if with_bench else []) + [r["metric"], f"{fmt(r['value'])} {r['unit']}".strip(),
                                                        r["target"], met, r["note"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def emit(rows: list[dict], json_path: Path | None, title: str) -> None:
    """Print the table (and machine facts); save the rows as JSON if asked."""
    m = machine()
    print(f"\n## {title}\n\n{m['date']} · {m['cpu']} · {m['cores']} cores · load {m['load']}\n")
    print(table(rows))
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=1))
