"""Answer-layer rules: who is speaking, what a pronoun refers back to, when to abstain."""

from __future__ import annotations

import pytest

from qa.answer import abstain, select
from qa.question import query
from qa.search.scorers import speaks_in
from qa.text import attribution


@pytest.mark.parametrize("sentence, prev, expected", [
    ("Lavrov said there is a certain link between the two treaties.", False, True),
    ("He also took issue with Japan's planned Aegis Ashore systems, Tass reported.", True, True),
    ("He added that the talks would continue.", True, True),
    ("He also took issue with Japan's plans.", False, False),  # nobody named before: not Lavrov's
    ("He arrived in Tokyo on Monday.", True, False),  # not a statement
    ("Kono and Lavrov were held after Abe announced it.", False, False),
    ("It will give Russia a strong lever, he added, stressing that talks go on.", True, True),
    ("It will give Russia a strong lever, he added, stressing that talks go on.", False, False),
    ("In a restrained manner, he elaborately stated that Tokyo would wait.", True, True),
    ("It will give Russia a lever, he added, but Kono said it would not.", True, False),  # another speaker
])
def test_statements_by_lavrov(sentence, prev, expected):
    assert attribution.is_statement_by(sentence, "Lavrov", prev) is expected


def test_a_sentence_opening_with_a_reference_is_shown_with_the_one_before():
    before = "In 2022, Moscow terminated the agreement on facilitated visits to the Kuril Islands."
    assert select.with_antecedent("It was signed in 1999.", before) == f"{before} It was signed in 1999."
    assert select.with_antecedent("The agreement was signed in 1999.", before) == "The agreement was signed in 1999."
    assert select.with_antecedent("It was signed in 1999.", None) == "It was signed in 1999."
    assert select.with_antecedent("Items were listed.", before) == "Items were listed."  # "It" only as a word


def test_abstention_rule():
    assert not abstain.should_abstain(best_dense=0.6, best_coverage=0.0)  # close in meaning
    assert not abstain.should_abstain(best_dense=0.3, best_coverage=0.8)  # shares the key terms
    assert abstain.should_abstain(best_dense=0.3, best_coverage=0.2)
    assert abstain.should_abstain(best_dense=0.1, best_coverage=1.0)  # words match, meaning does not


def _row(row: int, doc: str, sentences: list[str]):
    from qa.index.passages import PassageRow

    text = " ".join(sentences)
    return PassageRow(row, f"{doc}#{row}", doc, text, 0, len(text), [(0, 0, s) for s in sentences],
                      "t", "Outlet", "2019-01-15", 2019, None, "en")


def test_statements_on_a_topic_leave_out_the_unrelated_ones():
    from qa.text.terms import question_terms

    rows = {
        0: _row(0, "a", ["Lavrov said the US missile defense systems in Japan were a threat."]),
        1: _row(1, "b", ["Lavrov said the cross years stir keen interest.",
                         "Lavrov noted that tourism was growing."]),
    }
    cos = {0: 0.6, 1: 0.5}
    terms = question_terms("missile defense in Japan")
    weights = {t: 1.0 for t in terms}
    on_topic = select.pick_statements(rows, cos, "Lavrov", terms, weights)
    assert [p.passage.row for p in on_topic] == [0]
    everything = select.pick_statements(rows, cos, "Lavrov", [], {})  # "What did Lavrov say?": all of it
    assert len(everything) == 3


def test_speaker_passages_are_favoured_for_what_did_x_say():
    from qa.index.passages import Candidate
    from qa.question.query import parse_query
    from qa.search.scorers import WEIGHTS, Pool, speaker

    rows = {0: _row(0, "a", ["Kono and Lavrov were held in Munich after the summit."]),  # mentions Kono
            1: _row(1, "b", ["Kono told reporters the talks cannot be concluded overnight."])}  # Kono speaks
    cands = [Candidate(0, 0.0, 0.5, 1.0), Candidate(1, 0.0, 0.5, 1.0)]
    w = WEIGHTS["speaker"]
    said = Pool(parse_query("What did Kono tell reporters about the talks?"), None, cands, rows)
    assert speaker(said, w) == [0.0, w]
    plain = Pool(parse_query("When were the talks in Munich?"), None, cands, rows)
    assert speaker(plain, w) == [0.0, 0.0]
    assert speaks_in(rows[1], "Kono") and not speaks_in(rows[0], "Kono")


def test_a_sentence_is_never_shown_twice():
    quote = "That's why I would like to urge our colleagues to follow the agreements."
    said = "Lavrov said the talks would go on without a deadline, as he told reporters on Monday."
    joined = f"{quote} {said}"
    later = _row(1, "a", [said, "Another statement entirely, about visas."])  # the next passage
    earlier = _row(0, "a", [quote, said])
    picked = select._best_first([select.Picked(said, later, 0.9, 1.0), select.Picked(joined, earlier, 0.5, 0.8),
                              select.Picked("Another statement entirely, about visas.", later, 0.7, 1.0)], 5)
    assert [x.text for x in picked] == [joined, "Another statement entirely, about visas."]
    assert sum(x.text.count(said) for x in picked) == 1
    # the joined text is cited to the passage that holds all of it, at the first one's place
    assert picked[0].passage is earlier and picked[0].score == 0.9


def test_recent_questions_order_sources_by_full_date():
    early, late = _row(0, "a", ["Early news about the talks."]), _row(1, "b", ["Later news about the talks."])
    early.date, late.date = "2019-01-15", "2019-02-17"
    undated = _row(2, "c", ["Undated news about the talks."])
    undated.date, undated.year_hint = None, 2025
    items = [select.Picked(r.sentences[0][2], r, 1.0, 1.0) for r in (early, late, undated)]
    from qa.answer.lead import arrange
    from qa.question.query import parse_query

    assert [x.passage.row for x in arrange(parse_query("What is the latest news about the talks?"), items)] == [2, 1, 0]


def test_a_sentence_close_in_meaning_is_chosen_over_one_sharing_words():
    from types import SimpleNamespace

    words = "Kono spoke to reporters after the long meeting."  # one of the three terms
    meaning = "In recent months the agreement on avoidance of double taxation has come into force."
    p = _row(0, "a", [words, meaning])
    cand = SimpleNamespace(row=0, score=1.0, dense=0.5)
    terms = ["kono", "accord", "effect"]
    weights = {t: 1.0 for t in terms}
    def best(late=None):
        return max(select.score_sentences([cand], {0: p}, terms, weights, False, late), key=lambda x: x.score).text

    assert best() == words
    late = {0: [0.4, 0.9]}  # MaxSim: "tax accord ... taken effect" ~ "taxation ... come into force"
    assert best(late) == meaning


@pytest.mark.parametrize("question, recent", [
    ("Who is Japan's prime minister now?", True),
    ("What is the latest on the peace treaty talks?", True),
    ("What's new in the talks?", True),
    ("Is Japan still taking part in Sakhalin-2?", True),
    ("Who serves as Japan's foreign minister in the new cabinet?", False),  # names a thing
    ("Which tax agreement had recently come into force?", False),  # reported past
    ("What recent achievements did Kono point to in January 2019?", False),
])
def test_recent_mode_is_for_questions_about_the_present(question, recent):
    assert query.wants_recent(question) is recent


def test_a_dialogue_dash_opens_the_quote_that_the_attribution_closes():
    p = _row(0, "a", ["The Kremlin positively assessed the new government's aims.",
                      "— Rather, such statements can be welcomed.",
                      'We are also supporters of concluding a peace treaty," said Dmitry Peskov.'])
    (only,) = select.pick_statements({0: p}, {0: 0.5}, "Peskov", [], {})
    assert only.text == ("— Rather, such statements can be welcomed. We are also supporters of concluding a "
                         'peace treaty," said Dmitry Peskov.')


def test_a_quote_cut_into_sentences_is_gathered_whole():
    p = _row(0, "a", ["The two noted the huge potential of relations.",
                      '"In recent months, the agreement on avoidance of double taxation has come into force.',
                      "In addition, economic ties are developing consistently ...",
                      'There is great potential in relations between Russia and Japan," Kono said.',
                      "Lavrov, for his part, indicated interest."])
    got = [x.text for x in select.pick_statements({0: p}, {0: 0.5}, "Kono", [], {})]
    assert got == [" ".join(t for _, _, t in p.sentences[1:4])]
    # a sentence with other quote marks in between: where the quote opens is unclear, so not joined
    q = _row(1, "b", ['"One," he said.', 'He cited "three" things.', 'Five," Kono said.'])
    assert [x.text for x in select.pick_statements({1: q}, {1: 0.5}, "Kono", [], {})] == ['Five," Kono said.']


@pytest.mark.parametrize("sentences, surname, expected", [
    # a quote opening mid-sentence does not close one opened before it
    (['"Japan must accept the outcome of the Second World War.', "The ministry did not elaborate.",
      'Lavrov said: "We are ready to talk.'], "Lavrov", ['Lavrov said: "We are ready to talk.']),
    # a dash quote its own sentence closes, or a bullet, opens nothing for the next speaker
    (["— Japan must return to the dialogue, — Zakharova said at a briefing.",
      "Lavrov said that the talks were frozen."], "Lavrov", ["Lavrov said that the talks were frozen."]),
    (["– Tokyo will host the next round of talks in June.", "Kono said the meeting was useful."], "Kono",
     ["Kono said the meeting was useful."]),
    # "he" after another full name, or not set off by commas, is not the previous speaker
    (["Lavrov said the talks were difficult.", "Japan's envoy Toyohisa Kozuki disagreed, he said, firmly."],
     "Lavrov", ["Lavrov said the talks were difficult."]),
    (["Lavrov said the talks were difficult.", "The minister, whom he called a partner, left Moscow on Tuesday."],
     "Lavrov", ["Lavrov said the talks were difficult."]),
    # "believed to be" is not a statement; nor is a name before "but stressed"
    (["It is a blow for Prime Minister Shinzo Abe, believed to be setting his sights on June."], "Abe", []),
    (["Lavrov said the talks would go on, as instructed by Putin and Abe, but stressed the gaps."], "Abe", []),
    # a quote continued after an attributed sentence is someone else's when it closes with their name
    (["Kistanov suggested Japan would seek a tricky option.", '"Speaking about the treaty, it is new ...',
      'The text could include a clause," Panov suggested.'], "Kistanov",
     ["Kistanov suggested Japan would seek a tricky option."]),
])
def test_statements_are_not_given_to_the_wrong_speaker(sentences, surname, expected):
    p = _row(0, "a", sentences)
    assert sorted(x.text for x in select.pick_statements({0: p}, {0: 0.5}, surname, [], {})) == sorted(expected)
