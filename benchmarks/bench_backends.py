"""Backends: N synthetic passages (default 100,000) in the index folder and in Milvus Lite, and the
Ray build against the single process.

Passages are ``bench_scale.py``'s: 40-80 Zipfian pseudo-words, one passage an article (a BEIR
``corpus.jsonl``), with its clustered 384-d vectors; an encoder that looks a text's vector up stands
in for the model, so the builds time everything but the embedding (which the Ray part measures with
the real model). Each phase runs in its own process:

- build: ``qa.index.backend.build_index`` into files, then into Milvus Lite (no annotations,
  no multilingual vectors, no token states: above 50,000 passages the product keeps none);
- query: ``Engine.search`` (``qa search``, rerank) and ``Engine.ask`` (``qa ask``) for held-out
  queries (2-5 words, their vectors from the same distribution), p50/p99 after a warm-up; recall@10
  of the dense part (``reader.dense``) against exact search; peak memory (and Milvus Lite's server's);
- disk: the version folder, the Lite database;
- ray: the real ONNX encoder on ``--ray-texts`` of the texts, in this process vs ``qa index --ray``'s
  pipeline on a local Ray runtime (one actor per CPU).

    python benchmarks/bench_backends.py                  # 100k passages (~15 min on 2 cores)
    python benchmarks/bench_backends.py --n 20000 --ray-texts 500
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import bm25_queries, cached, synth_texts, synth_vectors  # noqa: E402
from common import ROOT, machine, median, pct, peak_rss_gb, row, table  # noqa: E402

DIM = 384


class LookupEncoder:
    """The synthetic vector of each passage (as embedded: "p<i>" and its text) and query; any other
    text gets a fixed vector drawn from its hash."""

    name = "lookup"
    dim = DIM

    def __init__(self, data: Path, n: int, q: int) -> None:
        texts = (data / f"texts-{n}.txt").read_text().splitlines()
        queries = bm25_queries(q)
        self.vectors = np.load(data / f"vectors-{n}.npy", mmap_mode="r")
        self.qvectors = np.load(data / f"queries-{n}-{q}.npy")
        self.rows = {f"p{i}\n{t}": i for i, t in enumerate(texts)}  # embedded: the title (the id) and the text
        self.qrows = {t: i for i, t in enumerate(queries)}

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        out = np.empty((len(texts), DIM), np.float32)
        for i, t in enumerate(texts):
            if t in self.rows:
                out[i] = self.vectors[self.rows[t]]
            elif t in self.qrows:
                out[i] = self.qvectors[self.qrows[t]]
            else:
                seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
                v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
                out[i] = v / np.linalg.norm(v)
        return out


def prepare(data: Path, n: int, q: int) -> Path:
    """The corpus (BEIR jsonl), its vectors and the query vectors, cached under ``data``."""
    data.mkdir(parents=True, exist_ok=True)
    texts = synth_texts(data / f"texts-{n}.txt", n)
    cached(data / f"vectors-{n}.npy", lambda: synth_vectors(n, n, seed=1))
    cached(data / f"queries-{n}-{q}.npy", lambda: synth_vectors(n, q, seed=2))
    corpus = data / f"corpus-{n}" / "corpus.jsonl"
    if not corpus.exists():
        corpus.parent.mkdir(exist_ok=True)
        with corpus.open("w") as fh:
            for i, t in enumerate(texts.read_text().splitlines()):
                fh.write(json.dumps({"_id": f"p{i}", "title": "", "text": t}) + "\n")
    return corpus


def _env(args, backend: str, cache: str) -> dict:
    env = {**os.environ, "QA_ANNOTATE": "0", "QA_MULTILINGUAL": "0", "QA_TOKEN_STATES": "0",
           "QA_CACHE_DIR": str(args.data / cache), "QA_MILVUS_COLLECTION": "bench"}
    env.pop("QA_MILVUS_URI", None)
    if backend == "milvus":
        env["QA_MILVUS_URI"] = str(args.data / "lite" / "bench.db")
    return env


def _run_phase(args, spec: dict, env: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--phase", json.dumps(spec), "--data", str(args.data),
                           "--n", str(args.n), "--queries", str(args.queries), "--ray-texts", str(args.ray_texts)],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"phase {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _lite_rss_mb() -> float:
    """Resident memory of this process's Milvus Lite server (its child process), MB."""
    from milvus_lite.server_manager import server_manager_instance

    total = 0.0
    for server in server_manager_instance._servers.values():
        status = Path(f"/proc/{server._p.pid}/status").read_text()
        total += int(status.split("VmRSS:")[1].split()[0]) / 1024
    return total


def phase(spec: dict, args) -> dict:
    """One phase, in this (fresh) process."""
    from qa.index import backend as backends
    from qa.search.engine import Engine

    if spec["phase"] == "ray":
        return ray_phase(args)

    enc = LookupEncoder(args.data, args.n, args.queries)
    root = args.data / "files"
    if spec["phase"] == "build":
        t = time.perf_counter()
        report = backends.build_index([Path(spec["corpus"])], root, full=True, encoder=enc,
                                      multilingual_vectors=False, warn=lambda m: None)
        out = {"build_s": time.perf_counter() - t, "passages": report.passages, "peak_rss_mb": peak_rss_gb() * 1024}
        if spec["backend"] == "milvus":
            out["lite_rss_mb"] = _lite_rss_mb()
        return out
    t = time.perf_counter()
    engine = Engine(root, encoder_loader=lambda: enc)
    open_s = time.perf_counter() - t
    queries = bm25_queries(args.queries)
    qvecs = np.load(args.data / f"queries-{args.n}-{args.queries}.npy")
    vectors = np.load(args.data / f"vectors-{args.n}.npy", mmap_mode="r")
    for qtext in queries[:5]:  # warm-up
        engine.search(qtext, k=10)
        engine.ask(qtext)
    search_ms, ask_ms = [], []
    for qtext in queries:
        t = time.perf_counter()
        engine.search(qtext, k=10)
        search_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine.ask(qtext)
        ask_ms.append((time.perf_counter() - t) * 1000)
    index = engine.index
    passages = index.passages(list(range(min(index.size, 1))))
    assert passages, "no passages"
    found = []
    exact = _exact_top10(vectors, qvecs[:50])
    for qv, truth in zip(qvecs[:50], exact):
        got = [r for r, _ in index.dense(qv, 10)]
        found.append(len(set(got) & set(truth)) / 10)
    out = {"open_s": open_s, "search_p50": median(search_ms), "search_p99": pct(search_ms, 99),
           "ask_p50": median(ask_ms), "ask_p99": pct(ask_ms, 99), "recall10": float(np.mean(found)),
           "peak_rss_mb": peak_rss_gb() * 1024}
    if spec["backend"] == "milvus":
        out["lite_rss_mb"] = _lite_rss_mb()
    return out


def _exact_top10(vectors: np.ndarray, queries: np.ndarray) -> list[list[int]]:
    """Exact top-10 rows by inner product (rows = build order: one passage an article)."""
    scores = np.concatenate([np.asarray(vectors[s : s + 50_000]) @ queries.T
                             for s in range(0, len(vectors), 50_000)])
    return [list(np.argsort(-scores[:, j], kind="stable")[:10]) for j in range(len(queries))]


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024**2 if path.exists() else 0.0


def ray_phase(args) -> dict:
    """The real encoder on the same texts: this process vs the Ray pipeline (local runtime)."""
    from embeddings.model import load_encoder
    from qa.index.ray_build import precompute

    texts = (args.data / f"texts-{args.n}.txt").read_text().splitlines()[: args.ray_texts]
    enc = load_encoder()
    enc.encode(texts[:8])
    t = time.perf_counter()
    enc.encode(texts)
    single_s = time.perf_counter() - t
    cache = args.data / "ray-cache"
    shutil.rmtree(cache, ignore_errors=True)
    import ray

    t = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=256 * 1024**2)
    start_s = time.perf_counter() - t
    t = time.perf_counter()
    precompute("", texts, (cache / "main.sqlite", None), False, [], None)  # on the runtime just started
    ray_s = time.perf_counter() - t
    ray.shutdown()
    return {"texts": len(texts), "single_s": single_s, "ray_s": ray_s, "start_s": start_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ray-texts", type=int, default=600)
    ap.add_argument("--data", type=Path, default=Path("/tmp/qa-bench-backends"))
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(json.loads(args.phase), args)))
        return
    corpus = prepare(args.data, args.n, args.queries)
    results = {}
    for backend in ("files", "milvus"):
        shutil.rmtree(args.data / "files", ignore_errors=True)
        shutil.rmtree(args.data / "lite", ignore_errors=True)
        (args.data / "lite").mkdir()
        shutil.rmtree(args.data / f"cache-{backend}", ignore_errors=True)
        env = _env(args, backend, f"cache-{backend}")
        build = _run_phase(args, {"phase": "build", "backend": backend, "corpus": str(corpus)}, env)
        disk = _du_mb(args.data / "files") if backend == "files" else _du_mb(args.data / "lite")
        query = _run_phase(args, {"phase": "query", "backend": backend}, env)
        results[backend] = {**build, **{f"q_{k}": v for k, v in query.items()}, "disk_mb": disk}
        print(backend, json.dumps(results[backend]), file=sys.stderr)
    rows = []
    for backend, r in results.items():
        b = f"{args.n:,} passages, {backend}"
        rows += [row(b, "build (no embedding)", r["build_s"], "s", note=f"{r['passages']:,} passages"),
                 row(b, "build rate", r["passages"] / r["build_s"], "passages/s"),
                 row(b, "open (cold Engine)", r["q_open_s"], "s"),
                 row(b, "qa search p50 / p99", f"{r['q_search_p50']:.0f} / {r['q_search_p99']:.0f}", "ms"),
                 row(b, "qa ask p50 / p99", f"{r['q_ask_p50']:.0f} / {r['q_ask_p99']:.0f}", "ms"),
                 row(b, "dense recall@10 vs exact", r["q_recall10"]),
                 row(b, "disk", r["disk_mb"], "MB"),
                 row(b, "memory, query process (peak RSS)", r["q_peak_rss_mb"], "MB",
                     note=f"+ Milvus Lite server {r['q_lite_rss_mb']:.0f} MB" if "q_lite_rss_mb" in r else "")]
    if not args.skip_ray:
        r = _run_phase(args, {"phase": "ray"}, {**os.environ, "QA_RAY_CPUS": str(os.cpu_count() or 1)})
        rows += [row("embedding (real model)", "single process", r["texts"] / r["single_s"], "texts/s",
                     note=f"{r['texts']} texts, ONNX, {os.cpu_count()} threads"),
                 row("embedding (real model)", "Ray, local runtime", r["texts"] / r["ray_s"], "texts/s",
                     note=f"{os.cpu_count()} actors of 1 thread, results into the cache; + {r['start_s']:.0f} s "
                          "to start Ray")]
    m = machine()
    print(f"\n## Backends: files vs Milvus Lite, {args.n:,} passages; Ray vs one process\n\n{m['date']} · {m['cpu']} · "
          f"{m['cores']} cores · load {m['load']} (at the end)\n")
    print(table(rows, with_bench=True))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
