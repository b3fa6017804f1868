"""bot.render: Telegram HTML for answers and the 4,096-character splitter (pure, no Telegram)."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render import (
    MAX_MESSAGE,
    answer_html,
    esc,
    render_answer,
    render_help,
    render_hits,
    render_passages,
    render_sources,
    render_start,
    split_html,
    tg_len,
)
from qa.types import Answer, Citation, CorpusStats, Hit, SourceInfo

TELEGRAM_TAGS = {"b", "i", "u", "s", "code", "pre", "blockquote", "a"}


class _Checker(HTMLParser):
    """Collects text; fails on unbalanced or unknown tags, like Telegram's parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in TELEGRAM_TAGS:
            self.errors.append(f"unknown tag {tag}")
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(chunk: str) -> str:
    """The chunk's plain text; asserts it is balanced Telegram HTML with no broken entity."""
    c = _Checker()
    c.feed(chunk)
    c.close()
    assert not c.errors, (c.errors, chunk)
    assert not c.stack, (f"unclosed {c.stack}", chunk)
    # every '&' starts a complete entity, every '<' a complete tag
    assert not re.search(r"&(?!(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);)", chunk), chunk
    assert chunk.count("<") == chunk.count(">"), chunk
    return "".join(c.text)


def squash(text: str) -> str:
    return " ".join(text.split())


def cite(n: int, text: str = "Passage text.", title: str = "Title", source: str | None = "Kyodo",
         date: str | None = "2019-01-14") -> Citation:
    return Citation(rank=n, doc_id=f"doc{n}", chunk_id=f"doc{n}#0", score=1.0, text=text, title=title,
                    source=source, date=date, path=None, start=0, end=len(text), n=n)


# ------------------------------------------------------------------ escaping and layout


def test_answer_escapes_user_and_article_text():
    a = Answer(question="Is <b>this</b> & that?", answer="Tom & Jerry said <b>hi</b> [1]. More [2].",
               abstained=False,
               citations=[cite(1, title="Peace <b>treaty</b> & islands", source="A&B <News>"),
                          cite(2, date=None, source=None)])
    out = answer_html(a)
    assert "Tom &amp; Jerry said &lt;b&gt;hi&lt;/b&gt; <b>[1]</b>" in out
    assert "A&amp;B &lt;News&gt;, 2019-01-14 — <i>Peace &lt;b&gt;treaty&lt;/b&gt; &amp; islands</i>" in out
    assert "unknown outlet, undated" in out
    text = parse(out)
    assert "Tom & Jerry said <b>hi</b> [1]" in text
    assert "Peace <b>treaty</b> & islands" in text
    assert text.index("Sources") > text.index("More [2]")
    # one line per source, in citation order
    lines = text.split("Sources\n", 1)[1].splitlines()
    assert [ln[:3] for ln in lines] == ["[1]", "[2]"]


def test_abstention_has_no_sources_block():
    a = Answer(question="q", answer="The articles don't cover this.", abstained=True)
    (chunk,) = render_answer(a)
    assert "Sources" not in chunk and "don't" in chunk  # apostrophes stay readable
    assert parse(chunk).endswith("The articles don't cover this.")


def test_passages_and_hits_escape_and_show_full_text():
    long_text = "A & B <c>. " * 60
    a = Answer(question="q", answer="x [1]", abstained=False, citations=[cite(1, text=long_text)])
    chunks = render_passages(a)
    assert squash("".join(parse(c) for c in chunks)).count("A & B <c>.") == 60  # in full
    hits = [Hit(rank=i, doc_id=f"d{i}", chunk_id=f"d{i}#0", score=0.5, text=long_text, title=f"T{i} &",
                source="S", date=None, path=None, start=0, end=1) for i in range(1, 4)]
    more = render_hits("what <about> & this", hits)
    text = "".join(parse(c) for c in more)
    assert "what <about> & this" in text and text.count("T1 &") == 1 and "…" in text
    assert render_hits("q", []) == ["No further passages match <i>q</i>."]
    assert render_passages(Answer("q", "a", True)) == ["This answer cites no passages."]


def test_start_help_sources():
    s = render_start(CorpusStats(documents=5, passages=120, outlets=["EastRussia", "Kyodo & Co"],
                                 date_min="2013-04-29", date_max="2025-01-10"))
    text = parse(s)
    assert "5 news articles" in text and "2 outlets" in text and "Kyodo & Co" in text
    assert "2013-04-29 to 2025-01-10" in text
    parse(render_help("newsqa_bot"))
    srcs = [SourceInfo(f"d{i}", f"Title <{i}>", "Out&let", "2019-01-0" + str(i % 9 + 1), None, "en", 3)
            for i in range(150)]
    chunks = render_sources(srcs)
    text = "".join(parse(c) for c in chunks)
    assert "150 articles" in text and "Title <0>" in text and "… and 50 more." in text
    assert render_sources([]) == ["No articles are indexed yet."]


# ------------------------------------------------------------------ the splitter


def long_answer(n_sentences: int = 120) -> Answer:
    sentences = [f"Sentence {i} says <b>bold</b> & more about the treaty negotiations in Moscow [{i % 3 + 1}]."
                 for i in range(n_sentences)]
    cites = [cite(i, text="Passage " * 100, title=f"T{i} <&>") for i in (1, 2, 3)]
    return Answer(question="q", answer=" ".join(sentences), abstained=False, citations=cites)


def test_long_answer_split_under_limit_balanced_nothing_lost():
    a = long_answer()
    whole = answer_html(a)
    assert len(whole) > 2 * MAX_MESSAGE
    chunks = render_answer(a)
    assert len(chunks) >= 3
    for c in chunks:
        assert tg_len(c) <= MAX_MESSAGE
        parse(c)
    assert squash(" ".join(parse(c) for c in chunks)) == squash(parse(whole))
    # split at sentence ends: every chunk but the last ends a sentence or the sources list
    for c in chunks[:-1]:
        assert re.search(r"(\.|\]|</b>|</i>)$", c), c[-60:]


def test_split_closes_and_reopens_tags():
    body = "<blockquote>" + " ".join(f"word{i} &amp; more." for i in range(400)) + "</blockquote>"
    chunks = split_html("<b>Head</b>\n\n" + body, 500)
    assert len(chunks) > 5
    for c in chunks[1:]:
        assert c.startswith("<blockquote>") and c.endswith("</blockquote>")
        parse(c)
        assert len(c) <= 500


def test_split_prefers_paragraphs_then_lines():
    paras = [f"para {i} " + "x" * 300 for i in range(10)]
    chunks = split_html("\n\n".join(paras), 700)
    assert all(c.startswith("para") for c in chunks)  # never cut inside a paragraph
    lines = "\n".join(f"line {i} " + "y" * 80 for i in range(40))
    for c in split_html(lines, 500):
        assert c.startswith("line") and c.endswith("y")


def test_split_never_cuts_entities_or_tags_even_without_spaces():
    text = "<i>" + "&amp;&lt;é😀" * 2000 + "</i>"
    chunks = split_html(text, 100)
    for c in chunks:
        assert tg_len(c) <= 100
        parse(c)
    assert "".join(parse(c) for c in chunks) == html.unescape(text[3:-4])


def test_short_text_unchanged():
    assert split_html("  <b>hi</b> &amp; bye \n") == ["<b>hi</b> &amp; bye"]
    assert split_html("") == []


# ------------------------------------------------------------------ properties

_words = st.text(alphabet=st.sampled_from(list("abcxyz <>&\"'.!?\n") + ["é", "😀", "—"]), min_size=0, max_size=40)


@st.composite
def html_docs(draw, depth: int = 0):
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        if depth < 2 and draw(st.booleans()):
            tag = draw(st.sampled_from(["b", "i", "blockquote", "code"]))
            parts.append(f"<{tag}>{draw(html_docs(depth + 1))}</{tag}>")
        else:
            parts.append(esc(draw(_words)))
        parts.append(draw(st.sampled_from(["", " ", "\n", "\n\n", ". "])))
    return "".join(parts)


@settings(max_examples=300, deadline=None)
@given(doc=html_docs(), limit=st.integers(60, 400))
def test_split_properties(doc, limit):
    chunks = split_html(doc, limit)
    for c in chunks:
        assert tg_len(c) <= limit
        assert c.strip()
        parse(c)
    whole = parse(doc)
    assert re.sub(r"\s+", "", "".join(parse(c) for c in chunks)) == re.sub(r"\s+", "", whole)


@settings(max_examples=100, deadline=None)
@given(text=st.text(min_size=1, max_size=3000), limit=st.integers(50, 600))
def test_split_escaped_plain_text_properties(text, limit):
    doc = esc(text)
    chunks = split_html(doc, limit)
    for c in chunks:
        assert tg_len(c) <= limit
        parse(c)
    assert re.sub(r"\s+", "", "".join(parse(c) for c in chunks)) == re.sub(r"\s+", "", text)


@pytest.mark.parametrize("limit", [4096, 1000])
def test_split_real_answer_sizes(limit):
    chunks = render_answer(long_answer(300), limit)
    assert all(tg_len(c) <= limit for c in chunks)
    assert all(len(c) > limit // 2 for c in chunks[:-1])  # no tiny fragments
