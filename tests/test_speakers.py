"""Who speaks in each sentence: the parse-backed attribution (qa/index/speakers.py) and its measurement."""

from __future__ import annotations

import json

import pytest

from qa.eval import statements as speakers_eval

ARTICLE = """Lavrov and Kono held talks

Russian Foreign Minister Sergey Lavrov said on Monday that the talks were useful.
"We agreed to meet again.
The next round will be in Tokyo," the minister added.
Taro Kono arrived in Moscow on Sunday.
"""


@pytest.mark.parametrize("name, candidate, expected", [
    ("Sergey Lavrov", "Lavrov", True),
    ("Lavrov", "Lavrov", True),
    ("The Kremlin’s press service", "Kremlin press service", True),
    ("The Kremlin", "Kremlin", True),
    ("The Kremlin’s press service", "Kremlin", False),
    ("Lavrova", "Lavrov", False),
])
def test_a_name_matches_a_candidate_that_ends_it(name, candidate, expected):
    assert speakers_eval.name_matches(name, candidate) is expected


def test_a_label_is_matched_by_containment():
    texts = ["Lavrov said the talks were useful.", "Kono agreed.", "It rained."]
    assert speakers_eval.match_sentence("said  the talks were\nuseful", texts) == [0]
    assert speakers_eval.match_sentence("Kono agreed. It rained.", texts) == []  # pieces under 20 characters
    assert speakers_eval.match_sentence("Nothing like it.", texts) == []


def test_the_rules_method_names_the_speakers_of_each_sentence():
    texts = ["Lavrov said the talks were useful.", "He added that Kono agreed.", "Kono arrived in Moscow."]
    assert speakers_eval.rules_method(texts, ["Kono", "Lavrov"]) == [{"Lavrov"}, {"Lavrov"}, set()]


def test_precision_and_recall_count_sentence_speaker_pairs(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text(ARTICLE, encoding="utf-8")
    rows = [{"doc_id": "a", "sentence": "Sergey Lavrov said on Monday", "speaker": "Lavrov"},
            {"doc_id": "a", "sentence": "\"We agreed to meet again.", "speaker": "Lavrov"},
            {"doc_id": "a", "sentence": "The next round will be in Tokyo", "speaker": "Lavrov"},
            {"doc_id": "a", "sentence": "Taro Kono arrived in Moscow", "speaker": None, "mentions": "Kono"}]
    r = speakers_eval.evaluate_statements(rows, seeds, "rules")
    # the quote's first sentence continues Lavrov's; its closing one ("the minister added") is past the rules
    assert (r.overall.tp, r.overall.fp, r.overall.fn) == (2, 0, 1)
    assert r.overall.precision == 1.0 and r.overall.recall == pytest.approx(2 / 3)
    assert r.errors == ['FN Lavrov: a#2 The next round will be in Tokyo," the minister added.']
    assert r.negatives == 1 and r.negatives_credited == 0
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in rows), encoding="utf-8")
    assert speakers_eval.run_statements(path, seeds, ["rules"], as_json=True) == 0


# ---------------------------------------------------------------- the parse (loads spaCy)


@pytest.fixture(scope="module")
def speakers_of():
    pytest.importorskip("spacy")
    from qa.index import annotate, speakers

    if not annotate.available():
        pytest.skip("no spaCy pipeline")
    return speakers.speakers_of


@pytest.mark.slow
def test_the_parse_finds_speakers_cues_and_references(speakers_of):
    got = speakers_of([
        "Russian Foreign Minister Sergey Lavrov said the talks were difficult.",  # subject
        "Japan wants the islands back, said Dmitry Peskov, the Kremlin spokesman.",  # inversion
        "According to Lavrov, the sides remain far apart.",  # according to, a bare surname made full
        "Peskov, who thanked the Japanese side, left early.",  # who-clause
        "He also took issue with the missile plans.",  # pronoun: the person who last spoke or acted
        "The Russian minister stressed that Moscow was patient.",  # role: the minister named last
        '"We are ready.',  # a quote the splitter cut, closed by its attribution
        'We will wait," Lavrov told reporters.',
        "— Rather, such statements can be welcomed.",  # a dialogue dash
        'We support a treaty," the Kremlin spokesman added.',
        "The Kremlin's press service said the visit would take place.",  # an organisation
        "The ministry did not elaborate.",
    ])
    assert got == [["Sergey Lavrov"], ["Dmitry Peskov"], ["Sergey Lavrov"], ["Dmitry Peskov"], ["Dmitry Peskov"],
                   ["Sergey Lavrov"], ["Sergey Lavrov"], ["Sergey Lavrov"], ["Dmitry Peskov"], ["Dmitry Peskov"],
                   ["The Kremlin's press service"], []]


@pytest.mark.slow
@pytest.mark.parametrize("sentences, surname, expected", [  # tests/test_answer.py's counter-examples
    (['"Japan must accept the outcome of the Second World War.', "The ministry did not elaborate.",
      'Lavrov said: "We are ready to talk.'], "Lavrov", [2]),
    (["— Japan must return to the dialogue, — Zakharova said at a briefing.",
      "Lavrov said that the talks were frozen."], "Lavrov", [1]),
    (["– Tokyo will host the next round of talks in June.", "Kono said the meeting was useful."], "Kono", [1]),
    (["Lavrov said the talks were difficult.", "Japan's envoy Toyohisa Kozuki disagreed, he said, firmly."],
     "Lavrov", [0]),
    (["Lavrov said the talks were difficult.", "The minister, whom he called a partner, left Moscow on Tuesday."],
     "Lavrov", [0]),
    (["It is a blow for Prime Minister Shinzo Abe, believed to be setting his sights on June."], "Abe", []),
    (["Lavrov said the talks would go on, as instructed by Putin and Abe, but stressed the gaps."], "Abe", []),
    (["Kistanov suggested Japan would seek a tricky option.", '"Speaking about the treaty, it is new ...',
      'The text could include a clause," Panov suggested.'], "Kistanov", [0]),
    (["The Kremlin positively assessed the new government's aims.", "— Rather, such statements can be welcomed.",
      'We are also supporters of concluding a peace treaty," said Dmitry Peskov.'], "Peskov", [1, 2]),
    (["The two noted the huge potential of relations.",
      '"In recent months, the agreement on avoidance of double taxation has come into force.',
      "In addition, economic ties are developing consistently ...",
      'There is great potential in relations between Russia and Japan," Kono said.',
      "Lavrov, for his part, indicated interest."], "Kono", [1, 2, 3]),
    (['"One," he said.', 'He cited "three" things.', 'Five," Kono said.'], "Kono", [2]),
])
def test_the_parse_keeps_the_rules_counter_examples(speakers_of, sentences, surname, expected):
    got = speakers_of(sentences)
    assert [i for i, names in enumerate(got) if any(speakers_eval.name_matches(n, surname) for n in names)] == expected


def test_qa_eval_statements_prints_each_method(tmp_path, monkeypatch, capsys):
    from qa.cli import main as cli

    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    labels = tmp_path / "s.jsonl"
    row = {"doc_id": "a", "sentence": "Sergey Lavrov said", "speaker": "Lavrov"}
    labels.write_text(json.dumps(row), encoding="utf-8")
    monkeypatch.setenv("QA_SEEDS_DIR", str(tmp_path))
    assert cli.main(["eval", "--statements", str(labels), "--method", "rules", "--json"]) == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert only["method"] == "rules" and only["overall"]["recall"] == 1.0
