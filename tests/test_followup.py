"""Follow-up recognition and rewriting (qa/chat/followup.py, qa/chat/entities.py): pure functions."""

import pytest

from qa.chat.entities import extract_entities
from qa.chat.followup import make_turn, resolve
from qa.question.query import parse_query
from qa.types import Answer

PEOPLE = {"Lavrov", "Kono", "Putin", "Abe", "Rudenko", "Peskov", "Takaichi", "Motegi"}


def is_person(name: str) -> bool:
    return name.split()[-1] in PEOPLE


def turn(question: str, answer: str = "", abstained: bool = False):
    return make_turn(question, parse_query(question), Answer(question, answer, abstained), is_person)


LAVROV = "Lavrov said Russia has no time-frame [1]. Kono told reporters that talks cannot be concluded overnight [2]."

REWRITTEN = [
    ("What did Lavrov say about the peace treaty?", LAVROV, "and Kono?", "What did Kono say about the peace treaty?"),
    ("What did Lavrov say about the peace treaty?", LAVROV, "And what did Kono say?",
     "What did Kono say about the peace treaty?"),
    ("What did Lavrov say about Aegis Ashore?", LAVROV, "And about the INF treaty?",
     "What did Lavrov say about the INF treaty?"),
    ("What did Lavrov say about Aegis Ashore?", LAVROV, "And Peskov?", "What did Peskov say about Aegis Ashore?"),
    ("Who is Andrei Rudenko?", "Russian Deputy Foreign Minister Andrei Rudenko told Izvestia [1].",
     "What did he tell Izvestia?", "What did Andrei Rudenko tell Izvestia?"),
    ("When did Japan ease visa requirements for Russians?", "In January 2017 [1].", "Why?",
     "Why did Japan ease visa requirements for Russians?"),
    ("When did Japan ease visa requirements for Russians?", "In January 2017 [1].", "and why was that?",
     "Why did Japan ease visa requirements for Russians?"),
    ("How large was Russia-Japan trade in 2018?", "19.6 billion US dollars [1].", "And in 2017?",
     "How large was Russia-Japan trade in 2017?"),
    ("Where did Lavrov and Kono meet in February 2019?", "In Munich [1].", "What did they discuss there?",
     "What did Lavrov and Kono discuss in Munich?"),
    ("When did Putin and Abe meet in Moscow?", "On January 22 [1].", "What did they agree then?",
     "What did Putin and Abe agree on January 22?"),
    ("What is the 1956 declaration?", "The 1956 joint declaration [1].", "Which islands does it mention?",
     "Which islands does the 1956 declaration mention?"),
    ("What did Lavrov say about the peace treaty?", LAVROV, "When?", "When did Lavrov speak about the peace treaty?"),
    ("What did Lavrov say about the peace treaty?", LAVROV, "What about the time-frame?",
     "What did Lavrov say about the time-frame?"),
    # Russian
    ("Что сказал Лавров о мирном договоре?", LAVROV, "а что сказал Коно?", "Что сказал Коно о мирном договоре?"),
    ("Что сказал Лавров о мирном договоре?", LAVROV, "а Коно?", "Что сказал Коно о мирном договоре?"),
    ("Что сказал Лавров о мирном договоре?", LAVROV, "а он?", "Что сказал Kono о мирном договоре?"),
    ("Что сказал Лавров о мирном договоре?", LAVROV, "когда это было?", "Когда Лавров говорил о мирном договоре?"),
    ("Когда Япония упростила визовый режим для россиян?", "В январе 2017 года [1].", "почему?",
     "Почему Япония упростила визовый режим для россиян?"),
    # "it" is the topic the previous question asked about, even with no speaker frame
    ("When did Lavrov speak about the peace treaty?", "In January [1].", "what did he say about it?",
     "What did Lavrov say about the peace treaty?"),
    # a question word with its preposition
    ("When did Japan ease visa requirements for Russians?", "In January 2017 [1].", "For whom?",
     "For whom did Japan ease visa requirements for Russians?"),
    ("Когда Япония упростила визовый режим для россиян?", "В январе 2017 года [1].", "Для кого?",
     "Для кого Япония упростила визовый режим для россиян?"),
]


@pytest.mark.parametrize("prev,answer,question,expected", REWRITTEN)
def test_follow_up_is_rewritten(prev, answer, question, expected):
    assert resolve(question, [turn(prev, answer)], is_person) == expected


STANDALONE = [
    ("What did Lavrov say about Aegis Ashore?", LAVROV, "What is the capital of Australia?"),
    ("What did Lavrov say about Aegis Ashore?", LAVROV, "What about the capital of Australia?"),
    ("What did Lavrov say about Aegis Ashore?", LAVROV, "And the capital of Australia?"),
    ("What did Lavrov say about the peace treaty?", LAVROV, "What did Kono say about the islands?"),
    ("What did Lavrov say about the peace treaty?", LAVROV, "What did Kono say?"),  # its own subject
    ("What did Lavrov say about the peace treaty?", LAVROV, "Is there a peace treaty?"),  # existential "there"
    ("What did Lavrov say about the peace treaty?", LAVROV, "Is it true that Japan eased visas?"),
    ("What did Lavrov say about the peace treaty?", LAVROV, "Who is Japan's prime minister and what did she say?"),
    ("Who is Andrei Rudenko?", "He is a deputy minister [1].", "When did Sanae Takaichi become prime minister?"),
    ("What did Lavrov say about the peace treaty?", LAVROV, "Habomai"),
    ("Which four islands are disputed?", "Iturup, Kunashir, Shikotan and Habomai [1].", "Why?"),  # no clean rewrite
    ("What is the capital of Australia?", "The articles don't cover this.", "What did he say?"),  # nobody to be "he"
]


@pytest.mark.parametrize("prev,answer,question", STANDALONE)
def test_standalone_question_is_not_merged(prev, answer, question):
    assert resolve(question, [turn(prev, answer)], is_person) is None


def test_first_question_stands_alone():
    assert resolve("and Kono?", [], is_person) is None


def test_entities_of_a_question_and_an_answer():
    text = ("Russian Foreign Minister Sergey Lavrov and his Japanese counterpart Taro Kono held talks in Munich "
            "on Feb 17, 2019.")
    got = {(e.text, e.kind) for e in extract_entities(text)}
    assert {("Sergey Lavrov", "person"), ("Taro Kono", "person"), ("Munich", "place"),
            ("Feb 17, 2019", "date")} <= got
    assert [(e.text, e.kind) for e in extract_entities("Who is Andrei Rudenko?")] == [("Andrei Rudenko", "person")]
    q = parse_query("Что сказал Лавров о мирном договоре?")
    assert [(e.text, e.kind) for e in extract_entities(q.text, q)] == [("Лавров", "person")]


def test_bare_wh_after_a_yes_no_question():
    prev = "Does Russia have a time-frame for the peace treaty with Japan?"
    assert resolve("Where was that said?", [turn(prev, "No [1].")], is_person) == \
        "Where does Russia have a time-frame for the peace treaty with Japan?"
