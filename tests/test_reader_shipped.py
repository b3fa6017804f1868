"""The reader model shipped in the package (embeddings/reader/): intact, described, and reading.

These load the real 23 MB int8 model (about a second), so they are marked slow.
"""

import hashlib
import json

import pytest

from embeddings.reader import FOLDER, Reader, available

pytestmark = pytest.mark.slow

PASSAGE = ("Russian Foreign Minister Sergei Lavrov and his Japanese counterpart Taro Kono met in Munich on "
           "February 16 on the sidelines of the security conference. Lavrov said there was no deadline "
           "for a peace treaty.")
UNRELATED = ("The river floods every spring, and farmers plant rice in the wet fields once the water "
             "goes down in May.")


def test_the_shipped_files_are_the_ones_the_card_and_meta_describe():
    meta = json.loads((FOLDER / "meta.json").read_text(encoding="utf-8"))
    digest = hashlib.sha256((FOLDER / "model.onnx").read_bytes()).hexdigest()
    assert digest == meta["sha256"]
    card = (FOLDER / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert digest[:8] in card and "Apache-2.0" in card and "CC BY-SA 4.0" in card
    assert meta["step"] == 1200 and available()


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader()


def test_it_finds_the_place_and_prefers_the_passage_that_answers(reader):
    near, far = reader.read("Where did Lavrov and Kono meet in February?", [("Talks", PASSAGE), ("Farming", UNRELATED)])
    span = near.best_span()
    assert "Munich" in PASSAGE[span.start : span.end]
    # the passage that answers has a span beating its "no answer"; the unrelated one does not
    assert span.score - near.null > reader.threshold
    assert far.best_span().score - far.null < reader.threshold
    assert near.has_answer > far.has_answer


def test_a_question_at_the_cli_limit_is_read(reader):
    """2,000 characters (qa ask's limit; the bot's is lower) is far more than a window holds."""
    question = ("Where did Lavrov and Kono meet in February, and what did they say about the treaty? " * 30)[:2000]
    (reading,) = reader.read(question, [("Talks", PASSAGE)])
    span = reading.best_span()
    assert span is not None and "Munich" in PASSAGE[span.start : span.end]
