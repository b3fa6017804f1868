"""The reader's runtime (embeddings/reader.py) on a tiny ONNX model whose answer is known in advance."""

import pytest
from fake_reader import make_fake_reader

from embeddings.errors import ModelError
from embeddings.reader import Reader

TEXT = "The two ministers met in Munich in February. They will meet again in Tokyo later this year."


def test_the_best_span_and_its_characters(tmp_path):
    reader = Reader(make_fake_reader(tmp_path / "r", "munich", "february"))
    (reading,) = reader.read("Where did they meet?", [("Talks", TEXT)])
    span = reading.best_span()
    assert TEXT[span.start : span.end] == "Munich in February" and span.score == 20.0
    assert reading.null == 0.0 and reading.has_answer > 0.99
    assert reading.best_span(TEXT.index("They"), len(TEXT)) is not None  # other tokens score 0
    assert reading.best_span(TEXT.index("They"), len(TEXT)).score == 0.0


def test_the_title_and_question_are_never_part_of_a_span(tmp_path):
    reader = Reader(make_fake_reader(tmp_path / "r", "munich", "munich"))
    (reading,) = reader.read("Munich?", [("Munich", "Nothing here names the city.")])
    assert reading.best_span().score == 0.0  # the only "munich" tokens are in the question and the title


def test_a_long_passage_is_read_in_windows(tmp_path):
    reader = Reader(make_fake_reader(tmp_path / "r", "tokyo", "tokyo", max_length=32, stride=8))
    text = " ".join(["Filler words about nothing in particular."] * 12) + " At last they met in Tokyo."
    readings = reader.read("Where?", [("", text), ("", "Short one.")])
    assert len(readings[0].windows) > 1 and len(readings[1].windows) == 1
    span = readings[0].best_span()
    assert text[span.start : span.end] == "Tokyo" and span.score == 20.0


def test_a_long_question_is_cut_not_an_error(tmp_path):
    reader = Reader(make_fake_reader(tmp_path / "r", "munich", "february", max_length=32, stride=8))
    question = "Where did the two ministers meet " * 60  # 360 words; a window holds 32 tokens
    assert len(reader.cut_question(question).split()) == 8  # a quarter of the window
    (reading,) = reader.read(question, [("Talks", TEXT)])
    span = reading.best_span()
    assert TEXT[span.start : span.end] == "Munich in February"


def test_no_passages_no_run(tmp_path):
    assert Reader(make_fake_reader(tmp_path / "r", "munich", "munich")).read("Q?", []) == []


def test_a_missing_or_corrupt_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no reader model"):
        Reader(tmp_path / "nothing")
    folder = make_fake_reader(tmp_path / "r", "munich", "munich")
    (folder / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load the reader model"):
        Reader(folder)
