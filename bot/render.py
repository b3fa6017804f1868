"""Telegram HTML for answers, passages, search results and corpus facts (pure functions).

Everything that comes from articles or users goes through ``esc`` (``html.escape``), so the
only markup in a message is the handful of tags written here. ``split_html`` cuts a message
that is longer than Telegram's 4,096-character limit into several, preferring paragraph,
then line, then sentence, then word boundaries; it never cuts inside a tag or an entity
(``&amp;``) and closes the tags open at a cut, reopening them at the start of the next chunk,
so every chunk is valid HTML on its own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from qa.types import Answer, CorpusStats, Hit, SourceInfo

MAX_MESSAGE = 4096  # Telegram's limit on a message's text
SNIPPET_CHARS = 500  # passage text shown per "more results" hit
MAX_SOURCES_LISTED = 100  # /sources lists at most this many articles
MAX_OUTLETS_NAMED = 8

_MARKER = re.compile(r"\[(\d{1,3})\]")


def esc(text: object) -> str:
    """``text`` escaped for Telegram HTML (``<``, ``>``, ``&``)."""
    return html.escape(str(text), quote=False)


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units): an emoji outside the BMP counts 2."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


# ------------------------------------------------------------------ pieces


def linked(inner: str, url: str | None) -> str:
    """``inner`` (HTML) as a link to ``url`` when it is an http(s) URL, else as is."""
    if not url or not url.lower().startswith(("http://", "https://")):
        return inner
    return f'<a href="{html.escape(url, quote=True)}">{inner}</a>'


def source_line(h: Hit) -> str:
    """``Outlet, date — <i>title</i>`` for a citation or hit (escaped); the title links to the
    article's URL when it was fetched from the web."""
    title = linked(f"<i>{esc(h.title or h.doc_id)}</i>", getattr(h, "url", None))
    return f"{esc(h.source or 'unknown outlet')}, {esc(h.date or 'undated')} — {title}"


def _answer_body(a: Answer) -> str:
    body = esc(a.answer)
    if a.abstained:
        return f"🤷 <i>{body}</i>"
    return _MARKER.sub(r"<b>[\1]</b>", body)


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip() + " …"


# ------------------------------------------------------------------ messages


def answer_html(a: Answer) -> str:
    """The answer with its ``[n]`` markers, then one line per source."""
    parts = [_answer_body(a)]
    if a.short and not a.abstained:
        parts.insert(0, f"<b>{esc(a.short.text)}</b> <b>[{a.short.n}]</b>")
    if a.understood_as:
        parts.insert(0, f"<i>Understood as: {esc(a.understood_as)}</i>")
    if a.citations:
        lines = [f"<b>[{c.n}]</b> {source_line(c)}" for c in a.citations]
        parts.append("<b>Sources</b>\n" + "\n".join(lines))
    return "\n\n".join(parts)


def render_answer(a: Answer, limit: int = MAX_MESSAGE) -> list[str]:
    """``answer_html`` split into messages of at most ``limit`` characters."""
    return split_html(answer_html(a), limit)


def render_passages(a: Answer, limit: int = MAX_MESSAGE) -> list[str]:
    """The cited passages in full, one block per citation."""
    if not a.citations:
        return ["This answer cites no passages."]
    blocks = [f"<b>[{c.n}]</b> {source_line(c)}\n<blockquote>{esc(c.text)}</blockquote>" for c in a.citations]
    return split_html("\n\n".join(blocks), limit)


def render_hits(question: str, hits: Sequence[Hit], limit: int = MAX_MESSAGE) -> list[str]:
    """More search results for ``question`` (a snippet of each passage)."""
    if not hits:
        return [f"No further passages match <i>{esc(question)}</i>."]
    head = f"<b>More results</b> for <i>{esc(question)}</i>"
    blocks = [f"<b>{i}.</b> {source_line(h)}\n{esc(_snippet(h.text))}" for i, h in enumerate(hits, 1)]
    return split_html("\n\n".join([head, *blocks]), limit)


def _outlets(outlets: Sequence[str]) -> str:
    named = ", ".join(esc(o) for o in outlets[:MAX_OUTLETS_NAMED])
    more = len(outlets) - MAX_OUTLETS_NAMED
    return f"{named} and {more} more" if more > 0 else named


def render_start(stats: CorpusStats) -> str:
    """What the bot knows: number of articles, outlets, date range."""
    n = stats.documents
    what = f"<b>{n:,} news article{'s' if n != 1 else ''}</b>"
    if stats.outlets:
        k = len(stats.outlets)
        what += f" from {k} outlet{'s' if k != 1 else ''} ({_outlets(stats.outlets)})"
    if stats.date_min and stats.date_max:
        span = stats.date_min if stats.date_min == stats.date_max else f"{stats.date_min} to {stats.date_max}"
        what += f", dated {esc(span)}"
    if stats.undated:
        what += f" ({stats.undated} undated"
        if stats.years_mentioned:
            what += f", mentioning years up to {stats.years_mentioned[1]}"
        what += ")"
    return (
        f"Hello! I answer questions about {what}.\n\n"
        "Each answer is made of sentences from the articles, with a numbered citation [n] for each "
        "source (outlet, date, title). If the articles don't answer a question, I say so.\n\n"
        "Just send me a question, or try one of these:"
    )


def render_help(username: str | None = None) -> str:
    """/help text."""
    at = f"@{esc(username)}" if username else "me"
    return (
        "<b>How to ask</b>\n"
        "• In a private chat: just send the question.\n"
        f"• In a group: /ask QUESTION, mention {at} with the question, or reply to one of my messages.\n"
        "• Follow-ups continue the conversation: \"and Kono?\", \"why?\", \"when was that?\" "
        "(I show how I understood them); a reply to an older answer continues from it.\n\n"
        "<b>Commands</b>\n"
        "/ask QUESTION — a cited answer\n"
        "/new — start a new conversation\n"
        "/sources — the articles I know\n"
        "/start — what I know, with example questions\n"
        "/help — this message\n\n"
        "<b>Buttons under an answer</b>\n"
        "📄 Passages — the cited passages in full\n"
        "🔎 More results — further matching passages\n"
        "👍 / 👎 — tell us whether the answer helped (stored to improve the answers)"
    )


def render_sources(sources: Sequence[SourceInfo], limit: int = MAX_MESSAGE,
                   max_listed: int = MAX_SOURCES_LISTED) -> list[str]:
    """The indexed articles, newest first."""
    if not sources:
        return ["No articles are indexed yet."]
    n = len(sources)
    lines = [f"<b>{n:,} article{'s' if n != 1 else ''}</b>, newest first:"]
    for i, s in enumerate(sources[:max_listed], 1):
        also = "".join(f", {esc(a.get('outlet') or 'another outlet')}" for a in s.also_published_by)
        lines.append(f"{i}. {esc(s.date or 'undated')} · {esc(s.source or 'unknown outlet')}{also} — "
                     f"{linked(f'<i>{esc(s.title or s.doc_id)}</i>', s.url)}")
    if n > max_listed:
        lines.append(f"… and {n - max_listed:,} more.")
    return split_html("\n".join(lines), limit)


# ------------------------------------------------------------------ the splitter

_ATOM = re.compile(r"<[^<>]*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);|.", re.DOTALL)
_OPEN = re.compile(r"<([A-Za-z][\w-]*)")
_CLOSE = re.compile(r"</([A-Za-z][\w-]*)\s*>")
_BLANK_ELEMENT = re.compile(r"<([A-Za-z][\w-]*)(?:\s[^<>]*)?>(\s*)</\1>")
_SENTENCE_END = frozenset(".!?…")
_AFTER_SENTENCE = frozenset("\"”’')]»")

# Boundary classes, best first.
_PARAGRAPH, _LINE, _SENTENCE, _WORD, _ANY = 4, 3, 2, 1, 0


def _is_tag(atom: str) -> bool:
    return len(atom) > 1 and atom[0] == "<"


def _is_space(atom: str) -> bool:
    return len(atom) == 1 and atom.isspace()


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split Telegram HTML into chunks of at most ``limit`` characters (UTF-16 units).

    Cuts only between atoms (a tag, an entity, a character), preferring a blank line, then a
    line break, then a sentence end, then a space, and never leaving a chunk without text.
    Tags open at a cut are closed at the end of the chunk and reopened at the start of the
    next one. The whitespace at a cut is dropped, and so are elements and chunks with no
    visible text (a blank element becomes one space); nothing else is. (A single tag longer
    than ``limit`` cannot be split and is kept whole.)
    """
    text = text.strip()
    if tg_len(text) <= limit:
        return [text] if text else []
    while True:  # empty or blank elements show nothing and only get in the way of cuts
        shorter = _BLANK_ELEMENT.sub(lambda m: " " if m.group(2) else "", text)
        if shorter == text:
            break
        text = shorter
    atoms = _ATOM.findall(text)
    sizes = [tg_len(a) for a in atoms]
    n = len(atoms)
    chunks: list[str] = []
    stack: list[tuple[str, str]] = []  # (tag name, opening tag) of the tags open here
    i = 0
    while i < n:
        while i < n:  # skip the whitespace at the cut, and the closing tags the last chunk already closed
            m = _CLOSE.match(atoms[i])
            if _is_space(atoms[i]):
                i += 1
            elif m and stack and stack[-1][0] == m.group(1).lower():
                stack = stack[:-1]
                i += 1
            else:
                break
        if i >= n:
            break
        end, stack_at_end = _next_cut(atoms, sizes, i, stack, limit)
        if any(not _is_tag(a) and not _is_space(a) for a in atoms[i:end]):  # else it shows nothing: drop it
            body = "".join(atoms[i:end]).rstrip()
            closing = "".join(f"</{name}>" for name, _ in reversed(stack_at_end))
            chunks.append("".join(t for _, t in stack) + body + closing)
        stack = stack_at_end
        i = end
    return chunks


def _next_cut(atoms: list[str], sizes: list[int], start: int, stack: list[tuple[str, str]],
              limit: int) -> tuple[int, list[tuple[str, str]]]:
    """Where the chunk starting at ``start`` ends, and the tags open there."""
    n = len(atoms)
    st = list(stack)
    size = sum(tg_len(t) for _, t in st)
    closing = sum(len(name) + 3 for name, _ in st)
    best: dict[int, tuple[int, int, list[tuple[str, str]]]] = {}  # class -> (end, size, stack)
    has_text = False
    last_text = ""
    j = start
    while j <= n:
        if j > start and has_text and size + closing <= limit:
            if j == n:
                return n, st
            cls = _boundary_class(atoms, j, last_text)
            if cls is not None:
                best[cls] = (j, size, list(st))
        if j == n:
            break
        a = atoms[j]
        size += sizes[j]
        if _is_tag(a):
            m = _CLOSE.match(a)
            if m:
                if st and st[-1][0] == m.group(1).lower():
                    name, _ = st.pop()
                    closing -= len(name) + 3
            else:
                m = _OPEN.match(a)
                if m and not a.endswith("/>"):
                    name = m.group(1).lower()
                    st.append((name, a))
                    closing += len(name) + 3
        elif not _is_space(a):
            has_text = True
            last_text = a
        if size > limit:
            break
        j += 1
    half = limit // 2
    for cls in (_PARAGRAPH, _LINE, _SENTENCE, _WORD):
        if cls in best and best[cls][1] >= half:
            return best[cls][0], best[cls][2]
    spaced = [best[c] for c in (_PARAGRAPH, _LINE, _SENTENCE, _WORD) if c in best]
    if spaced:
        end, _, st_end = max(spaced, key=lambda b: b[0])
        return end, st_end
    if _ANY in best:
        return best[_ANY][0], best[_ANY][2]
    return _forced_cut(atoms, start, stack)


def _boundary_class(atoms: list[str], j: int, last_text: str) -> int | None:
    """The kind of cut between ``atoms[j-1]`` and ``atoms[j]``; None where no cut may be made."""
    a, prev = atoms[j], atoms[j - 1]
    if _CLOSE.match(a) or (_is_tag(prev) and not _CLOSE.match(prev)):
        return None  # keep closing tags with their text, opening tags with theirs
    if a == "\n":
        return _PARAGRAPH if j + 1 < len(atoms) and atoms[j + 1] == "\n" else _LINE
    if _is_space(a):
        if last_text in _SENTENCE_END or (last_text in _AFTER_SENTENCE and _prev_text_ends_sentence(atoms, j)):
            return _SENTENCE
        return _WORD
    return _ANY


def _prev_text_ends_sentence(atoms: list[str], j: int) -> bool:
    """``word.)`` / ``word." `` / ``… [3] ``: a closing mark after a sentence end or a citation marker."""
    k = j - 1
    seen = 0
    while k >= 0 and seen < 6:
        a = atoms[k]
        k -= 1
        if _is_tag(a):
            continue
        seen += 1
        if a in _SENTENCE_END:
            return True
        if a == "]":
            return True  # "... sentence [3] Next": the marker ends a cited sentence
        if a not in _AFTER_SENTENCE:
            return False
    return False


def _forced_cut(atoms: list[str], start: int, stack: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]]]:
    """No cut fits: take one atom (and any tags right after it) to make progress."""
    st = list(stack)
    j = start
    while j < len(atoms):
        a = atoms[j]
        j += 1
        if _is_tag(a):
            m = _CLOSE.match(a)
            if m and st and st[-1][0] == m.group(1).lower():
                st.pop()
            elif not m and (mo := _OPEN.match(a)):
                st.append((mo.group(1).lower(), a))
            continue
        break
    return j, st
