"""The index folder: round trip, incremental refresh, integrity errors, lock."""

import json

import pytest

from qa.index.build import build_index
from qa.index.store import IndexLock, IndexUnusable, LockedError, current_version_name
from qa.search.engine import Engine


def test_round_trip_and_incremental(tmp_path, seeds_copy, hash_encoder, cache_dir, monkeypatch):
    root = tmp_path / "idx"
    r1 = build_index([seeds_copy], root)
    assert r1.documents == 5 and r1.passages > 50 and r1.embedded == r1.passages
    engine = Engine(root)
    hits = engine.search("Habomai", k=5)
    assert hits and "Habomai" in hits[0].text
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))

    # Nothing changed: no embedding at all, same version.
    calls = hash_encoder.calls
    r2 = build_index([seeds_copy], root)
    assert r2.up_to_date and hash_encoder.calls == calls and r2.version == r1.version

    # A newer chunker re-chunks every document, embedding only passage texts it has not seen.
    import qa.index.build

    with monkeypatch.context() as m:
        m.setattr(qa.index.build, "PIPELINE_VERSION", qa.index.build.PIPELINE_VERSION + 1)
        r2b = build_index([seeds_copy], root)
    assert not r2b.up_to_date and r2b.embedded == 0 and r2b.reused == r1.passages
    assert not build_index([seeds_copy], root).up_to_date  # back to the current version: re-chunked again

    # One new article: only its passages are embedded.
    (seeds_copy / "new.txt").write_text("Fresh talks\nThe Aegis Ashore plan was cancelled in June. "
                                        "Officials confirmed it.\n", encoding="utf-8")
    r3 = build_index([seeds_copy], root)
    assert r3.added == ["new"] and r3.embedded == 1 and r3.reused == r1.passages

    # A removed article disappears from results.
    (seeds_copy / "003_34d75c00faaeadbe.txt").unlink()
    r4 = build_index([seeds_copy], root)
    assert r4.removed == ["003_34d75c00faaeadbe"] and r4.embedded == 0
    assert engine.reload_if_changed()
    assert all(h.doc_id != "003_34d75c00faaeadbe" for h in engine.search("Malokurilskoye", k=10))


def test_bad_files_are_skipped_with_a_warning(tmp_path, hash_encoder, cache_dir):
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.txt").write_text("Title line\nA real sentence about Kunashir. Another one.\n")
    (src / "empty.txt").write_bytes(b"")
    (src / "binary.txt").write_bytes(bytes(range(256)) * 50)
    (src / "copy.txt").write_text("Title line\nA real sentence about Kunashir. Another one.\n")
    (src / "cp1251.txt").write_bytes("Заголовок\nМирный договор обсуждается. Это важно.\n".encode("cp1251"))
    warnings = []
    r = build_index([src], tmp_path / "idx", warn=warnings.append)
    assert r.documents == 2
    assert len(warnings) == 3
    assert any("empty.txt" in w for w in warnings) and any("binary.txt" in w for w in warnings)
    assert any("copy.txt" in w and "same content" in w for w in warnings)


def test_beir_jsonl_corpus(tmp_path, hash_encoder, cache_dir):
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": "d1", "title": "Zinc", "text": "Zinc supplements reduce colds."},
            {"_id": "d2", "title": "Iron", "text": "Iron deficiency causes anaemia."}]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    build_index([corpus], tmp_path / "idx")
    hits = Engine(tmp_path / "idx").search("anaemia iron", k=2)
    assert hits[0].doc_id == "d2" and hits[0].chunk_id == "d2#0" and hits[0].title == "Iron"


def test_corrupt_and_incompatible_index_are_refused(tmp_path, seeds_copy, hash_encoder, cache_dir):
    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    version = root / current_version_name(root)
    manifest = json.loads((version / "manifest.json").read_text())

    manifest["model"]["fingerprint"] = "other-model"
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexUnusable, match="qa index --full"):
        Engine(root)

    manifest["model"]["fingerprint"] = json.loads((version / "manifest.json").read_text())["model"]["fingerprint"]
    manifest["format_version"] = 999
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexUnusable, match="format 999"):
        Engine(root)

    (version / "manifest.json").write_text("{not json")
    with pytest.raises(IndexUnusable, match="corrupt"):
        Engine(root)


def test_truncated_vectors_are_refused(tmp_path, seeds_copy, hash_encoder, cache_dir):
    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    vec = root / current_version_name(root) / "vectors.faiss"
    vec.write_bytes(vec.read_bytes()[:100])
    with pytest.raises(IndexUnusable, match="qa index --full"):
        Engine(root)
    # A plain `qa index` notices (sizes recorded in the manifest) and rebuilds, from the cache.
    warnings = []
    calls = hash_encoder.calls
    r = build_index([seeds_copy], root, warn=warnings.append)
    assert not r.up_to_date and hash_encoder.calls == calls
    assert warnings and "vectors.faiss" in warnings[0]
    assert Engine(root).search("Kuril", k=1)
    assert build_index([seeds_copy], root).up_to_date
    # So does a full rebuild.
    vec = root / current_version_name(root) / "bm25" / "data.csc.index.npy"
    vec.write_bytes(b"")
    build_index([seeds_copy], root, full=True)
    assert Engine(root).search("Kuril", k=1)


def test_second_indexer_is_refused_while_one_holds_the_lock(tmp_path, seeds_copy, hash_encoder, cache_dir):
    root = tmp_path / "idx"
    with IndexLock(root), pytest.raises(LockedError, match="another `qa index`"):
        build_index([seeds_copy], root)
