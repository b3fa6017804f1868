"""``qa eval --beir DIR``: retrieval quality on a BEIR dataset (nDCG@10, Recall@100, MRR@10).

The dataset's ``corpus.jsonl`` is indexed with the product's own indexer (each
BEIR document is one passage), into ``--index-dir`` or a per-dataset folder
under the cache directory; a re-run re-encodes nothing. Every configuration in
:data:`CONFIGS` retrieves the top 100 passages per test query through
``Engine.search_many``; passages map to documents by their best passage, and
pytrec_eval computes the figures over every query that has judgments.

With ``--limit N`` (a smoke test) only the first N judged queries are run,
against a reduced corpus (their judged documents plus the first
:data:`SMOKE_EXTRA_DOCS` others) indexed into a temporary folder.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa import progress as bars
from qa.errors import model_errors
from qa.types import Hit

DEPTH = 100  # passages retrieved per query (Recall@100 needs 100)
BATCH = 64  # queries per search_many call
SMOKE_EXTRA_DOCS = 200

# (row label, Engine.search_many mode). A mode the engine lacks is skipped with a note.
CONFIGS: list[tuple[str, str]] = [
    ("BM25", "bm25"),
    ("dense ({model})", "dense"),
    ("hybrid (RRF)", "hybrid"),
    ("hybrid + rerank", "rerank"),
]

# Published nDCG@10 on BEIR SciFact (test), from shared/bench/README.md.
PUBLISHED: dict[str, list[tuple[str, float, str]]] = {
    "scifact": [
        ("BM25, title+text one field (Anserini flat)", 0.679, "Anserini regressions, beir-v1.0.0-scifact.flat"),
        ("BM25 (BEIR paper)", 0.665, "Thakur et al. 2021, Table 2"),
        ("BM25 + cross-encoder rerank of top 100", 0.688, "Thakur et al. 2021, Table 2"),
        ("all-MiniLM-L6-v2, exact cosine", 0.645, "MTEB, SciFact"),
        ("bge-small-en-v1.5", 0.713, "MTEB, SciFact"),
    ],
}

METRICS = ("ndcg@10", "recall@100", "mrr@10")

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


@dataclass
class Row:
    """Figures for one configuration."""

    system: str
    mode: str
    ndcg_10: float
    recall_100: float
    mrr_10: float
    seconds: float
    max_passages: int = DEPTH  # most passages any query got back (a rerank pool may be shallower)


# ------------------------------------------------------------------ reading


def _user_error(msg: str) -> Exception:
    from qa.errors import UserError

    return UserError(msg)


def load_queries(path: Path) -> dict[str, str]:
    """``{query_id: text}`` from a BEIR ``queries.jsonl``, in file order."""
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise _user_error(f"cannot read {path}: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out[str(row["_id"])] = str(row["text"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _user_error(f"{path}:{n}: not a BEIR query line ({exc})") from exc
    return out


def load_qrels(path: Path) -> Qrels:
    """``{query_id: {doc_id: relevance}}`` from a BEIR qrels TSV.

    The ``query-id corpus-id score`` header (or any line whose score is not an
    integer) is skipped; TREC-style four-column lines (``qid 0 docid rel``) are
    accepted too.
    """
    qrels: Qrels = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise _user_error(f"cannot read {path}: {exc.strerror or exc}") from exc
    for line in lines:
        parts = line.split()
        if len(parts) == 4:
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            continue
        qid, did, rel = parts
        try:
            qrels.setdefault(qid, {})[did] = int(rel)
        except ValueError:
            continue  # header
    return qrels


def judged_queries(queries: dict[str, str], qrels: Qrels, limit: int = 0) -> dict[str, str]:
    """The queries that have judgments, in file order; the first ``limit`` if given."""
    out = {qid: text for qid, text in queries.items() if qid in qrels}
    if limit > 0:
        out = dict(list(out.items())[:limit])
    return out


def write_subset_corpus(corpus: Path, keep: set[str], extra: int, dest: Path) -> int:
    """Copy to ``dest`` the lines of ``corpus`` whose ``_id`` is in ``keep`` plus the
    first ``extra`` other documents; lines are copied unchanged (so cached embeddings
    still match). Returns the number of documents written."""
    n = 0
    others = 0
    with corpus.open(encoding="utf-8") as src, dest.open("w", encoding="utf-8") as out:
        for line in src:
            if not line.strip():
                continue
            try:
                did = str(json.loads(line)["_id"])
            except (ValueError, KeyError, TypeError):
                continue
            if did in keep:
                pass
            elif others < extra:
                others += 1
            else:
                continue
            out.write(line if line.endswith("\n") else line + "\n")
            n += 1
    return n


# ------------------------------------------------------------------ runs and metrics


def doc_ranking(hits: Iterable[Hit]) -> list[str]:
    """Document ids in rank order, each at the rank of its best (first) passage."""
    seen: dict[str, None] = {}
    for h in sorted(hits, key=lambda h: h.rank):
        seen.setdefault(h.doc_id, None)
    return list(seen)


def ranking_to_scores(ranking: Sequence[str]) -> dict[str, float]:
    """Strictly decreasing scores (1/rank) that keep ``ranking``'s order under any
    evaluator's sort (trec_eval breaks score ties by document id)."""
    return {did: 1.0 / (i + 1) for i, did in enumerate(ranking)}


def hits_to_run(results: dict[str, list[Hit]]) -> Run:
    """A run ``{query_id: {doc_id: score}}`` from each query's passage hits."""
    return {qid: ranking_to_scores(doc_ranking(hits)) for qid, hits in results.items()}


def truncate_run(run: Run, k: int) -> Run:
    """Each query's top ``k`` documents."""
    return {qid: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:k]) for qid, docs in run.items()}


def evaluate_run(qrels: Qrels, run: Run) -> dict[str, float]:
    """Mean nDCG@10, Recall@100 and MRR@10 over every query in ``qrels``
    (a query missing from the run, or with no results, counts as 0)."""
    import pytrec_eval

    qrels = {q: docs for q, docs in qrels.items() if docs}
    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(
        {q: d for q, d in truncate_run(run, 100).items() if d and q in qrels})
    top10 = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(
        {q: d for q, d in truncate_run(run, 10).items() if d and q in qrels})
    n = max(len(qrels), 1)
    return {
        "ndcg@10": sum(full.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels) / n,
        "recall@100": sum(full.get(q, {}).get("recall_100", 0.0) for q in qrels) / n,
        "mrr@10": sum(top10.get(q, {}).get("recip_rank", 0.0) for q in qrels) / n,
    }


def retrieve(engine, queries: dict[str, str], mode: str, k: int = DEPTH,
             batch: int = BATCH, progress: bool = False, label: str = "queries") -> dict[str, list[Hit]]:
    """Top ``k`` passages per query with ``engine.search_many`` (``progress``: a bar named ``label``
    of the queries run)."""
    ids = list(queries)
    out: dict[str, list[Hit]] = {}
    with bars.bar(label, len(ids), "query", progress) as bar:
        for start in range(0, len(ids), batch):
            part = ids[start : start + batch]
            for qid, hits in zip(part, engine.search_many([queries[q] for q in part], k=k, mode=mode)):
                out[qid] = hits
            bar.update(len(part))
    return out


def mode_available(mode: str) -> str | None:
    """``None`` if the engine supports ``mode``, else why not."""
    from qa.search.retrieve import Mode

    if mode not in {m.value for m in Mode}:
        return f"the engine has no {mode} mode"
    return None


# ------------------------------------------------------------------ output


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def table_rows(rows: list[Row], published: list[tuple[str, float, str]], ours: str) -> list[list[str]]:
    """Header and body of the comparison table, as strings."""
    body = [["system", "nDCG@10", "Recall@100", "MRR@10", "source"]]
    body += [[r.system, _fmt(r.ndcg_10), _fmt(r.recall_100) + ("*" if r.max_passages < DEPTH else ""),
              _fmt(r.mrr_10), ours] for r in rows]
    body += [[name, _fmt(v), "-", "-", f"published: {src}"] for name, v, src in published]
    return body


def plain_table(body: list[list[str]]) -> str:
    """Aligned plain text (numbers right-aligned)."""
    widths = [max(len(r[i]) for r in body) for i in range(len(body[0]))]
    lines = []
    for n, r in enumerate(body):
        cells = [c.ljust(w) if i in (0, len(r) - 1) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(body: list[list[str]]) -> str:
    """The same table in Markdown (for docs/evaluation.md)."""
    head, rest = body[0], body[1:]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---", "---:", "---:", "---:", "---"]) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rest]
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def default_index_root(folder: Path) -> Path:
    """Per-dataset index folder under the cache directory."""
    from embeddings.model import cache_dir

    return cache_dir() / "beir" / folder.resolve().name


def _index(corpus: Path, root: Path, say, progress: bool = False) -> tuple[int, float]:
    from qa.index.build import build_index

    # BEIR's queries are English: the multilingual vectors would cost minutes and serve nothing.
    report = build_index([corpus], root, progress=progress, warn=lambda m: say(f"warning: {m}"),
                         multilingual_vectors=False)
    if report.up_to_date:
        say(f"index at {root} is up to date: {report.documents:,} documents ({report.seconds:.1f} s)")
    else:
        say(f"indexed {report.documents:,} documents ({report.passages:,} passages) into {root} in "
            f"{report.seconds:.1f} s: {report.embedded:,} passages embedded, {report.reused:,} reused")
    return report.documents, report.seconds


def evaluate_configs(engine, queries: dict[str, str], qrels: Qrels, model: str,
                     say, progress: bool = False) -> tuple[list[Row], list[dict]]:
    """Figures for every configuration in :data:`CONFIGS`; skipped ones with a reason (``progress``:
    a bar of each configuration's queries)."""
    rows: list[Row] = []
    skipped: list[dict] = []
    for label, mode in CONFIGS:
        label = label.format(model=model)
        why = mode_available(mode)
        results: dict[str, list[Hit]] = {}
        t0 = time.perf_counter()
        if why is None:
            try:
                results = retrieve(engine, queries, mode, progress=progress, label=f"queries, {label}")
            except (ValueError, KeyError, TypeError, NotImplementedError) as exc:
                why = f"mode {mode!r} failed: {exc}"
            else:
                if queries and not any(results.values()):
                    why = f"mode {mode!r} returned no results"
        if why is not None:
            say(f"skipped {label}: {why}")
            skipped.append({"system": label, "mode": mode, "reason": why})
            continue
        seconds = time.perf_counter() - t0
        m = evaluate_run(qrels, hits_to_run(results))
        depth = max((len(h) for h in results.values()), default=0)
        rows.append(Row(label, mode, m["ndcg@10"], m["recall@100"], m["mrr@10"], seconds, depth))
        say(f"{label}: nDCG@10 {m['ndcg@10']:.3f} ({seconds:.1f} s)")
    return rows, skipped


def run(folder: Path, index_dir: Path | None, limit: int = 0, as_json: bool = False) -> int:
    """``qa eval --beir DIR [--limit N] [--json]``: print the comparison table."""
    from embeddings.model import model_dir, model_name
    from qa.search.engine import Engine

    def say(msg: str) -> None:
        bars.write(msg, file=sys.stderr)

    t_start = time.perf_counter()
    folder = Path(folder)
    corpus = folder / "corpus.jsonl"
    qrels_file = folder / "qrels" / "test.tsv"
    for p in (corpus, folder / "queries.jsonl", qrels_file):
        if not p.is_file():
            raise _user_error(f"{folder} is not a BEIR dataset folder: {p} is missing")
    all_qrels = load_qrels(qrels_file)
    queries = judged_queries(load_queries(folder / "queries.jsonl"), all_qrels, limit)
    if not queries:
        raise _user_error(f"no query in {folder / 'queries.jsonl'} has judgments in {qrels_file}")
    qrels = {q: all_qrels[q] for q in queries}
    name = folder.resolve().name
    with model_errors():
        model = Path(model_name(model_dir())).name

    with tempfile.TemporaryDirectory(prefix="qa-beir-") as tmp:
        if limit > 0:
            # Smoke test: a reduced corpus in a throw-away index (never --index-dir).
            keep = {d for docs in qrels.values() for d in docs}
            corpus = Path(tmp) / "corpus.jsonl"
            write_subset_corpus(folder / "corpus.jsonl", keep, SMOKE_EXTRA_DOCS, corpus)
            root = Path(tmp) / "index"
        else:
            root = Path(index_dir) if index_dir else default_index_root(folder)
        documents, index_seconds = _index(corpus, root, say, progress=not as_json)
        engine = Engine(root)
        rows, skipped = evaluate_configs(engine, queries, qrels, model, say, progress=not as_json)

    published = PUBLISHED.get(name.lower(), [])
    seconds = time.perf_counter() - t_start
    if as_json:
        print(json.dumps({
            "dataset": name, "queries": len(queries), "documents": documents, "limit": limit,
            "index_dir": None if limit > 0 else str(root), "index_seconds": round(index_seconds, 1),
            "seconds": round(seconds, 1), "depth": DEPTH,
            "results": [{"system": r.system, "mode": r.mode, "ndcg@10": round(r.ndcg_10, 4),
                         "recall@100": round(r.recall_100, 4), "mrr@10": round(r.mrr_10, 4),
                         "seconds": round(r.seconds, 1), "max_passages": r.max_passages} for r in rows],
            "skipped": skipped,
            "published": [{"system": s, "ndcg@10": v, "source": src} for s, v, src in published],
        }, ensure_ascii=False))
        return 0
    body = table_rows(rows, published, "this system" + (f" (first {limit} queries)" if limit else ""))
    print(f"BEIR {name}: {len(queries)} judged queries, {documents:,} documents, top {DEPTH} passages per query; "
          f"index {index_seconds:.1f} s, total {seconds:.1f} s")
    if limit:
        print(f"(smoke test: first {limit} queries over a reduced corpus; not comparable with published figures)")
    print()
    notes = [f"* {r.system} returned at most {r.max_passages} passages per query: "
             f"its Recall@100 is recall within those" for r in rows if r.max_passages < DEPTH]
    print(plain_table(body))
    for line in notes:
        print(line)
    for s in skipped:
        print(f"skipped {s['system']}: {s['reason']}")
    print()
    print(markdown_table(body))
    if notes:
        print()
        for line in notes:
            print(line)
    return 0

