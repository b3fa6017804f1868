"""End to end over the shipped seeds with the real model (slow: builds a fresh index)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.eval.questions import evaluate_questions, load_questions
from tests.conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "idx"
    out = subprocess.run([sys.executable, "-m", "qa.cli", "--index-dir", str(root), "index", str(SEEDS)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return root


def ask(index_dir: Path, question: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "qa.cli", "--index-dir", str(index_dir), "ask", question, "--json"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_what_did_lavrov_say(index_dir):
    a = ask(index_dir, "what did Lavrov say")
    assert not a["abstained"]
    docs = {c["doc_id"] for c in a["citations"]}
    assert len(docs) >= 2
    assert all(c["source"] for c in a["citations"])
    for c in a["citations"]:
        assert f"[{c['n']}]" in a["answer"]
        original = Path(c["path"]).read_text(encoding="utf-8")
        assert " ".join(original[c["start"] : c["end"]].split()) == c["text"]


def test_outside_question_abstains(index_dir):
    a = ask(index_dir, "What is the capital of Australia?")
    assert a["abstained"] and a["citations"] == [] and "don't cover" in a["answer"]


def test_rare_words_find_their_passage(index_dir):
    from qa.search.engine import Engine

    engine = Engine(index_dir)
    for word in ("Habomai", "Malokurilskoye", "Aegis Ashore"):
        assert word in engine.search(word, k=1)[0].text
        # Asked as a bare name, it is answered from that passage (not abstained: the name is
        # close to one sentence even when the passage as a whole is not).
        a = engine.ask(word)
        assert not a.abstained and word in a.answer, word
    a = engine.ask("What did Lavrov say about Aegis Ashore?")
    assert not a.abstained and "Aegis Ashore" in a.answer


def test_eval_question_set(index_dir):
    from qa.search.engine import Engine

    report = evaluate_questions(Engine(index_dir), load_questions(ROOT / "eval" / "questions.jsonl"))
    # Regression floors a little under the measured figures (docs/evaluation.md).
    assert report.hit1 >= 0.85
    assert report.hit5 >= 0.95
    assert report.abstention_accuracy >= 0.85


def test_russian_questions_find_english_passages(index_dir):
    from qa.search.engine import Engine

    engine = Engine(index_dir)
    report = evaluate_questions(engine, load_questions(ROOT / "eval" / "questions_ru.jsonl"))
    assert report.hit5 >= 0.75  # measured 0.81 when this floor was set; 0.938 now (docs/evaluation.md)
    a = engine.ask("Что сказал Лавров?")
    assert not a.abstained and len({c.doc_id for c in a.citations}) >= 2
    assert engine.ask("Какая столица Австралии?").abstained


def test_english_retrieval_unchanged_by_multilingual_index(index_dir):
    from qa.search.engine import Engine

    hits = Engine(index_dir).search("What did Kono say about the treaty talks after meeting Lavrov in Munich?", k=5)
    assert any("overnight" in h.text for h in hits)


def test_token_states_come_from_the_vectors_forward_pass(index_dir):
    import numpy as np

    from embeddings.model import load_encoder
    from embeddings.token_index import TokenIndex
    from qa.index.store import open_current
    from qa.search.engine import Engine

    enc = load_encoder()
    texts = ["Habomai and Shikotan", "The peace treaty talks were launched in Moscow on Monday."]
    vecs, states = enc.encode_tokens(texts)
    assert np.allclose(vecs, enc.encode(texts), atol=1e-6)
    for text, s in zip(texts, states):
        assert len(s.ids) == len(s.pieces) == len(enc.tokenizer.encode(text).ids) - 2  # [CLS], [SEP] dropped
        assert np.allclose(np.linalg.norm(s.states, axis=1), 1.0, atol=1e-5)
    tokens = TokenIndex(open_current(index_dir).path / "tokens")
    engine = Engine(index_dir)
    assert tokens.size == engine.index.size
    # A passage's own sentence finds its tokens again (int8 storage keeps cosines).
    row = 0
    own = engine.index.passages([row])[row].text
    _, (q,) = enc.encode_tokens([own])
    assert tokens.maxsim(q.states, np.ones(len(q.ids)), [row])[row] > 0.9


def test_encoder_counts_its_batches_for_the_caller_bar():
    import numpy as np

    from embeddings.model import load_encoder

    enc = load_encoder()
    texts = ["Habomai and Shikotan", "The peace treaty talks were launched in Moscow on Monday.", "Lavrov", "a b",
             "Japan and Russia agreed to accelerate negotiations."]
    counts: list[int] = []
    vectors = enc.encode(texts, batch_size=2, progress=counts.append)
    assert counts == [2, 2, 1]
    np.testing.assert_array_equal(vectors, enc.encode(texts, batch_size=2))
    counts.clear()
    with_tokens, _ = enc.encode_tokens(texts, batch_size=2, progress=counts.append)
    assert counts == [2, 2, 1]
    np.testing.assert_array_equal(with_tokens, vectors)
