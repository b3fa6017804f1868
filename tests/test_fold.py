"""Results and citations never repeat a sentence, and every cited sentence is in its source."""

from __future__ import annotations

import pytest

from qa.index.build import build_index
from qa.index.chunking import chunk_document, normalize_ws
from qa.index.passages import PassageRow, fold_overlaps
from qa.ingest.corpus import Document
from qa.search.engine import Engine

ORIGINAL = ("Lavrov met Kono in Moscow on Monday.  The talks lasted four hours.\n"
            "Kono said a deal could not be reached overnight. He called for patience.\n\n"
            "Putin is expected in Japan in June. The visit closes the cross year.\n"
            "Both sides   plan more consultations. Officials declined to give dates.")


def _rows(doc_id: str = "a") -> list[PassageRow]:
    doc = Document(doc_id, "Talks", ORIGINAL, [[(0, len(ORIGINAL))]], source="Outlet", date="2019-01-14")
    return [PassageRow(i, p.chunk_id, p.doc_id, p.text, p.start, p.end,
                       [(s, e, normalize_ws(ORIGINAL[s:e])) for s, e in p.sentences], doc.title, doc.source,
                       doc.date, 2019, "a.txt", "en")
            for i, p in enumerate(chunk_document(doc, target=90))]


def test_overlapping_passages_fold_into_one_result_in_reading_order():
    rows = _rows()
    assert len(rows) >= 6 and rows[0].end > rows[1].start  # consecutive passages share a sentence
    # rows[1] shares a sentence with rows[2] (ranked first): one result, with the best part's rank and row
    (merged, first), (alone, second) = fold_overlaps([rows[2], rows[1], rows[5]])
    assert (first, second) == (0, 2) and merged.row == rows[2].row and alone is rows[5]
    assert merged.chunk_id == f"{rows[1].chunk_id}+{rows[2].chunk_id}"
    assert (merged.start, merged.end) == (rows[1].start, rows[2].end)
    assert merged.text == normalize_ws(ORIGINAL[merged.start:merged.end])
    assert [s[0] for s in merged.sentences] == sorted({s[0] for s in rows[1].sentences + rows[2].sentences})
    assert fold_overlaps([rows[0], rows[2]]) == [(rows[0], 0), (rows[2], 1)]  # no shared sentence


def test_a_passage_that_overlaps_a_full_result_keeps_only_its_new_sentences():
    rows = _rows()
    other = _rows("b")[2]  # same offsets, another article: never folded
    folded = fold_overlaps([rows[1], rows[0], rows[2], other, rows[3]])
    # a result holds at most two passages: rows[2] overlaps the full one and keeps its new sentence,
    # which rows[3] then joins
    assert [(p.chunk_id, f) for p, f in folded] == [(f"{rows[0].chunk_id}+{rows[1].chunk_id}", 0),
                                                    (f"{rows[2].chunk_id}+{rows[3].chunk_id}", 2),
                                                    (other.chunk_id, 3)]
    trimmed = folded[1][0]
    assert (trimmed.start, trimmed.end) == (rows[2].sentences[-1][0], rows[3].end)
    assert trimmed.text == normalize_ws(ORIGINAL[trimmed.start:trimmed.end])
    starts = [s[0] for p, _ in folded if p.doc_id == "a" for s in p.sentences]
    assert len(starts) == len(set(starts))  # no sentence twice
    assert fold_overlaps([rows[1], rows[0], rows[1]]) == folded[:1]  # nothing new left: dropped


def test_a_passage_whose_text_is_not_its_sentences_is_left_as_it_is():
    rows = _rows()
    odd = PassageRow(**{**rows[1].__dict__, "text": rows[1].text + " [caption]"})
    assert [p for p, _ in fold_overlaps([rows[0], odd])] == [rows[0], odd]


@pytest.fixture
def seeds_engine(tmp_path, seeds_copy, token_encoder, cache_dir) -> Engine:
    build_index([seeds_copy], tmp_path / "idx")
    return Engine(tmp_path / "idx")


def test_search_results_share_no_sentence(seeds_engine, seeds_copy):
    engine = seeds_engine
    folded_any = False
    for question in ["What did Kono say about Putin's visit in June?", "Which islands are disputed?",
                     "What did Lavrov say about the 1956 declaration?"]:
        hits = engine.search(question, k=10)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1)) and len(hits) == 10
        for i, a in enumerate(hits):
            original = (seeds_copy / f"{a.doc_id}.txt").read_text(encoding="utf-8")
            assert a.text == normalize_ws(original[a.start:a.end])
            folded_any |= "+" in a.chunk_id
            for b in hits[i + 1:]:
                assert not (a.doc_id == b.doc_id and a.start < b.end and b.start < a.end)
    assert folded_any


def test_cited_passages_that_overlap_are_one_source():
    from qa.answer import Picked, compose

    rows = _rows()

    def pick(row: PassageRow, i: int, score: float) -> Picked:
        return Picked(row.sentences[i][2], row, 1.0, score)

    # rows 1, 2, 3 form a chain (1 and 3 share nothing, 2 overlaps both); rows[2] is cited twice
    picked = [pick(rows[2], 1, 0.9), pick(rows[5], 1, 0.8), pick(rows[3], 1, 0.7), pick(rows[1], 0, 0.6),
              pick(rows[2], 0, 0.5)]
    a = compose("q", picked, recent=False)
    assert [m for m in a.answer.split() if m.startswith("[")] == ["[1]", "[2]", "[1]", "[1]", "[1]"]
    assert [(c.n, c.chunk_id) for c in a.citations] == [
        (1, f"{rows[1].chunk_id}+{rows[2].chunk_id}+{rows[3].chunk_id}"), (2, rows[5].chunk_id)]
    first = a.citations[0]
    assert (first.start, first.end) == (rows[1].start, rows[3].end) and first.score == 0.9
    assert first.text == normalize_ws(ORIGINAL[first.start:first.end])


def test_the_same_passage_twice_is_one_result():
    rows = _rows()
    assert fold_overlaps([rows[2], rows[2], rows[4]]) == [(rows[2], 0), (rows[4], 2)]


@pytest.mark.parametrize("mode", ["rerank", "hybrid", "dense", "bm25"])
def test_k_results_whatever_k_and_the_top_does_not_depend_on_k(seeds_engine, mode):
    engine = seeds_engine
    question = "What did Lavrov say about the peace treaty talks with Kono?"
    many = engine.search(question, k=45, mode=mode)
    assert len(many) == 45 and [h.rank for h in many] == list(range(1, 46))
    few = engine.search(question, k=5, mode=mode)
    assert [(h.chunk_id, h.start, h.end) for h in few] == [(h.chunk_id, h.start, h.end) for h in many[:5]]


def test_only_the_best_ranked_passages_fold_later_ones_are_trimmed():
    rows = _rows()
    (a, _), (b, _), (c, third) = fold_overlaps([rows[0], rows[4], rows[1]], window=2)
    assert (a, b) == (rows[0], rows[4]) and third == 2
    assert c.chunk_id == rows[1].chunk_id and (c.start, c.end) == (rows[1].sentences[1][0], rows[1].end)


@pytest.mark.parametrize("question", [
    "What did Lavrov say about the peace treaty?", "What did Lavrov say?", "What did Kono say?",
    "What did Kistanov say?", "Which islands are disputed?", "What is the latest on the peace treaty talks?",
    "What did Abe say about the islands?", "When will Putin visit Japan?"])
def test_every_answer_sentence_is_in_the_source_it_cites(seeds_engine, question):
    import re

    a = seeds_engine.ask(question)
    texts = {c.n: c.text for c in a.citations}
    parts = re.split(r"\s*\[(\d+)\]", a.answer)
    assert a.abstained or len(parts) > 2
    for cited, n in zip(parts[0::2], parts[1::2]):
        cited = cited.rsplit("\n", 1)[-1].strip()
        cited = re.sub(r"^(?:Most recent source first\. |Newest first by .*?\. )?(?:- )?(?:\([^()]*\) )?", "", cited)
        assert cited in texts[int(n)], (n, cited)
