"""Property tests (hypothesis): cleaner, splitter and chunker keep offsets exact and lose nothing."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from qa.index.chunking import chunk_document, document_sentences, normalize_ws
from qa.ingest.corpus import make_document
from qa.text.markup import html_to_text

WORD = st.text(alphabet=st.sampled_from(list("abcdefgKLMxyzАБВ")), min_size=1, max_size=9)
SENTENCE = st.builds(
    lambda words, end, quote: (f'"{" ".join(words).capitalize()}{end}"' if quote
                               else f"{' '.join(words).capitalize()}{end}"),
    st.lists(WORD, min_size=1, max_size=14), st.sampled_from([".", "!", "?", "…", ". Mr.", " 19.6."]), st.booleans())
LINE = st.one_of(
    st.lists(SENTENCE, min_size=1, max_size=6).map(" ".join),
    st.sampled_from(["", "Share it", "Follow Us", "Photo: Reuters", "- World", "  • user", "    a comment."]),
)
ARTICLE = st.lists(LINE, min_size=1, max_size=25).map("\n".join)


@settings(max_examples=150, deadline=None)
@given(ARTICLE)
def test_passages_are_exact_spans_and_lose_nothing(text):
    doc = make_document("p", text)
    passages = chunk_document(doc)
    for p in passages:
        assert 0 <= p.start < p.end <= len(text)
        assert p.text == normalize_ws(text[p.start : p.end])
        assert len(p.text) <= 2000
    # Every sentence of every citable section is in some passage.
    covered = {s for p in passages for s in p.sentences}
    for section in document_sentences(doc):
        for s in section:
            assert s in covered
    # Overlap is context only: every passage brings at least one sentence the one before it lacks.
    for before, after in zip(passages, passages[1:]):
        assert set(after.sentences) - set(before.sentences)
    # Nothing citable outside the sections: passage spans never cover removed lines.
    lines = {ln for ln in text.split("\n") if ln.strip() in ("Share it", "Follow Us", "Photo: Reuters")}
    for p in passages:
        for ln in lines:
            assert ln.strip() not in text[p.start : p.end].split("\n")


@settings(max_examples=100, deadline=None)
@given(ARTICLE)
def test_sections_cover_only_original_text(text):
    doc = make_document("p", text)
    for section in doc.sections:
        for s, e in section:
            assert 0 <= s <= e <= len(text)
            assert "\n" not in text[s:e]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["<p>", "</p>", "<script>var x=1;</script>", "<b>", "</b>", "&amp;", "word",
                                 "<style>p{}</style>", "Text.", "<br>", "&lt;tag&gt;"]), max_size=30))
def test_html_text_has_no_markup_or_script(parts):
    text = html_to_text("".join(parts))
    assert "var x" not in text and "p{}" not in text
    assert not re.search(r"<(p|b|br|script|style)>", text)
