from hypothesis import given
from hypothesis import strategies as st

from qa.text.sentences import split_sentences


def texts(s: str) -> list[str]:
    return [s[a:b] for a, b in split_sentences(s)]


def test_abbreviations_initials_decimals():
    s = "Mr. Abe met Mr. Putin on Monday. Trade rose 19.6 billion. V. Kuzminkov wrote in the U.S. Navy report."
    assert texts(s) == ["Mr. Abe met Mr. Putin on Monday.", "Trade rose 19.6 billion.",
                        "V. Kuzminkov wrote in the U.S. Navy report."]


def test_quotes_stay_with_their_attribution():
    s = '"We agree on this," Lavrov said. "It is done." Kono nodded! Then: what next? Nothing.'
    assert texts(s) == ['"We agree on this," Lavrov said.', '"It is done."', "Kono nodded!", "Then: what next?",
                        "Nothing."]


def test_offsets_are_shifted():
    assert split_sentences("One. Two.", offset=10) == [(10, 14), (15, 19)]


@given(st.text(alphabet=st.sampled_from(list("ab .!?\"”Mr\n19")), max_size=200))
def test_spans_cover_every_non_space_character_once(s):
    spans = split_sentences(s)
    covered = "".join(s[a:b] for a, b in spans)
    assert "".join(covered.split()) == "".join(s.split())
    for (a, b), (c, _) in zip(spans, spans[1:]):
        assert a < b <= c
