"""Progress bars (qa/progress.py): drawn on a terminal, never into a pipe, a file or ``--json``."""

from __future__ import annotations

import io
import json
import re
import sys

import pytest

from qa import progress
from qa.cli.main import main
from qa.index import annotate

BAR_MARKS = ("\r", "\x1b[", "█", "%|")  # tqdm's carriage returns, ANSI codes, blocks, "45%|"


def bar_counts(err: str, name: str) -> list[tuple[int, int]]:
    """The ``n/total`` of every frame drawn of the bar called ``name``."""
    return [(int(n), int(t)) for n, t in re.findall(rf"{re.escape(name)}: +\d+%\|[^|]*\| *(\d+)/(\d+) \[", err)]


def no_bar(err: str) -> bool:
    return not any(mark in err for mark in BAR_MARKS)


def timeless(out: str) -> str:
    """A report with its timings masked (they differ from run to run)."""
    return re.sub(r"\d+\.\d+ s\b", "T s", out)


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def unforced(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)


@pytest.fixture
def seeds_env(tmp_path, seeds_copy, hash_encoder, cache_dir, monkeypatch):
    monkeypatch.setenv("QA_SEEDS_DIR", str(seeds_copy))
    return tmp_path


# ------------------------------------------------------------------ the rule


def test_shown_only_when_asked_and_on_a_terminal(unforced, monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress.shown(True)  # redirected stderr
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert progress.shown(True)
    assert not progress.shown(False)  # --json, the bot, the tests: never
    monkeypatch.setenv(progress.ENV, "0")
    assert not progress.shown(True)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setenv(progress.ENV, "1")
    assert progress.shown(True) and not progress.shown(False)


def test_quiet_bar_counts_and_draws_nothing(unforced, capsys):
    with progress.bar("step", 3, "item", True) as b:
        b.update(2)
        b.update()
    assert b.n == 3
    assert list(progress.track([1, 2], "step", "item", True)) == [1, 2]
    progress.write("a line")
    out, err = capsys.readouterr()
    assert out == "a line\n" and err == ""


def test_a_terminal_gets_a_bar_and_lines_printed_above_it(unforced, monkeypatch, capsys):
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with progress.bar("step", 4, "item", True) as b:
        b.update(2)
        progress.write("between")
        b.update(2)
    assert capsys.readouterr().out == "between\n"
    assert bar_counts(term.getvalue(), "step")[0] == (0, 4)
    assert term.getvalue().endswith("\r")  # the bar is cleared when its step ends


# ------------------------------------------------------------------ qa index


def test_index_with_stderr_redirected_draws_no_bar(seeds_env, unforced, capsys):
    assert main(["--index-dir", str(seeds_env / "idx"), "index"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Indexed 5 documents") and no_bar(err), err


def test_index_on_a_terminal_shows_each_step_with_counts(seeds_env, monkeypatch, capsys):
    assert main(["--index-dir", str(seeds_env / "plain"), "index"]) == 0
    plain = capsys.readouterr().out
    passages = int(re.search(r"(\d+) passages into", plain).group(1))

    monkeypatch.setenv(progress.ENV, "1")  # the forced terminal
    monkeypatch.setenv("QA_CACHE_DIR", str(seeds_env / "cache2"))  # nothing cached: every passage encoded
    assert main(["--index-dir", str(seeds_env / "idx"), "index"]) == 0
    out, err = capsys.readouterr()
    assert timeless(out.replace(str(seeds_env / "idx"), str(seeds_env / "plain"))) == timeless(plain)  # as before
    assert bar_counts(err, "reading")[0] == (0, 5)
    assert bar_counts(err, "embedding")[0] == (0, passages)
    assert bar_counts(err, "BM25")[0] == (0, passages)
    if annotate.available():
        assert bar_counts(err, "parsing")[0] == (0, 5)
    assert all(n <= total for name in ("reading", "embedding", "BM25") for n, total in bar_counts(err, name))

    # a refresh that changes one article embeds and parses only it
    article = next((seeds_env / "seeds").glob("*.txt"))
    article.write_text(article.read_text(encoding="utf-8") + "\nA new closing paragraph.\n", encoding="utf-8")
    assert main(["--index-dir", str(seeds_env / "idx"), "index"]) == 0
    err = capsys.readouterr().err
    assert bar_counts(err, "reading")[0] == (0, 5)
    assert 0 < bar_counts(err, "embedding")[0][1] < passages
    if annotate.available():
        assert bar_counts(err, "parsing")[0] == (0, 1)


def test_json_commands_draw_no_bar_even_on_a_terminal(seeds_env, monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV, "1")
    # no index yet: `ask --json` builds it first, without a bar
    assert main(["--index-dir", str(seeds_env / "idx"), "ask", "What did Lavrov say?", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["citations"] and "building it" in err and no_bar(err), err


# ------------------------------------------------------------------ qa eval


@pytest.fixture
def questions(seeds_env, capsys):
    assert main(["--index-dir", str(seeds_env / "idx"), "index"]) == 0
    capsys.readouterr()
    path = seeds_env / "q.jsonl"
    rows = [{"id": "a", "question": "What did Lavrov say?", "answers": ["Lavrov"]},
            {"id": "b", "question": "Where is Shikotan?", "answers": ["Shikotan"]},
            {"id": "c", "question": "Who won the 1998 World Cup?", "answers": [], "answerable": False}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_eval_bar_counts_questions_and_json_stays_clean(seeds_env, questions, monkeypatch, capsys):
    argv = ["--index-dir", str(seeds_env / "idx"), "eval", "--questions", str(questions)]
    monkeypatch.delenv(progress.ENV, raising=False)
    assert main(argv) == 0
    plain, err = capsys.readouterr()
    assert no_bar(err)

    monkeypatch.setenv(progress.ENV, "1")
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert bar_counts(err, "questions")[0] == (0, 3)
    assert timeless(out) == timeless(plain)

    assert main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["questions"] == 3 and no_bar(err), err
