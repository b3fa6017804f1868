"""Index-time annotations: entities and speakers stored, reused, optional; never on the query path."""

from __future__ import annotations

import subprocess
import sys

from qa.index import annotate
from qa.index.build import build_index
from qa.search.engine import Engine
from tests.conftest import ROOT


def test_entities_and_speakers_are_stored_and_read(tmp_path, seeds_copy, hash_encoder, cache_dir):
    build_index([seeds_copy], tmp_path / "idx")
    index = Engine(tmp_path / "idx").index
    assert index.annotated
    rows = index.rows_mentioning("Munich")
    passages = index.passages(rows)
    sentences = [t for p in passages.values() for _, _, t in p.sentences if "Munich" in t]
    ents = index.entities(sentences)
    assert any(text[a:b] == "Munich" and label == "GPE" for text in sentences for a, b, label in ents.get(text, []))
    spoken = index.rows_spoken_by("Kono")
    said = index.speakers(spoken)
    assert spoken and any("Taro Kono" in names for row in spoken for names in said[row])


def test_a_rebuild_parses_only_new_documents(tmp_path, seeds_copy, hash_encoder, cache_dir, monkeypatch):
    build_index([seeds_copy], tmp_path / "idx")
    (seeds_copy / "extra.txt").write_text("Extra news\n\nThe foreign minister of Japan said on Monday that the talks "
                                          "with Russia would resume in Tokyo next month. He added that both sides "
                                          "wanted progress.\n")
    parsed = []
    real = annotate.analyse
    monkeypatch.setattr(annotate, "_memo", {})
    monkeypatch.setattr(annotate, "analyse", lambda sentences: parsed.append(sentences) or real(sentences))
    build_index([seeds_copy], tmp_path / "idx")
    assert len(parsed) == 1 and "Tokyo" in " ".join(parsed[0])


def test_annotation_can_be_turned_off(tmp_path, seeds_copy, hash_encoder, cache_dir, monkeypatch):
    monkeypatch.setenv("QA_ANNOTATE", "0")
    build_index([seeds_copy], tmp_path / "idx")
    engine = Engine(tmp_path / "idx")
    assert not engine.index.annotated and engine.index.speakers([0]) == {}
    answer = engine.ask("What did Kono say?")  # the rules of qa/text/attribution.py stand in
    assert not answer.abstained and "Kono" in answer.answer


def test_the_query_path_never_imports_spacy():
    code = "import sys, qa.search.engine, qa.cli.main, qa.answer; print('spacy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
