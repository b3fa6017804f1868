"""Faults: kill -9 during a build, hot reload while serving, bad questions."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from qa.errors import QuestionError
from qa.index.build import build_index
from qa.index.store import current_version_name
from qa.question.query import clean_question
from qa.search.engine import Engine
from tests.conftest import ROOT

SLOW_BUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import qa.index.build
    from tests.conftest import HashEncoder

    class Slow(HashEncoder):
        def encode(self, texts, batch_size=32, progress=False):
            print("encoding", flush=True)
            time.sleep(60)
            return super().encode(texts)

    qa.index.build.load_encoder = lambda *a, **k: Slow()
    qa.index.build.build_index([Path(sys.argv[1])], Path(sys.argv[2]), full=True)
""")


def test_kill_9_during_build_leaves_the_previous_index(tmp_path, seeds_copy, hash_encoder, cache_dir):
    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    before = current_version_name(root)
    (seeds_copy / "extra.txt").write_text("Extra\nA brand new sentence about Shikotan. More text.\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(seeds_copy), str(root)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "encoding"  # the build is under way
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert current_version_name(root) == before
    assert Engine(root).search("Habomai", k=1)  # the previous index still answers
    report = build_index([seeds_copy], root)  # the lock died with the process
    assert report.added == ["extra"] and current_version_name(root) != before
    assert not list(root.glob(".build-*"))  # the half-built folder was cleaned up


def test_hot_reload_between_questions(tmp_path, seeds_copy, hash_encoder, cache_dir):
    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    engine = Engine(root)
    old = engine.index
    assert not engine.reload_if_changed()
    (seeds_copy / "zebra.txt").write_text("Zebra news\nThe zebra crossed the Nemuro strait. It swam well.\n")
    build_index([seeds_copy], root)
    # A question that started on the old version finishes there.
    assert old.bm25("Habomai", 1)
    assert engine.reload_if_changed()
    assert engine.search("zebra Nemuro", k=1)[0].doc_id == "zebra"
    # The old version's files are still readable by the reader that opened them.
    assert old.bm25("Habomai", 1)
    # Once the last question using it is done, the old reader is freed (its SQLite handle closed).
    import gc
    import weakref

    gone = weakref.ref(old)
    del old
    gc.collect()
    assert gone() is None


@pytest.mark.parametrize("q", ["", "   ", "\x00\x01\x02", "\n\t"])
def test_empty_questions_are_refused(q):
    with pytest.raises(QuestionError, match="empty"):
        clean_question(q)


def test_long_question_is_refused():
    with pytest.raises(QuestionError, match="10,000 characters"):
        clean_question("a" * 10_000)


@pytest.mark.parametrize("raw, clean", [
    ("<b>What</b> did <i>Lavrov</i> say?", "What did Lavrov say?"),
    ("**What** did _Lavrov_ say?", "What did Lavrov say?"),
    ("What did **_Kono_** say about [Aegis Ashore](https://example.com/a)?", "What did Kono say about Aegis Ashore?"),
    ("<p class='q'>Habomai &amp; Shikotan</p>", "Habomai & Shikotan"),
    ("Is 2*3 < 7 and snake_case_name > x?", "Is 2*3 < 7 and snake_case_name > x?"),  # not markup: kept
])
def test_markup_is_removed_from_questions(raw, clean):
    assert clean_question(raw) == clean


@pytest.mark.parametrize("q", ["<b>Lavrov</b> & Kono?", "**What** did _Lavrov_ say?", "🇯🇵🇷🇺🤝",
                               "ラブロフ外相は何と言いましたか", "Что сказал Лавров?", "a\x07b\x1bc"])
def test_odd_questions_get_an_answer_or_abstention(tmp_path, seeds_copy, hash_encoder, cache_dir, q):
    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    a = Engine(root).ask(q)
    assert a.question and isinstance(a.abstained, bool)
    assert a.abstained or a.citations
    assert "\x07" not in a.question and "\x1b" not in a.question
