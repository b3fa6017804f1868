"""``qa eval --squad``: SQuAD's normalisation and scores, reading a file, and the open setting end to end."""

import json
import re

import pytest

from qa.cli.main import main
from qa.errors import UserError
from qa.eval import squad
from qa.types import Answer, Citation, ShortAnswer

SQUAD = {"version": "v2.0", "data": [
    {"title": "Lake_Baikal", "paragraphs": [
        {"context": "Lake Baikal is a rift lake in Siberia. It is the deepest lake in the world, at 1,642 metres.",
         "qas": [{"id": "q1", "question": "How deep is Lake Baikal?", "is_impossible": False,
                  "answers": [{"text": "1,642 metres", "answer_start": 80}, {"text": "1,642 metres",
                                                                              "answer_start": 80}]},
                 {"id": "q2", "question": "Who owns Lake Baikal's only island hotel?", "is_impossible": True,
                  "answers": [], "plausible_answers": [{"text": "Siberia", "answer_start": 30}]}]}]},
    {"title": "Kuril_Islands", "paragraphs": [
        {"context": "The Kuril Islands stretch from Hokkaido to Kamchatka. Iturup is the largest island.",
         "qas": [{"id": "q3", "question": "Which is the largest of the Kuril Islands?",
                  "answers": [{"text": "Iturup", "answer_start": 54}]}]}]},
]}


def test_normalisation_and_scores_follow_the_official_script():
    assert squad.normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert squad.exact("the Kuril islands", ["Kuril Islands"])
    assert not squad.exact("Kuril", ["Kuril Islands"])
    assert squad.f1("Kuril", ["Kuril Islands", "x"]) == pytest.approx(2 / 3)
    assert squad.f1("", ["anything"]) == 0.0


def test_load_squad_gives_one_document_per_paragraph_and_the_gold_answers(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    docs, questions = squad.load_squad(path)
    assert [d["_id"] for d in docs] == ["s000p000", "s001p000"]
    assert docs[1]["title"] == "Kuril Islands"
    assert questions[0].answers == ("1,642 metres",)  # duplicates folded
    assert questions[1].answers == () and questions[2].doc_id == "s001p000"


def test_a_file_that_is_not_squad_is_a_one_line_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(UserError, match="not a SQuAD file"):
        squad.load_squad(path)


def test_spread_takes_evenly_spaced_items():
    assert squad.spread(list(range(10)), 3) == [0, 3, 6]
    assert squad.spread([1, 2], 0) == [1, 2]


def test_open_setting_asks_each_question_through_the_engine(tmp_path, capsys, hash_encoder, cache_dir):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    assert main(["--index-dir", str(tmp_path / "idx"), "eval", "--squad", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["questions"], report["answerable"], report["unanswerable"], report["passages"]) == (3, 2, 1, 2)


def test_open_setting_bars_on_a_terminal_and_none_under_json(tmp_path, capsys, hash_encoder, cache_dir, monkeypatch):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    monkeypatch.setenv("QA_PROGRESS", "1")  # a terminal
    assert main(["--index-dir", str(tmp_path / "idx"), "eval", "--squad", str(path)]) == 0
    err = capsys.readouterr().err
    assert "embedding: " in err and re.search(r"questions: +0%\|[^|]*\| 0/3 \[", err)
    assert main(["--index-dir", str(tmp_path / "idx2"), "eval", "--squad", str(path), "--json"]) == 0
    err = capsys.readouterr().err
    assert not any(mark in err for mark in ("\r", "\x1b[", "%|")), err


def _answer(text: str, doc: str = "s000p000", short: str | None = None, abstained: bool = False) -> Answer:
    cite = Citation(rank=1, doc_id=doc, chunk_id=f"{doc}#0", score=1.0, text="", title="", source=None, date=None,
                    path=None, start=0, end=0, n=1)
    return Answer(question="", answer=text, abstained=abstained, citations=[] if abstained else [cite],
                  short=ShortAnswer(short, 1) if short else None)


def test_open_setting_figures_from_known_answers():
    questions = [squad.SquadQuestion("a", "A?", "s000p000", ("1,642 metres",)),
                 squad.SquadQuestion("b", "B?", "s001p000", ("Iturup",)),
                 squad.SquadQuestion("c", "C?", "s000p000", ("Siberia",)),
                 squad.SquadQuestion("d", "D?", "s000p000", ()),
                 squad.SquadQuestion("e", "E?", "s000p000", ())]
    answers = {"A?": _answer("It is 1,642 metres deep [1].", short="1,642 metres"),
               "B?": _answer("Kamchatka lies north [1]. Iturup is the largest [2].", doc="s001p000", short="Kamchatka"),
               "C?": _answer("", abstained=True),
               "D?": _answer("", abstained=True),
               "E?": _answer("Something [1].")}

    class Engine:
        def ask(self, question):
            return answers[question]

    r = squad.evaluate_open(Engine(), questions)
    assert (r.answerable, r.unanswerable) == (3, 2)
    assert r.lead_from_gold == pytest.approx(2 / 3) and r.answer_contains == pytest.approx(2 / 3)
    assert r.first_sentence == pytest.approx(1 / 3)
    assert (r.short_given, r.short_exact, r.short_f1) == (2, 1, 0.5)
    assert r.abstained_answerable == pytest.approx(1 / 3) and r.abstained_unanswerable == 0.5


def test_closed_setting_scores_the_reader_as_the_official_script_does(tmp_path):
    from fake_reader import make_fake_reader

    from embeddings.reader import Reader

    reader = Reader(make_fake_reader(tmp_path / "r", "munich", "munich"))
    docs = [{"_id": "d1", "title": "Talks", "text": "The ministers met. They met in Munich in 2019."},
            {"_id": "d2", "title": "Lakes", "text": "Lake Baikal is deep."}]
    questions = [squad.SquadQuestion("a", "Where did they meet?", "d1", ("Munich",)),
                 squad.SquadQuestion("b", "Where did they go?", "d1", ("Berlin",)),
                 squad.SquadQuestion("c", "Who owns it?", "d2", ())]
    r = squad.evaluate_closed(reader, docs, questions)
    assert r.questions == 3 and r.has_ans_exact == 50.0 and r.no_ans_accuracy == 100.0
    assert r.exact == pytest.approx(200 / 3) and r.sentence_top1 == 0.5


def test_closed_setting_bar_counts_the_questions_read(tmp_path, capsys, monkeypatch):
    from fake_reader import make_fake_reader

    from embeddings.reader import Reader

    reader = Reader(make_fake_reader(tmp_path / "r", "munich", "munich"))
    docs = [{"_id": "d1", "title": "Talks", "text": "The ministers met. They met in Munich in 2019."}]
    questions = [squad.SquadQuestion("a", "Where did they meet?", "d1", ("Munich",)),
                 squad.SquadQuestion("b", "Where did they go?", "d1", ("Berlin",))]
    quiet = squad.evaluate_closed(reader, docs, questions, progress=True)  # stderr is not a terminal
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("QA_PROGRESS", "1")
    shown = squad.evaluate_closed(reader, docs, questions, progress=True)
    assert re.search(r"questions: +0%\|[^|]*\| 0/2 \[", capsys.readouterr().err)
    assert (shown.exact, shown.f1) == (quiet.exact, quiet.f1)
