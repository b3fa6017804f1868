"""Conversations over a real index (hash encoder): stand-alone questions answer exactly as
``Engine.ask``; follow-ups are asked as rewritten; the store expires, caps and follows replies;
``qa chat --json`` keeps its contract."""

import io
import json
from dataclasses import asdict

import pytest

from qa.chat.conversation import Conversation, Conversations
from qa.cli.chat import run_json
from qa.cli.main import main
from qa.search.engine import Engine
from qa.types import Answer


@pytest.fixture
def engine(tmp_path, seeds_copy, hash_encoder, cache_dir, monkeypatch):
    root = tmp_path / "idx"
    monkeypatch.setenv("QA_SEEDS_DIR", str(seeds_copy))
    assert main(["--index-dir", str(root), "index"]) == 0
    return Engine(root)


QUESTIONS = [
    "What did Lavrov say about the peace treaty?",
    "Which four islands are at the centre of the territorial dispute?",
    "How large was Russia-Japan trade in 2018?",
    "Who is Andrei Rudenko?",
    "What is the capital of Australia?",
    "Что сказал Лавров о мирном договоре?",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_first_turn_is_engine_ask(engine, question):
    assert asdict(Conversation(engine).ask(question)) == asdict(engine.ask(question))


def test_standalone_second_turns_are_engine_ask(engine):
    conv = Conversation(engine)
    for q in QUESTIONS:
        a = conv.ask(q)
        assert a.understood_as is None
        assert asdict(a) == asdict(engine.ask(q))


def test_follow_up_is_asked_as_rewritten(engine):
    conv = Conversation(engine)
    conv.ask("What did Lavrov say about the peace treaty?")
    a = conv.ask("and Kono?")
    assert a.question == "and Kono?"
    assert a.understood_as == "What did Kono say about the peace treaty?"
    expected = engine.ask("What did Kono say about the peace treaty?")
    assert (a.answer, a.abstained, a.citations) == (expected.answer, expected.abstained, expected.citations)
    # the next follow-up builds on the rewritten turn
    assert conv.ask("And about the islands?").understood_as == "What did Kono say about the islands?"
    assert conv.ask("What is the capital of Australia?").understood_as is None


def test_he_is_found_in_the_corpus(engine):
    conv = Conversation(engine)
    conv.ask("Who is Andrei Rudenko?")
    assert conv.ask("What did he tell Izvestia?").understood_as == "What did Andrei Rudenko tell Izvestia?"


def test_reset_forgets(engine):
    conv = Conversation(engine)
    conv.ask("What did Lavrov say about the peace treaty?")
    conv.reset()
    assert conv.ask("and Kono?").understood_as is None


def test_chat_json_one_answer_per_line(engine):
    out = io.StringIO()
    lines = io.StringIO("What did Lavrov say about the peace treaty?\n\nand Kono?\n/new\nand Kono?\n")
    assert run_json(engine, lines, out) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["question"] for r in rows] == ["What did Lavrov say about the peace treaty?", "and Kono?", "and Kono?"]
    assert [r["understood_as"] for r in rows] == [None, "What did Kono say about the peace treaty?", None]
    assert all({"question", "answer", "abstained", "citations", "short", "understood_as"} <= set(r) for r in rows)


def test_qa_chat_json_command(engine, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Who is Andrei Rudenko?\nWhat did he tell Izvestia?\n"))
    assert main(["--index-dir", str(engine.index_dir), "chat", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["understood_as"] for r in rows] == [None, "What did Andrei Rudenko tell Izvestia?"]


# ------------------------------------------------------------------ the store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Echo:
    """An engine that answers every question with itself."""

    def ask(self, question: str) -> Answer:
        return Answer(question=question, answer=f"About {question} [1].", abstained=False)


def test_store_expires_after_idle_time():
    clock = Clock()
    store = Conversations(Echo(), ttl=1800, clock=clock)
    store.get("a").ask("What did Lavrov say about the peace treaty?")
    clock.now += 1799
    assert store.get("a").last is not None
    clock.now += 1801
    assert store.get("a").last is None


def test_store_keeps_keys_apart_and_drops_the_oldest():
    store = Conversations(Echo(), cap=2, clock=Clock())
    store.get("a").ask("What did Lavrov say about the peace treaty?")
    store.get("b").ask("Who is Andrei Rudenko?")
    assert store.get("a").ask("and Kono?").understood_as == "What did Kono say about the peace treaty?"
    assert store.get("b").ask("and Kono?").understood_as == "Who is Kono?"
    store.get("c")
    assert len(store) == 2 and store.get("a").last is None  # "a" was the least recently used


def test_reply_to_an_older_answer_continues_from_it():
    clock = Clock()
    store = Conversations(Echo(), clock=clock)
    conv = store.get("k")
    conv.ask("What did Lavrov say about the peace treaty?")
    store.remember("m1", "k", conv)
    conv.ask("When did Japan ease visa requirements for Russians?")
    store.remember("m2", "k", conv)
    key, latest = store.for_reply("m2", "thread-m2")
    assert key == "k" and latest is conv
    key, branch = store.for_reply("m1", "thread-m1")
    assert key == "thread-m1" and branch is not conv
    assert branch.ask("and Kono?").understood_as == "What did Kono say about the peace treaty?"
    assert conv.ask("Why?").understood_as == "Why did Japan ease visa requirements for Russians?"
    assert store.for_reply("unknown", "t") is None
    clock.now += 3 * 3600
    assert store.for_reply("m1", "thread-m1") is None  # expired


def test_chat_json_goes_on_after_a_question_that_cannot_be_asked(tmp_path, seeds_copy, hash_encoder, cache_dir):
    import io
    import json

    from qa.cli.chat import run_json
    from qa.index.build import build_index
    from qa.search.engine import Engine

    build_index([seeds_copy], tmp_path / "idx")
    lines = io.StringIO("Who is Andrei Rudenko?\n<b></b>\n" + "x" * 3000 + "\nWhat did Lavrov say?\n/quit\nWhy?\n")
    out = io.StringIO()
    assert run_json(Engine(tmp_path / "idx"), lines, out) == 0
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(answers) == 4  # /quit ends the session: "Why?" is not read
    assert answers[1]["abstained"] and "empty" in answers[1]["answer"]
    assert answers[2]["abstained"] and "limit" in answers[2]["answer"] and len(answers[2]["question"]) <= 200
    assert not answers[3]["abstained"]


def test_a_follow_up_nothing_explains_asks_for_the_whole_question(tmp_path, seeds_copy, hash_encoder, cache_dir):
    from qa.chat.conversation import Conversation
    from qa.index.build import build_index
    from qa.search.engine import Engine

    build_index([seeds_copy], tmp_path / "idx")
    conv = Conversation(Engine(tmp_path / "idx"))
    first = conv.ask("why?")
    assert first.abstained and "ask the whole question" in first.answer and first.understood_as is None
    assert not conv.ask("What did Lavrov say?").abstained


class ReadsInContext:
    """An engine with a reader: it answers a question only when it names Rudenko."""

    reader = object()

    def __init__(self) -> None:
        self.asked: list[str] = []

    def ask(self, question: str) -> Answer:
        self.asked.append(question)
        if "Rudenko" not in question:
            return Answer(question=question, answer="The articles do not say.", abstained=True)
        return Answer(question=question, answer=f"About {question} [1].", abstained=False)


def test_unresolved_follow_up_is_read_with_the_question_before():
    engine = ReadsInContext()
    conv = Conversation(engine)
    conv.ask("Who is Andrei Rudenko?")
    got = conv.ask("why?")
    assert engine.asked == ["Who is Andrei Rudenko?", "why?", "Who is Andrei Rudenko? why?"]
    assert not got.abstained and got.question == "why?"
    assert got.understood_as == "Who is Andrei Rudenko? why?"
    assert conv.last.question == "Who is Andrei Rudenko? why?"


def test_unresolved_follow_up_without_a_reader_asks_for_the_whole_question():
    engine = ReadsInContext()
    engine.reader = None
    conv = Conversation(engine)
    conv.ask("Who is Andrei Rudenko?")
    got = conv.ask("why?")
    assert engine.asked == ["Who is Andrei Rudenko?", "why?"]  # never read in context
    assert got.abstained and "please ask the whole question" in got.answer


def test_follow_up_read_in_context_that_still_fails_keeps_its_own_answer():
    engine = ReadsInContext()
    conv = Conversation(engine)
    conv.ask("Who is Taro Kono?")
    got = conv.ask("why?")
    assert engine.asked[-1] == "Who is Taro Kono? why?"
    assert got.abstained and got.understood_as is None and "please ask the whole question" in got.answer
