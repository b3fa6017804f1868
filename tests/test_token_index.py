"""Token states for late interaction (MaxSim): storage, scoring, and their life in the index."""

import numpy as np
import pytest

from embeddings import token_index
from embeddings.token_index import Quantized, TokenIndex, TokenStates
from qa.index.build import build_index
from qa.index.store import IndexUnusable, open_current
from qa.search.engine import Engine
from qa.search.scorers import late_query, sentence_scores


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_int8_storage_keeps_cosines():
    rng = np.random.default_rng(0)
    states = _unit(rng.normal(size=(50, 384)).astype(np.float32))
    q = Quantized.of(TokenStates(np.arange(50, dtype=np.int32), states))
    back = q.q.astype(np.float32) * q.scale.astype(np.float32)[:, None]
    cos = (_unit(back) * states).sum(axis=1)
    assert q.q.dtype == np.int8 and cos.min() > 0.999


def test_maxsim_is_the_weighted_mean_of_each_query_tokens_best_match(tmp_path):
    rng = np.random.default_rng(1)
    passages = [_unit(rng.normal(size=(n, 16)).astype(np.float32)) for n in (5, 0, 9)]
    items = [Quantized.of(TokenStates(np.arange(len(p), dtype=np.int32) + i, p)) for i, p in enumerate(passages)]
    token_index.save(tmp_path, items, 16)
    index = TokenIndex(tmp_path)
    assert index.size == 3 and index.doc_frequency(np.array([0, 2, 4, 99])).tolist() == [1, 2, 2, 0]
    query = _unit(rng.normal(size=(4, 16)).astype(np.float32))
    weights = np.array([1.0, 2.0, 0.5, 1.5], np.float32)
    got = index.maxsim(query, weights, [2, 1, 0])
    for row in (0, 2):
        stored = items[row].q.astype(np.float32) * items[row].scale.astype(np.float32)[:, None]
        want = float(((stored @ query.T).max(axis=0) * weights).sum() / weights.sum())
        assert got[row] == pytest.approx(want, abs=1e-5)
    assert got[1] == 0.0  # a passage without tokens
    # A passage scores 1 against its own tokens.
    own = passages[2][[0, 3, 5]]
    assert index.maxsim(own, np.ones(3), [2])[2] == pytest.approx(1.0, abs=0.01)


def test_index_keeps_token_states_and_reuses_them(tmp_path, seeds_copy, token_encoder, cache_dir):
    root = tmp_path / "idx"
    r1 = build_index([seeds_copy], root)
    v1 = open_current(root)
    assert v1.manifest["token_states"] is True
    t1 = TokenIndex(v1.path / "tokens")
    assert t1.size == r1.passages == r1.embedded

    (seeds_copy / "new.txt").write_text("Fresh talks\nThe Aegis Ashore plan was cancelled in June.\n",
                                        encoding="utf-8")
    r2 = build_index([seeds_copy], root)
    assert r2.embedded == 1 and r2.reused == r1.passages  # only the new passage is encoded
    t2 = TokenIndex(open_current(root).path / "tokens")
    assert t2.size == r1.passages + 1
    same = t1.passage(0), t2.passage(0)
    assert np.array_equal(same[0].q, same[1].q) and np.array_equal(same[0].ids, same[1].ids)

    r3 = build_index([seeds_copy], root, full=True)  # from scratch: vectors and tokens come from the cache
    assert r3.embedded == 0


def test_an_index_without_token_states_gets_them_when_refreshed(tmp_path, seeds_copy, hash_encoder, cache_dir,
                                                                monkeypatch):
    root = tmp_path / "idx"
    build_index([seeds_copy], root)  # an encoder without token states
    assert not (open_current(root).path / "tokens").exists()
    assert Engine(root).search("Habomai", k=1)  # and search works without them

    import qa.index.build
    from tests.conftest import TokenHashEncoder

    enc = TokenHashEncoder()
    monkeypatch.setattr(qa.index.build, "load_encoder", lambda *a, **k: enc)
    monkeypatch.setattr(qa.index.build, "PIPELINE_VERSION", qa.index.build.PIPELINE_VERSION + 1)
    r = build_index([seeds_copy], root)
    assert r.embedded == r.passages and (open_current(root).path / "tokens" / "states.npy").exists()


def test_rerank_adds_maxsim_to_the_top_candidates(tmp_path, seeds_copy, token_encoder, cache_dir, monkeypatch):
    import qa.search.retrieve
    from qa.search.scorers import LATE_STAGE, WEIGHTS, late_query

    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    engine = Engine(root)
    r = engine.index
    query = engine.query("Which village on Shikotan is Malokurilskoye?")
    with_late = qa.search.retrieve.retrieve(r, query, 3)
    weight = WEIGHTS["maxsim"]
    late_stage = tuple((n, 0.0 if n == "maxsim" else w, f) for n, w, f in LATE_STAGE)
    monkeypatch.setattr(qa.search.retrieve, "LATE_STAGE", late_stage)
    without = {c.row: c.score for c in qa.search.retrieve.retrieve(r, query, 10)}
    late = r.tokens.maxsim(*late_query(r, query.tokens), [c.row for c in with_late])
    assert min(late.values()) > 0
    for c in with_late:
        assert c.score == pytest.approx(without[c.row] + weight * late[c.row], abs=1e-4)
    assert "Malokurilskoye" in r.passages([with_late[0].row])[with_late[0].row].text


def test_corrupt_token_states_are_refused(tmp_path, seeds_copy, token_encoder, cache_dir):
    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    states = open_current(root).path / "tokens" / "states.npy"
    states.write_bytes(states.read_bytes()[:1000])
    with pytest.raises(IndexUnusable, match="qa index --full"):
        Engine(root)
    # `qa index` notices the damaged file (its size is in the manifest) and rebuilds it.
    build_index([seeds_copy], root)
    assert Engine(root).search("Habomai", k=1)


def test_token_states_can_be_turned_off(tmp_path, seeds_copy, token_encoder, cache_dir, monkeypatch):
    monkeypatch.setenv("QA_TOKEN_STATES", "0")
    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    version = open_current(root)
    assert version.manifest["token_states"] is False and not (version.path / "tokens").exists()


def test_damaged_cache_rows_are_encoded_again(tmp_path):
    from embeddings.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "c.sqlite", 4)
    good = Quantized.of(TokenStates(np.array([1, 2], np.int32), _unit(np.ones((2, 4), np.float32))))
    cache.put_many({"a": np.ones(4, np.float32), "b": np.ones(4, np.float32)})
    cache.put_tokens({"a": good, "b": good})
    with cache.db:  # b's blobs cut short, as a crash mid-write might leave them
        cache.db.execute("UPDATE vec SET v = substr(v, 1, 5) WHERE key = 'b'")
        cache.db.execute("UPDATE tok SET q = substr(q, 1, 3) WHERE key = 'b'")
    assert set(cache.get_many(["a", "b"])) == {"a"}
    got = cache.get_tokens(["a", "b"])
    assert set(got) == {"a"} and np.array_equal(got["a"].q, good.q)


def test_inconsistent_token_files_are_rejected(tmp_path):
    items = [Quantized.of(TokenStates(np.array([3], np.int32), np.ones((1, 4), np.float32)))]
    token_index.save(tmp_path, items, 4)
    np.save(tmp_path / "offsets.npy", np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="inconsistent"):
        TokenIndex(tmp_path)


def test_first_stage_scores_count_before_maxsim(tmp_path, seeds_copy, token_encoder, cache_dir, monkeypatch):
    import qa.search.retrieve
    from qa.search.scorers import FIRST_STAGE

    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    engine = Engine(root)
    r = engine.index
    query = engine.query("Which village on Shikotan is Malokurilskoye?")
    plain = qa.search.retrieve.retrieve(r, query, 15)
    last = plain[-1].row  # outside the MaxSim top 10: a large enough first-stage score still brings it first

    def boost(pool, w):
        return [w if c.row == last else 0.0 for c in pool.cands]

    monkeypatch.setattr(qa.search.retrieve, "FIRST_STAGE", (*FIRST_STAGE, ("boost", 10.0, boost)))
    boosted = qa.search.retrieve.retrieve(r, query, 15)
    assert boosted[0].row == last and plain[0].row != last


@pytest.mark.parametrize("damage", ["empty", "deleted"])
def test_empty_or_deleted_token_states_are_refused(tmp_path, seeds_copy, token_encoder, cache_dir, damage):
    import shutil

    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    tokens = open_current(root).path / "tokens"
    if damage == "empty":
        (tokens / "offsets.npy").write_bytes(b"")
    else:
        shutil.rmtree(tokens)  # the manifest says the version has them
    with pytest.raises(IndexUnusable, match="qa index --full"):
        Engine(root)
    r = build_index([seeds_copy], root)  # a plain refresh repairs it, and says nothing was added
    assert r.added == [] and r.changed == [] and Engine(root).search("Habomai", k=1)


def test_changing_qa_token_states_rebuilds_without_full(tmp_path, seeds_copy, token_encoder, cache_dir, monkeypatch):
    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    monkeypatch.setenv("QA_TOKEN_STATES", "0")
    r = build_index([seeds_copy], root)
    assert not r.up_to_date and not (open_current(root).path / "tokens").exists()
    assert build_index([seeds_copy], root).up_to_date
    monkeypatch.delenv("QA_TOKEN_STATES")
    r = build_index([seeds_copy], root)
    assert not r.up_to_date and r.embedded == 0  # states come back from the cache
    assert (open_current(root).path / "tokens" / "states.npy").exists()


def test_a_cache_damaged_after_opening_is_set_aside_and_replaced(tmp_path, caplog):
    import sqlite3

    from embeddings.cache import EmbeddingCache

    class Broken:
        def execute(self, *args):
            raise sqlite3.DatabaseError("database disk image is malformed")

        executemany = execute

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def close(self):
            pass

    path = tmp_path / "c.sqlite"
    cache = EmbeddingCache(path, 4)
    cache.put_many({"a": np.ones(4, np.float32)})
    cache.db.close()
    cache.db = Broken()  # as if a page read later turned out damaged
    assert cache.get_many(["a"]) == {}
    assert "damaged" in caplog.text and path.with_suffix(".corrupt").exists()
    good = Quantized.of(TokenStates(np.array([1], np.int32), _unit(np.ones((1, 4), np.float32))))
    cache.put_many({"b": np.ones(4, np.float32)})  # the new cache works
    cache.put_tokens({"b": good})
    assert set(cache.get_many(["a", "b"])) == {"b"} and set(cache.get_tokens(["b"])) == {"b"}
    cache.db = Broken()
    cache.put_many({"c": np.ones(4, np.float32)})  # a failed write sets it aside too
    assert set(EmbeddingCache(path, 4).get_many(["b", "c"])) == set()


def test_sentence_maxsim_scores_each_sentence_by_its_own_tokens(tmp_path, seeds_copy, token_encoder, cache_dir):
    from qa.index.chunking import embed_text

    build_index([seeds_copy], tmp_path / "idx")
    engine = Engine(tmp_path / "idx")
    r = engine.index
    p = next(p for p in r.passages(list(range(r.size))).values() if len(p.sentences) >= 3)
    pieces = late_query(r, engine.query(p.sentences[1][2]).tokens)
    starts = np.array([a for a, _ in token_encoder.token_spans([embed_text(p.title, p.text)])[0]])
    late = sentence_scores(r, pieces, [p], lambda _: starts)[p.row]
    assert len(late) == len(p.sentences) and late[1] == pytest.approx(1.0, abs=0.01)
    assert max(late[0], *late[2:]) < late[1]
    assert sentence_scores(r, pieces, [p], lambda _: starts[:-1]) == {p.row: None}  # not the stored tokens


def test_a_sentence_past_the_length_limit_gets_a_neutral_value(tmp_path, seeds_copy, token_encoder, cache_dir,
                                                                monkeypatch):
    from qa.index.chunking import embed_text

    build_index([seeds_copy], tmp_path / "idx")
    engine = Engine(tmp_path / "idx")
    r = engine.index
    p = next(p for p in r.passages(list(range(r.size))).values() if len(p.sentences) >= 3)
    pieces = late_query(r, engine.query(p.sentences[0][2]).tokens)
    starts = np.array([a for a, _ in token_encoder.token_spans([embed_text(p.title, p.text)])[0]])
    keep = int(np.searchsorted(starts, starts[-1] - len(p.sentences[-1][2]) + 1))  # the last sentence cut off
    full = r.tokens.states_of
    monkeypatch.setattr(r.tokens, "states_of", lambda row: full(row)[:keep])
    late = sentence_scores(r, pieces, [p], lambda _: starts[:keep])[p.row]
    assert late[-1] == pytest.approx(float(np.mean(late[:-1])), abs=1e-6) and late[0] > late[-1]
