"""``qa eval --beir``: parsing, passage-to-document runs and metrics (no model), plus a slow smoke run."""

import json
import math
import re
from pathlib import Path

import pytest

from qa.eval import beir
from qa.types import Hit

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "bench" / "scifact"


def _hit(rank: int, chunk: str) -> Hit:
    doc = chunk.split("#")[0]
    return Hit(rank=rank, doc_id=doc, chunk_id=chunk, score=1.0 / rank, text="", title="", source=None,
               date=None, path=None, start=0, end=0)


# ------------------------------------------------------------------ parsing


def test_load_qrels_skips_header_and_reads_all_judgments(tmp_path):
    f = tmp_path / "test.tsv"
    f.write_text("query-id\tcorpus-id\tscore\n1\t31715818\t1\n3\t14717500\t1\n3\t13519661\t1\n\n"
                 "7 0 555 2\n", encoding="utf-8")
    assert beir.load_qrels(f) == {"1": {"31715818": 1}, "3": {"14717500": 1, "13519661": 1}, "7": {"555": 2}}


def test_load_queries_and_judged_queries_keep_file_order(tmp_path):
    f = tmp_path / "queries.jsonl"
    rows = [{"_id": "5", "text": "c"}, {"_id": "1", "text": "a", "metadata": {}}, {"_id": 9, "text": "b"}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    queries = beir.load_queries(f)
    assert queries == {"5": "c", "1": "a", "9": "b"}
    assert list(queries) == ["5", "1", "9"]
    qrels = {"1": {"d": 1}, "9": {"e": 1}, "404": {"f": 1}}
    assert beir.judged_queries(queries, qrels) == {"1": "a", "9": "b"}
    assert beir.judged_queries(queries, qrels, limit=1) == {"1": "a"}


def test_load_queries_reports_a_bad_line(tmp_path):
    from qa.errors import UserError

    f = tmp_path / "queries.jsonl"
    f.write_text('{"_id": "1", "text": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(UserError, match=":2:"):
        beir.load_queries(f)


def test_write_subset_corpus_keeps_judged_docs_plus_first_others(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"_id": f"d{i}", "title": f"t{i}", "text": f"x{i}"}) for i in range(10)]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dest = tmp_path / "sub.jsonl"
    n = beir.write_subset_corpus(corpus, {"d8", "d1"}, 2, dest)
    out = dest.read_text(encoding="utf-8").splitlines()
    assert n == 4
    assert [json.loads(x)["_id"] for x in out] == ["d0", "d1", "d2", "d8"]
    assert out[3] == lines[8]  # copied byte for byte, so cached embeddings still apply


# ------------------------------------------------------------------ passages to documents


def test_doc_ranking_best_passage_wins_and_dedupes():
    hits = [_hit(4, "C#0"), _hit(1, "A#1"), _hit(3, "A#0"), _hit(2, "B#0"), _hit(5, "B#2")]
    assert beir.doc_ranking(hits) == ["A", "B", "C"]


def test_hits_to_run_scores_keep_rank_order():
    run = beir.hits_to_run({"q": [_hit(1, "A#1"), _hit(2, "B#0"), _hit(3, "A#0"), _hit(4, "C#0")], "empty": []})
    assert run["empty"] == {}
    docs = run["q"]
    assert list(docs) == ["A", "B", "C"]
    assert docs["A"] > docs["B"] > docs["C"] > 0


def test_ties_in_raw_scores_do_not_reorder_documents():
    # trec_eval sorts ties by document id; rank-based scores keep our order ("b" before "a").
    qrels = {"q": {"a": 1}}
    run = beir.hits_to_run({"q": [_hit(1, "b#0"), _hit(2, "a#0")]})
    assert beir.evaluate_run(qrels, run)["mrr@10"] == pytest.approx(0.5)


# ------------------------------------------------------------------ metrics

# q1: relevant d1, d2 retrieved at ranks 2 and 4.
# q2: relevant d3 at rank 12 (outside the top 10), d7 at rank 101 (outside the top 100).
# q3: judged but never retrieved.
QRELS = {"q1": {"d1": 1, "d2": 1}, "q2": {"d3": 1, "d7": 1}, "q3": {"d4": 1}}


def _ranking_q2() -> list[str]:
    r = [f"n{i}" for i in range(1, 120)]
    r[11] = "d3"
    r[100] = "d7"
    return r


RANKINGS = {"q1": ["x1", "d1", "x2", "d2", "x3"], "q2": _ranking_q2()}


def _by_hand() -> dict[str, float]:
    ndcg_q1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))  # 0.6509
    return {
        "ndcg@10": (ndcg_q1 + 0 + 0) / 3,
        "recall@100": (1 + 0.5 + 0) / 3,
        "mrr@10": (1 / 2 + 0 + 0) / 3,
    }


def test_metrics_match_hand_computed_values():
    run = {q: beir.ranking_to_scores(r) for q, r in RANKINGS.items()}
    got = beir.evaluate_run(QRELS, run)
    want = _by_hand()
    assert want["ndcg@10"] == pytest.approx(0.216973, abs=1e-6)
    for m in beir.METRICS:
        assert got[m] == pytest.approx(want[m], abs=1e-9), m


def test_perfect_and_empty_runs():
    qrels = {"q": {"a": 1, "b": 1}}
    assert beir.evaluate_run(qrels, {"q": {"a": 2.0, "b": 1.0, "c": 0.5}}) == pytest.approx(
        {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0})
    assert beir.evaluate_run(qrels, {}) == {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    assert beir.evaluate_run(qrels, {"q": {}}) == {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}


@pytest.mark.slow
def test_metrics_agree_with_ranx():
    ranx = pytest.importorskip("ranx")
    rankings = dict(RANKINGS, q3=["y1", "y2"])  # ranx wants every judged query in the run
    run = {q: beir.ranking_to_scores(r) for q, r in rankings.items()}
    got = beir.evaluate_run(QRELS, run)
    theirs = ranx.evaluate(ranx.Qrels(QRELS), ranx.Run(run), ["ndcg@10", "recall@100", "mrr@10"])
    for m in beir.METRICS:
        assert got[m] == pytest.approx(float(theirs[m]), abs=1e-6), m


# ------------------------------------------------------------------ configurations and output


class FakeEngine:
    """search_many over fixed rankings; ``rerank`` unsupported, ``dense`` finds nothing."""

    def __init__(self, rankings: dict[str, list[str]]) -> None:
        self.rankings = rankings

    def search_many(self, queries, k=10, mode="rerank"):
        if mode == "rerank":
            raise ValueError("unknown mode 'rerank'")
        if mode == "dense":
            return [[] for _ in queries]
        return [[_hit(i + 1, f"{d}#0") for i, d in enumerate(self.rankings[q][:k])] for q in queries]


def test_evaluate_configs_skips_missing_modes(monkeypatch):
    monkeypatch.setattr(beir, "BATCH", 1)
    engine = FakeEngine({"q1": RANKINGS["q1"], "q2": RANKINGS["q2"], "q3": []})
    queries = {"q1": "q1", "q2": "q2", "q3": "q3"}
    rows, skipped = beir.evaluate_configs(engine, queries, QRELS, "mini", lambda m: None)
    assert [r.mode for r in rows] == ["bm25", "hybrid"]
    assert rows[0].ndcg_10 == pytest.approx(_by_hand()["ndcg@10"])
    assert rows[0].recall_100 == pytest.approx((1 + 0.5 + 0) / 3)  # d7 lies beyond the top 100 retrieved
    assert rows[0].max_passages == beir.DEPTH
    assert {s["mode"] for s in skipped} == {"dense", "rerank"}
    assert any(s["system"] == "dense (mini)" for s in skipped)


def test_a_terminal_sees_each_configuration_count_its_queries(monkeypatch, capsys):
    monkeypatch.setenv("QA_PROGRESS", "1")
    engine = FakeEngine({"q1": RANKINGS["q1"], "q2": RANKINGS["q2"], "q3": []})
    queries = {"q1": "q1", "q2": "q2", "q3": "q3"}
    beir.evaluate_configs(engine, queries, QRELS, "mini", lambda m: None, progress=True)
    err = capsys.readouterr().err
    assert re.search(r"queries, BM25: +0%\|[^|]*\| 0/3 \[", err) and "queries, hybrid (RRF):" in err
    beir.evaluate_configs(engine, queries, QRELS, "mini", lambda m: None)  # --json: progress=False
    assert capsys.readouterr().err == ""


def test_tables_line_up():
    rows = [beir.Row("BM25", "bm25", 0.6789, 0.92, 0.64, 1.0)]
    body = beir.table_rows(rows, beir.PUBLISHED["scifact"], "ours")
    plain = beir.plain_table(body).splitlines()
    assert len(plain) == 2 + 1 + 5
    ends = {line.index(v) + len(v) for line, v in [(plain[2], "0.679"), (plain[3], "0.679"), (plain[4], "0.665")]}
    assert len(ends) == 1  # numbers right-aligned in one column
    md = beir.markdown_table(body).splitlines()
    assert md[0].startswith("| system | nDCG@10 |")
    assert md[2] == "| BM25 | 0.679 | 0.920 | 0.640 | ours |"
    assert all(line.count("|") == 6 for line in md)
    assert "published" in md[-1]


def test_shallow_rows_are_flagged():
    rows = [beir.Row("hybrid + rerank", "rerank", 0.7, 0.9, 0.6, 1.0, max_passages=40)]
    body = beir.table_rows(rows, [], "ours")
    assert body[1][2] == "0.900*"


# ------------------------------------------------------------------ smoke


@pytest.mark.slow
def test_smoke_run_on_scifact(capsys, monkeypatch):
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"no BEIR SciFact at {SCIFACT}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert beir.run(SCIFACT, None, limit=5, as_json=True) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert not any(mark in captured.err for mark in ("\r", "\x1b[", "%|"))  # --json: no bar
    assert out["queries"] == 5
    assert beir.SMOKE_EXTRA_DOCS <= out["documents"] <= beir.SMOKE_EXTRA_DOCS + 20
    assert out["index_dir"] is None
    modes = [r["mode"] for r in out["results"]] + [s["mode"] for s in out["skipped"]]
    assert sorted(modes) == sorted(m for _, m in beir.CONFIGS)
    assert {r["mode"] for r in out["results"]} >= {"bm25", "dense", "hybrid"}
    for r in out["results"]:
        for m in beir.METRICS:
            assert 0.0 <= r[m] <= 1.0
        assert r["recall@100"] > 0.5
