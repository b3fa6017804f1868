"""The shared word lists and the regex helpers built on them."""

import re

import pytest

from qa.text.words import MONTH, MONTHS, ROLE_NOUNS, SAID_VERBS, SPEECH_VERBS, TITLES, alternation, month_number


def test_alternation_matches_whole_words_and_phrases_longest_first():
    rx = re.compile(rf"\b{alternation(('say', 'says', 'pointed out'), capture=True)}\b")
    assert rx.search("Kono says so").group(1) == "says"
    assert rx.search("as Lavrov pointed  out").group(1) == "pointed  out"
    assert rx.search("essays") is None


@pytest.mark.parametrize("name, number", [("January", 1), ("Sept.", 9), ("Sep", 9), ("May", 5), ("dec", 12)])
def test_month_number(name, number):
    assert month_number(name) == number


def test_month_pattern_takes_names_and_abbreviations_as_articles_write_them():
    rx = re.compile(rf"^{MONTH}$")
    assert all(rx.match(m.capitalize()) for m in MONTHS)
    assert rx.match("Sept.") and rx.match("Feb") and not rx.match("february")


def test_the_narrow_lists_lie_inside_the_broad_ones():
    assert set(SAID_VERBS) <= set(SPEECH_VERBS)
    assert set(TITLES) <= set(ROLE_NOUNS)
