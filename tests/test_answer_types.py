"""Answers that state the fact: what a question asks for, and the sentence that leads."""

from __future__ import annotations

import pytest

from qa.answer.lead import arrange, kind, short_answer
from qa.answer.select import Picked
from qa.index.passages import PassageRow
from qa.ingest.corpus import reported_years
from qa.question.kind import question_type
from qa.question.query import parse_query, transliterate


@pytest.mark.parametrize("question, expected", [
    ("Who proposed the clause on allied obligations?", "who"),
    ("Which news agency reported the comment?", "who"),
    ("Where did Lavrov and Kono meet in February 2019?", "where"),
    ("On which island is the village of Malokurilskoye?", "where"),
    ("When did Japan ease visa requirements?", "when"),
    ("In which year was the agreement signed?", "when"),
    ("How many Japanese visited Russia in 2018?", "number"),
    ("What share of trade did machinery account for?", "number"),
    ("Which four islands are disputed?", "list"),
    ("Name the islands at the centre of the dispute.", "list"),
    ("Why won't Japan sign a peace treaty?", "why"),
    ("According to Kuzminkov, why does the approach not work?", "why"),
    ("Did Moscow set a deadline for the treaty?", "yesno"),
    ("Есть ли у России сроки для заключения договора?", "yesno"),
    ("Who is Oleg Kazakov?", "definition"),
    ("What position does Takeo Mori hold?", "definition"),
    ("What did Lavrov say about Aegis Ashore?", "statement"),
    ("Что Лавров сказал о суверенитете?", "statement"),
    ("and what did Kono say?", "statement"),  # a follow-up's "and" / "а" does not hide the speaker
    ("А что сказал Коно?", "statement"),
    ("Who is Japan's foreign minister now?", "present"),
    ("Are the talks still frozen?", "present"),
    ("Кто сейчас возглавляет правительство Японии?", "present"),
    ("Tell me about the islands.", "other"),
])
def test_question_types(question, expected):
    assert question_type(question) == expected


def test_a_reason_or_a_figure_asked_about_now_is_not_a_question_about_the_present_state():
    assert not parse_query("Why won't Japan sign a peace treaty now?").recent
    assert not parse_query("How many Russians live on the islands now?").recent
    assert parse_query("What is Japan's position on the peace treaty today?").recent
    assert kind(parse_query("Who currently leads the Japanese government?")) == "who"


def _row(row: int, sentences: list[str], date: str | None = "2019-01-15", year: int | None = 2019) -> PassageRow:
    text = " ".join(sentences)
    return PassageRow(row, f"d{row}#0", f"d{row}", text, 0, len(text), [(0, 0, s) for s in sentences], "t",
                      "Outlet", date, year, None, "en")


def _pick(text: str, score: float, entities=(), row: PassageRow | None = None) -> Picked:
    return Picked(text, row or _row(0, [text]), score, 1.0, tuple(entities))


# One sentence built for each kind of answer: it scores a little below a sentence on the same topic
# that does not hold the answer, and must lead all the same.
@pytest.mark.parametrize("question, answer, entities", [
    ("Who proposed the clause on allied obligations?", "The clause was proposed by Alexander Panov.",
     [("Alexander Panov", "PERSON")]),
    ("Where did the ministers meet in February?", "The ministers met in Munich in February.", [("Munich", "GPE")]),
    ("When did the ministers agree on the clause?", "The ministers agreed on the clause on November 14.",
     [("November 14", "DATE")]),
    ("How many visitors came from Russia?", "Visitors from Russia numbered 17,000.", [("17,000", "CARDINAL")]),
    ("Which islands are part of the dispute?", "The dispute covers Iturup, Kunashir, Shikotan and Habomai.",
     [("Iturup", "GPE"), ("Kunashir", "GPE"), ("Shikotan", "GPE"), ("Habomai", "PERSON")]),
    ("Why won't Japan sign the treaty?", "Japan will sign the treaty only after the islands issue is resolved.", []),
    ("Did Moscow set a deadline for the treaty?", "Moscow has no deadline for the treaty.", []),
    ("Who is Oleg Kazakov?", "Oleg Kazakov, a senior researcher at the institute, spoke to reporters.", []),
])
def test_the_sentence_holding_the_kind_of_answer_asked_for_leads(question, answer, entities):
    query = parse_query(question)
    topical = _pick("The treaty and the islands were discussed at length by the ministers again.", 1.0,
                    [("Japan", "GPE")] if query.asks not in ("where", "list") else [])
    holds = _pick(answer, 0.9, entities, _row(1, [answer]))
    assert arrange(query, [topical, holds])[0] is holds


def test_a_sentence_naming_only_what_the_question_names_holds_no_new_answer():
    query = parse_query("Where did Lavrov and Kono meet?")
    same = _pick("Lavrov and Kono met again, Lavrov said.", 1.0, [("Lavrov", "PERSON"), ("Kono", "PERSON")])
    assert arrange(query, [same])[0] is same and short_answer(query, [same]) is None


def test_a_short_answer_only_when_the_lead_scores_high_and_one_entity_wins():
    query = parse_query("Where did the ministers meet in February?")
    strong = _pick("The ministers met in Munich in February.", 2.5, [("Munich", "GPE")])
    assert short_answer(query, [strong]) == "Munich"
    assert short_answer(query, [_pick(strong.text, 1.0, strong.entities)]) is None  # not sure enough
    two = _pick("The ministers met in Munich and Bonn in February.", 2.5, [("Munich", "GPE"), ("Bonn", "GPE")])
    assert short_answer(query, [two]) is None  # no clear winner
    assert short_answer(parse_query("Why did the ministers meet?"), [strong]) is None  # not an entity question


def test_the_newest_source_leads_a_question_about_the_present():
    query = parse_query("What is the position on the treaty now?")
    old = _pick("The position on the treaty was firm.", 1.0, row=_row(0, ["The position on the treaty was firm."]))
    new_row = _row(1, ["The position on the treaty is unchanged."], date=None, year=2025)
    new = _pick("The position on the treaty is unchanged.", 0.8, row=new_row)
    picked = arrange(query, [old, new])
    assert picked[0] is new and picked[1] is old


def test_years_an_article_reports_leave_out_plans():
    text = "In 2019 they met. Japan will host talks in 2026. The plan runs by 2030. Visits stopped in 2022."
    assert reported_years(text) == [2019, 2022]


def test_transliteration_keeps_names_matchable():
    assert transliterate("Кузьминков и Лавров") == "Kuzminkov i Lavrov"
    assert transliterate("Lavrov, “Kono”") == "Lavrov, “Kono”"
