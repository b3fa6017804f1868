"""The real PTB Application, long polling against the fake Bot API server, with a fake engine.

Each test builds its own Application (``build_application``), runs it on an event loop in a
background thread and drives it through ``tests.botapi_server.BotAPIServer``: injected
messages and button presses in, recorded Bot API calls out. The fake engine returns canned
answers instantly, so the tests need no model and no index (one ``slow`` test at the end uses
the real engine over the seeds).
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time

import httpx
import pytest

from bot.app import ALLOWED_UPDATES, api_urls, build_application
from bot.feedback import FeedbackStore
from bot.handlers import UNREACHABLE
from bot.render import MAX_MESSAGE
from qa.errors import ArchiveUnreachable
from qa.types import Answer, Citation, CorpusStats, Hit, SourceInfo
from tests.botapi_server import BOT_USER, BotAPIServer

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
SECRET = TOKEN.split(":")[1]
BOT_NAME = BOT_USER["username"]
BOT_ID = BOT_USER["id"]
GROUP = -100500



# ------------------------------------------------------------------ a fake engine


def _cite(n: int, text: str, title: str, source: str = "Kyodo", date: str | None = "2019-01-14") -> Citation:
    return Citation(rank=n, doc_id=f"doc{n}", chunk_id=f"doc{n}#{n}", score=0.9, text=text, title=title,
                    source=source, date=date, path=f"seeds/doc{n}.txt", start=0, end=len(text), n=n)


PASSAGE_1 = "Russian Foreign Minister Sergei Lavrov announced the start of the negotiation process. " * 3
PASSAGE_2 = "Taro Kono said Japan & Russia would work <carefully> on the treaty."


class FakeEngine:
    """Canned answers; a few magic words trigger errors, slowness and long answers."""

    version = "v-fake-1"

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.searched: list[tuple[str, int]] = []
        self.reloads = 0
        self.reload_error: Exception | None = None
        self._lock = threading.Lock()

    def reload_if_changed(self) -> bool:
        self.reloads += 1
        if self.reload_error is not None:
            raise self.reload_error
        return False

    def ask(self, question: str) -> Answer:
        with self._lock:
            self.asked.append(question)
        if "boom" in question:
            raise RuntimeError("engine exploded")
        if "archive down" in question:
            raise ArchiveUnreachable("the archive is unreachable: no Milvus answered at http://milvus:19530 "
                                     "within 10 s (is it running?)")
        if "slow" in question:
            time.sleep(1.0)
        if "nothing" in question:
            return Answer(question=question, answer="The articles don't cover this.", abstained=True)
        cites = [_cite(1, PASSAGE_1, "Dialogue on the peace treaty <b>started</b>", "EastRussia"),
                 _cite(2, PASSAGE_2, "Kono & Lavrov meet", "Kyodo", None)]
        if "long" in question:
            body = " ".join(f"Sentence {i} of a very long answer about the treaty & the islands [{i % 2 + 1}]."
                            for i in range(200))
            return Answer(question=question, answer=body, abstained=False, citations=cites)
        return Answer(question=question, answer=f"You asked: {question} Lavrov announced the talks [1]. "
                      f"Kono agreed [2].", abstained=False, citations=cites)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        self.searched.append((query, k))
        # folded results (qa.search.retrieve.fold_overlaps): chunk ids differ from the citations', spans overlap
        hits = [Hit(rank=i, doc_id=f"doc{i}", chunk_id=f"doc{i}#{i}+doc{i}#{i + 1}", score=1 / i,
                    text=f"Extra passage {i} & more.",
                    title=f"Result {i}", source="TASS", date="2020-02-0" + str(i % 9 + 1), path=None, start=0, end=9)
                for i in range(1, k + 1)]
        return hits

    def stats(self) -> CorpusStats:
        return CorpusStats(documents=5, passages=120, outlets=["EastRussia", "Kyodo", "TASS"],
                           date_min="2013-04-29", date_max="2025-01-10")

    def sources(self) -> list[SourceInfo]:
        return [SourceInfo(f"doc{i}", f"Article <{i}>", "Kyodo", "2019-01-1" + str(i), None, "en", 4)
                for i in range(5)]


# ------------------------------------------------------------------ running the bot


class RunningBot:
    """An Application polling the fake server on an event loop in a background thread."""

    def __init__(self, app) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bot-loop", daemon=True)

    def _call(self, coro, timeout: float = 15.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> RunningBot:
        self.thread.start()

        async def start() -> None:
            await self.app.initialize()
            await self.app.post_init(self.app)
            await self.app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=2)
            await self.app.start()

        self._call(start())
        return self

    def stop(self) -> None:
        async def stop() -> None:
            if self.app.updater.running:
                await self.app.updater.stop()
            if self.app.running:
                await self.app.stop()
            await self.app.shutdown()
            await self.app.post_shutdown(self.app)

        try:
            self._call(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)

    @property
    def qa(self):
        return self.app.bot_data["qa"]


@pytest.fixture
def server():
    with BotAPIServer(token=TOKEN, max_poll_timeout=2) as s:
        yield s


@pytest.fixture
def engine():
    return FakeEngine()


@pytest.fixture
def start_bot(server, engine, tmp_path):
    """``start_bot(**settings)`` -> a running bot; stopped at the end of the test."""
    running: list[RunningBot] = []

    def start(eng=None, **settings) -> RunningBot:
        settings.setdefault("feedback_db", tmp_path / "feedback.sqlite")
        settings.setdefault("retry_base_delay", 0.05)
        app = build_application(eng or engine, TOKEN, base_url=server.base_url, **settings)
        bot = RunningBot(app).start()
        running.append(bot)
        return bot

    yield start
    for b in running:
        b.stop()


def keyboard(call) -> list[list[dict]]:
    return (call.params.get("reply_markup") or {}).get("inline_keyboard", [])


def button_data(call) -> list[str]:
    return [b["callback_data"] for row in keyboard(call) for b in row]


def answers_in(server, chat_id) -> list:
    """Messages to ``chat_id`` that end an answer (they carry the answer buttons)."""
    return [m for m in server.messages(chat_id) if any(d.startswith("f:") for d in button_data(m))]


def quiet_for(server, chat_id, seconds: float = 0.3) -> None:
    """Fail if anything more is sent to ``chat_id`` within ``seconds``."""
    n = len(server.messages(chat_id))
    time.sleep(seconds)
    assert len(server.messages(chat_id)) == n, server.describe()


# ------------------------------------------------------------------ conversation


def test_start_describes_corpus_with_three_example_buttons(server, start_bot):
    start_bot()
    server.inject_text(42, "/start")
    (msg,) = server.wait_for_messages(42, 1)
    text = msg.result["text"]
    assert "5 news articles" in text and "3 outlets" in text and "EastRussia, Kyodo, TASS" in text
    assert "2013-04-29 to 2025-01-10" in text
    assert msg.params["parse_mode"] == "HTML"
    rows = keyboard(msg)
    assert len(rows) == 3 and [r[0]["callback_data"] for r in rows] == ["ex:0", "ex:1", "ex:2"]
    assert all(r[0]["text"].endswith("?") for r in rows)


def test_example_button_asks_that_question(server, start_bot, engine):
    start_bot(examples=("What did Lavrov say?", "Q2?", "Q3?"))
    server.inject_text(42, "/start")
    (start,) = server.wait_for_messages(42, 1)
    server.inject_callback(42, 42, "ex:0", start.result["message_id"])
    server.wait_for(lambda: answers_in(server, 42), message="the example's answer")
    assert engine.asked == ["What did Lavrov say?"]
    server.wait_for_call("answerCallbackQuery")


def test_commands_registered_and_help(server, start_bot):
    start_bot()
    server.wait_for(lambda: server.commands(), message="setMyCommands")
    assert [c["command"] for c in server.commands()] == ["ask", "new", "sources", "start", "help"]
    server.inject_text(42, "/help")
    (msg,) = server.wait_for_messages(42, 1)
    assert "/ask QUESTION" in msg.result["text"] and f"@{BOT_NAME}" in msg.result["text"]


def test_private_text_gets_cited_answer_with_buttons(server, start_bot, engine):
    start_bot()
    server.inject_text(42, "what did Lavrov say")
    (msg,) = server.wait_for_messages(42, 1)
    assert msg.params["parse_mode"] == "HTML"
    html = msg.params["text"]
    assert "<b>[1]</b>" in html and "<b>Sources</b>" in html
    text = msg.result["text"]
    assert "You asked: what did Lavrov say Lavrov announced the talks [1]. Kono agreed [2]." in text
    assert "[1] EastRussia, 2019-01-14 — Dialogue on the peace treaty <b>started</b>" in text
    assert "[2] Kyodo, undated — Kono & Lavrov meet" in text
    data = button_data(msg)
    assert [d[:2] for d in data] == ["p:", "m:", "f:", "f:"]
    assert all(len(d.encode()) <= 64 for d in data)
    assert msg.result["reply_to_message"]["text"] == "what did Lavrov say"
    assert server.calls_of("sendChatAction")[0].params["action"] == "typing"
    assert engine.reloads == 1  # reload_if_changed before the question


def test_abstention_has_no_passages_button(server, start_bot):
    start_bot()
    server.inject_text(42, "nothing about this")
    (msg,) = server.wait_for_messages(42, 1)
    assert "don't cover" in msg.result["text"]
    assert [d[:2] for d in button_data(msg)] == ["m:", "f:", "f:"]


def test_group_stays_quiet_unless_addressed(server, start_bot, engine):
    start_bot()
    server.inject_text(GROUP, "what did Lavrov say", user_id=7, chat_type="group")
    server.inject_text(GROUP, "someone mentions @other_user_name here", user_id=7, chat_type="group")
    # /ask afterwards: replies come in order, so once it is answered the others were handled
    server.inject_text(GROUP, "/ask who is Kono", user_id=7, chat_type="group")
    server.wait_for_messages(GROUP, 1)
    quiet_for(server, GROUP)
    (msg,) = server.messages(GROUP)
    assert "You asked: who is Kono" in msg.result["text"]
    assert engine.asked == ["who is Kono"]


def test_group_mention_is_answered_without_the_mention(server, start_bot, engine):
    start_bot()
    server.inject_text(GROUP, f"@{BOT_NAME} what did Lavrov say?", user_id=7, chat_type="supergroup")
    (msg,) = server.wait_for_messages(GROUP, 1)
    assert engine.asked == ["what did Lavrov say?"]
    assert msg.result["reply_to_message"]["from"]["id"] == 7
    assert button_data(msg)


def test_group_reply_to_the_bot_is_answered(server, start_bot, engine):
    start_bot()
    server.inject_text(GROUP, "/ask first question", user_id=7, chat_type="group")
    (first,) = server.wait_for_messages(GROUP, 1)
    server.inject_text(GROUP, "and what did Kono say", user_id=8, chat_type="group",
                       reply_to_message=first.result["message_id"])
    server.wait_for_messages(GROUP, 2)
    assert engine.asked == ["first question", "and what did Kono say"]


def test_group_ask_with_bot_name_and_empty_ask(server, start_bot, engine):
    start_bot()
    server.inject_text(GROUP, f"/ask@{BOT_NAME} where are the islands", user_id=7, chat_type="group")
    server.inject_text(GROUP, "/ask@some_other_bot ignored question", user_id=7, chat_type="group")
    server.inject_text(GROUP, "/ask", user_id=7, chat_type="group")
    msgs = server.wait_for_messages(GROUP, 2)
    quiet_for(server, GROUP)
    assert engine.asked == ["where are the islands"]
    assert "Usage: /ask QUESTION" in msgs[1].result["text"]


def test_sources_lists_articles(server, start_bot):
    start_bot()
    server.inject_text(42, "/sources")
    (msg,) = server.wait_for_messages(42, 1)
    assert "5 articles" in msg.result["text"] and "Article <3>" in msg.result["text"]


def test_unknown_private_command_points_to_help(server, start_bot, engine):
    start_bot()
    server.inject_text(42, "/frobnicate")
    (msg,) = server.wait_for_messages(42, 1)
    assert "/help" in msg.result["text"] and engine.asked == []
    server.inject_text(GROUP, "/frobnicate", user_id=7, chat_type="group")  # groups: silence
    server.inject_text(GROUP, "/ask q", user_id=7, chat_type="group")
    server.wait_for_messages(GROUP, 1)
    quiet_for(server, GROUP)
    assert len(server.messages(GROUP)) == 1


# ------------------------------------------------------------------ buttons


def _ask(server, chat_id: int, question: str, user_id: int | None = None, chat_type: str = "private"):
    n = len(answers_in(server, chat_id))
    server.inject_text(chat_id, question, user_id=user_id, chat_type=chat_type)
    server.wait_for(lambda: len(answers_in(server, chat_id)) > n, message=f"answer to {question!r}")
    return answers_in(server, chat_id)[-1]


def test_passages_button_shows_cited_passages_in_full(server, start_bot):
    start_bot()
    ans = _ask(server, 42, "what did Lavrov say")
    p = next(d for d in button_data(ans) if d.startswith("p:"))
    server.inject_callback(42, 42, p, ans.result["message_id"])
    msgs = server.wait_for_messages(42, 2)
    text = msgs[1].result["text"]
    assert " ".join(PASSAGE_1.split()) in text and PASSAGE_2 in text
    assert "<blockquote>" in msgs[1].params["text"] and "&lt;carefully&gt;" in msgs[1].params["text"]
    assert msgs[1].result["reply_to_message"]["message_id"] == ans.result["message_id"]
    server.wait_for_call("answerCallbackQuery")


def test_more_button_searches_and_skips_cited_passages(server, start_bot, engine):
    start_bot()
    ans = _ask(server, 42, "what did Lavrov say")
    m = next(d for d in button_data(ans) if d.startswith("m:"))
    server.inject_callback(42, 42, m, ans.result["message_id"])
    msgs = server.wait_for_messages(42, 2)
    text = msgs[1].result["text"]
    assert text.startswith("More results for what did Lavrov say")
    assert "Result 1" not in text and "Result 2" not in text  # they overlap the cited doc1#1, doc2#2
    assert "Result 3" in text and "Result 7" in text and "Extra passage 3 & more." in text
    assert engine.searched == [("what did Lavrov say", 9)]


def test_feedback_buttons_store_one_rating_per_user(server, start_bot, tmp_path):
    db = tmp_path / "fb" / "feedback.sqlite"
    start_bot(feedback_db=db)
    ans = _ask(server, 42, "what did Lavrov say")
    up, down = [d for d in button_data(ans) if d.startswith("f:")]
    server.inject_callback(42, 42, up, ans.result["message_id"])
    call = server.wait_for_call("answerCallbackQuery")
    assert "recorded" in call.params["text"]
    store = FeedbackStore(db)
    rows = server.wait_for(lambda: store.rows(), message="a feedback row")
    (row,) = rows
    assert row["rating"] == 1 and row["question"] == "what did Lavrov say"
    assert row["answer"].startswith("You asked:") and '"doc_id": "doc1"' in row["citations"]
    assert row["index_version"] == "v-fake-1" and row["ts"].endswith("+00:00")
    assert row["user"] == store.pseudonym(42) and "42" not in (row["user"], row["chat"])
    server.inject_callback(42, 42, down, ans.result["message_id"])  # change of mind
    server.wait_for(lambda: len(server.calls_of("answerCallbackQuery")) == 2)
    server.wait_for(lambda: store.rows()[0]["rating"] == -1, message="the rating to change")
    assert len(store.rows()) == 1
    store.close()


def test_button_of_a_forgotten_answer(server, start_bot):
    bot = start_bot(answers_kept=1)
    first = _ask(server, 42, "first")
    _ask(server, 42, "second")  # pushes the first out of the bounded map
    assert len(bot.qa.answers) == 1
    server.inject_callback(42, 42, button_data(first)[0], first.result["message_id"])
    call = server.wait_for_call("answerCallbackQuery")
    assert "ask the question again" in call.params["text"] and call.params["show_alert"] is True


# ------------------------------------------------------------------ limits


def test_rate_limit_gives_a_friendly_reply(server, start_bot, engine):
    start_bot(rate_per_minute=2)
    for q in ("q one", "q two", "q three"):
        server.inject_text(42, q)
    msgs = server.wait_for_messages(42, 3)
    assert engine.asked == ["q one", "q two"]
    assert "at most 2 questions a minute" in msgs[2].result["text"]
    server.inject_text(43, "another user")  # per user
    server.wait_for_messages(43, 1)
    assert engine.asked[-1] == "another user"


def test_allowlist_refuses_others(server, start_bot, engine):
    start_bot(allowed_ids=frozenset({42, GROUP}))
    server.inject_text(77, "let me in")
    (refused,) = server.wait_for_messages(77, 1)
    assert "private bot" in refused.result["text"]
    server.inject_text(42, "allowed user")
    server.inject_text(GROUP, "/ask allowed group", user_id=5, chat_type="group")
    server.wait_for_messages(42, 1)
    server.wait_for_messages(GROUP, 1)
    assert sorted(engine.asked) == ["allowed group", "allowed user"]


def test_long_question_is_politely_refused(server, start_bot, engine):
    start_bot(max_question_chars=1000)
    server.inject_text(42, "why " * 300)
    (msg,) = server.wait_for_messages(42, 1)
    assert "too long (1,199 characters)" in msg.result["text"] and "under 1,000" in msg.result["text"]
    assert engine.asked == []


def test_question_markup_is_neither_interpreted_nor_searched(server, start_bot):
    start_bot()
    server.inject_text(42, "is <b>this</b> & <i>that</i> bold?")
    (msg,) = server.wait_for_messages(42, 1)
    # The tags are dropped from the question (clean_question); what is left is escaped.
    assert "You asked: is this &amp; that bold?" in msg.params["text"]
    assert "<b>this</b>" not in msg.params["text"] and "&lt;b&gt;this" not in msg.params["text"]
    assert "You asked: is this & that bold?" in msg.result["text"]


def test_long_answer_is_split_into_several_messages(server, start_bot):
    start_bot()
    server.inject_text(42, "give me a long answer")
    server.wait_for(lambda: answers_in(server, 42), message="the last part")
    msgs = server.messages(42)
    assert len(msgs) >= 3
    assert all(len(m.params["text"]) <= MAX_MESSAGE for m in msgs)
    assert [bool(button_data(m)) for m in msgs] == [False] * (len(msgs) - 1) + [True]
    assert "reply_to_message" in msgs[0].result and "reply_to_message" not in msgs[1].result
    text = " ".join(m.result["text"] for m in msgs)
    assert all(f"Sentence {i} of a very long answer" in text for i in range(200))
    assert text.rstrip().endswith("Kono & Lavrov meet")


# ------------------------------------------------------------------ errors, reloads, ordering


def test_engine_error_apologises_and_keeps_answering(server, start_bot, engine, caplog):
    start_bot()
    with caplog.at_level(logging.ERROR, logger="bot.handlers"):
        server.inject_text(42, "boom please")
        (apology,) = server.wait_for_messages(42, 1)
    assert apology.result["text"].startswith("Sorry — something went wrong")
    assert any(r.exc_info and "engine exploded" in str(r.exc_info[1]) for r in caplog.records)
    server.inject_text(42, "and now a normal question")
    msgs = server.wait_for_messages(42, 2)
    assert "You asked: and now a normal question" in msgs[1].result["text"]


def test_unreachable_archive_is_said_in_one_line_and_the_bot_keeps_running(server, start_bot, engine, caplog):
    engine.reload_error = ArchiveUnreachable("the Milvus archive at http://milvus:19530 did not answer within 10 s")
    start_bot()
    with caplog.at_level(logging.WARNING, logger="bot.handlers"):
        server.inject_text(42, "archive down: who spoke?")
        (reply,) = server.wait_for_messages(42, 1)
    assert reply.result["text"] == UNREACHABLE
    logged = [r for r in caplog.records if "milvus:19530" in r.getMessage()]
    assert logged and not any(r.exc_info for r in logged)  # one line each: no traceback
    engine.reload_error = None
    server.inject_text(42, "and once it is back?")
    msgs = server.wait_for_messages(42, 2)
    assert "You asked: and once it is back?" in msgs[1].result["text"]


def test_failed_reload_keeps_the_old_index(server, start_bot, engine, caplog):
    engine.reload_error = OSError("index folder vanished")
    start_bot()
    with caplog.at_level(logging.WARNING, logger="bot.handlers"):
        server.inject_text(42, "still works?")
        (msg,) = server.wait_for_messages(42, 1)
    assert "You asked: still works?" in msg.result["text"]
    assert any("keeping the current one" in r.getMessage() for r in caplog.records)


def test_chats_run_concurrently_and_each_chat_in_order(server, start_bot, engine):
    start_bot(workers=2, rate_per_minute=0)
    server.inject_text(1, "slow first")
    server.inject_text(1, "fast second")
    server.inject_text(1, "fast third")
    server.inject_text(2, "fast other chat")
    server.wait_for(lambda: len(answers_in(server, 1)) == 3, timeout=10)
    order = [m.result["chat"]["id"] for m in server.sent]
    assert order.index(2) < len(order) - 3  # chat 2 was not held up by chat 1's slow question
    texts = [m.result["text"] for m in answers_in(server, 1)]
    assert [t.split(" Lavrov")[0] for t in texts] == ["You asked: slow first", "You asked: fast second",
                                                      "You asked: fast third"]


# ------------------------------------------------------------------ delivery under faults


@pytest.mark.parametrize("kind", ["429", "500", "drop"])
def test_send_faults_are_retried_exactly_one_reply(server, start_bot, kind):
    start_bot()
    server.fail_next("sendMessage", kind, retry_after=1)
    t = time.monotonic()
    server.inject_text(42, "what did Lavrov say")
    server.wait_for_messages(42, 1, timeout=10)
    quiet_for(server, 42, 0.5)
    assert len(server.messages(42)) == 1
    assert [(f.method, f.kind) for f in server.faults] == [("sendMessage", kind)]
    if kind == "429":
        assert time.monotonic() - t >= 1.0  # waited retry_after


def test_repeated_faults_then_success(server, start_bot):
    start_bot()
    server.fail_next("sendMessage", "500", count=2)
    server.fail_next("sendMessage", "drop", count=1)
    server.inject_text(42, "q")
    server.wait_for_messages(42, 1, timeout=10)
    quiet_for(server, 42, 0.3)
    assert len(server.messages(42)) == 1 and len(server.faults) == 3


def test_lost_response_is_retried_at_least_once_delivery(server, start_bot):
    """Documented trade-off (bot/sending.py): when the server processed the message but the
    response was lost, the retry delivers a second copy rather than risk losing the answer."""
    bot = start_bot()
    server.fail_next("sendMessage", "lost_response")
    server.inject_text(42, "q")
    server.wait_for_messages(42, 2, timeout=10)
    quiet_for(server, 42, 0.3)
    assert len(server.messages(42)) == 2
    assert bot.app.bot.rate_limiter.ambiguous_retries == 1


def test_blocked_user_is_not_retried_and_bot_keeps_running(server, start_bot):
    start_bot()
    server.block_user(42)
    server.inject_text(42, "q")
    server.wait_for_call("sendMessage", ok=False)
    time.sleep(0.3)
    assert len(server.calls_of("sendMessage")) == 2  # the answer and the apology, each tried once
    server.inject_text(43, "q2")
    server.wait_for_messages(43, 1)


# ------------------------------------------------------------------ secrets


def test_token_never_in_logs(server, engine, tmp_path):
    """DEBUG logging during a whole session (start, answers, a fault, a button, stop)."""
    root = logging.getLogger()
    early = io.StringIO()
    early_handler = logging.StreamHandler(early)  # present when the bot is built: gets the filter
    old_level = root.level
    root.addHandler(early_handler)
    root.setLevel(logging.DEBUG)
    late = io.StringIO()
    late_handler = logging.StreamHandler(late)
    try:
        app = build_application(engine, TOKEN, base_url=server.base_url, feedback_db=tmp_path / "f.sqlite",
                                retry_base_delay=0.05)
        root.addHandler(late_handler)  # added afterwards: covered by the record factory
        logging.getLogger("httpx").setLevel(logging.DEBUG)  # even if someone turns httpx up again
        bot = RunningBot(app).start()
        try:
            server.fail_next("sendMessage", "500")
            ans = _ask(server, 42, "what did Lavrov say")
            server.inject_callback(42, 42, button_data(ans)[0], ans.result["message_id"])
            server.wait_for_messages(42, 2)
            logging.getLogger("test").error("url was https://api.telegram.org/bot%s/getMe", TOKEN)
        finally:
            bot.stop()
    finally:
        root.removeHandler(early_handler)
        root.removeHandler(late_handler)
        root.setLevel(old_level)
        logging.getLogger("httpx").setLevel(logging.WARNING)
    for out in (early.getvalue(), late.getvalue()):
        assert "getUpdates" in out and "sendMessage" in out  # it did log the session
        assert TOKEN not in out and SECRET not in out
        assert "bot<redacted>/getMe" in out


def test_api_urls():
    assert api_urls("http://127.0.0.1:8081") == ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot")
    assert api_urls("http://h:1/bot/") == ("http://h:1/bot", "http://h:1/file/bot")


# ------------------------------------------------------------------ webhook mode


def test_webhook_mode_with_secret_token(server, engine, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = build_application(engine, TOKEN, base_url=server.base_url, feedback_db=tmp_path / "f.sqlite")
    bot = RunningBot(app)
    bot.thread.start()

    async def start() -> None:
        await app.initialize()
        await app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="hook",
                                        webhook_url="https://bot.example.org/hook", secret_token="s3cret",
                                        allowed_updates=ALLOWED_UPDATES)
        await app.start()

    bot._call(start())
    try:
        assert server.webhook_url == "https://bot.example.org/hook"
        assert server.calls_of("setWebhook")[0].params["secret_token"] == "s3cret"
        update = {"update_id": 1, "message": {
            "message_id": 1, "date": 0, "text": "via webhook?", "chat": {"id": 42, "type": "private"},
            "from": {"id": 42, "is_bot": False, "first_name": "U"}}}
        url = f"http://127.0.0.1:{port}/hook"
        bad = httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
        assert bad.status_code == 403
        ok = httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"})
        assert ok.status_code == 200
        (msg,) = server.wait_for_messages(42, 1)
        assert "You asked: via webhook?" in msg.result["text"]
        assert engine.asked == ["via webhook?"]
    finally:
        bot.stop()


# ------------------------------------------------------------------ bot.main.run


def _args(**kw):
    return dict(index_dir=None, webhook=None, listen="127.0.0.1", port=8443, **kw)


@pytest.mark.parametrize("env, expect", [
    ({}, "no bot token: set TELEGRAM_BOT_TOKEN"),
    ({"TELEGRAM_BOT_TOKEN": "not-a-token-AAHdqTcvCH1vGWJxfSeof"}, "does not look like a bot token"),
    ({"TELEGRAM_BOT_TOKEN": "12345:short"}, "does not look like a bot token"),
    ({"TELEGRAM_BOT_TOKEN": "123456789 AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"}, "does not look like a bot token"),
    ({"TELEGRAM_BOT_TOKEN_FILE": "/nonexistent/token"}, "cannot read the token file"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "QA_BOT_ALLOWED_IDS": "12,abc"}, "'abc' is not a Telegram user or chat id"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "QA_BOT_RATE_PER_MINUTE": "ten"}, "QA_BOT_RATE_PER_MINUTE must be a whole"),
], ids=["missing", "malformed", "short", "space", "no-file", "bad-allowlist", "bad-rate"])
def test_run_config_errors_are_one_line(monkeypatch, capsys, env, expect):
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN_FILE", "QA_BOT_ALLOWED_IDS", "QA_BOT_RATE_PER_MINUTE"):
        monkeypatch.delenv(name, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    import qa.search.engine
    from bot.main import run

    monkeypatch.setattr(qa.search.engine.Engine, "open", classmethod(lambda *a, **k: pytest.fail("engine opened")))
    assert run(**_args()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qa: error: ") and expect in err
    token = env.get("TELEGRAM_BOT_TOKEN", "")
    if token:
        assert token not in err and token.split(":")[-1] not in err and token[4:] not in err


def test_run_token_from_file_rejected_by_server(monkeypatch, capsys, tmp_path, server, engine):
    """A well-formed token the server rejects: exit 1, one line, token not echoed (PTB's own
    InvalidToken message contains it)."""
    wrong = "987654321:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
    (tmp_path / "token").write_text(wrong + "\n")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("QA_TELEGRAM_BASE_URL", server.root_url)
    monkeypatch.setenv("QA_FEEDBACK_DB", str(tmp_path / "fb.sqlite"))
    fake = replace_engine(monkeypatch, engine)
    from bot.main import run

    assert run(**_args()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rejected the token" in err and wrong not in err
    assert fake.warmed
    asyncio.set_event_loop(asyncio.new_event_loop())  # run_polling closed the loop it used


def test_run_polls_answers_and_stops_cleanly(monkeypatch, capsys, tmp_path, server, engine):
    """``bot.main.run`` end to end: env settings, QA_TELEGRAM_BASE_URL, run_polling, exit 0."""
    from telegram import Update
    from telegram.ext import TypeHandler

    import bot.main

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("QA_TELEGRAM_BASE_URL", server.root_url)
    monkeypatch.setenv("QA_FEEDBACK_DB", str(tmp_path / "fb.sqlite"))
    monkeypatch.setenv("QA_BOT_ALLOWED_IDS", "42")
    monkeypatch.setenv("QA_BOT_MAX_QUESTION_CHARS", "20")
    replace_engine(monkeypatch, engine)
    built = {}

    def build(*args, **kwargs):
        app = build_application(*args, **kwargs)

        async def grab_loop(update, context):
            built["loop"] = asyncio.get_running_loop()

        app.add_handler(TypeHandler(Update, grab_loop), group=-2)
        built["app"], built["settings"] = app, kwargs
        return app

    monkeypatch.setattr(bot.main, "build_application", build)

    def drive():
        server.inject_text(42, "short question")
        server.inject_text(42, "a question that is far too long")
        server.inject_text(43, "not allowed")
        server.wait_for_messages(42, 2)
        server.wait_for_messages(43, 1)
        built["loop"].call_soon_threadsafe(built["app"].stop_running)

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    try:
        assert bot.main.run(**_args()) == 0
    finally:
        asyncio.set_event_loop(asyncio.new_event_loop())  # run_polling closed the loop it used
    driver.join(5)
    texts = server.texts(42)
    assert "You asked: short question" in texts[0] and "too long" in texts[1]
    assert "private bot" in server.texts(43)[0]
    assert engine.asked == ["short question"] and engine.warmed
    assert built["settings"]["allowed_ids"] == frozenset({42})
    assert server.commands()  # post_init ran under run_polling
    assert TOKEN not in capsys.readouterr().err


def test_run_webhook_mode(monkeypatch, tmp_path, server, engine):
    """``qa bot --webhook URL``: setWebhook with the secret from QA_WEBHOOK_SECRET, serves the URL's path."""
    import socket

    import bot.main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("QA_TELEGRAM_BASE_URL", server.base_url)
    monkeypatch.setenv("QA_FEEDBACK_DB", str(tmp_path / "fb.sqlite"))
    monkeypatch.setenv("QA_WEBHOOK_SECRET", "hook-secret_1")
    replace_engine(monkeypatch, engine)
    built: dict = {}

    def build(*args, **kwargs):
        app = build_application(*args, **kwargs)
        post_init = app.post_init

        async def post_init_and_grab_loop(app):
            await post_init(app)
            built["loop"] = asyncio.get_running_loop()

        app.post_init = post_init_and_grab_loop
        built["app"] = app
        return app

    monkeypatch.setattr(bot.main, "build_application", build)
    update = {"update_id": 5, "message": {"message_id": 1, "date": 0, "text": "hooked?",
                                          "chat": {"id": 42, "type": "private"},
                                          "from": {"id": 42, "is_bot": False, "first_name": "U"}}}

    def drive():
        try:
            server.wait_for_call("setWebhook")
            url = f"http://127.0.0.1:{port}/tg/hook"
            for _ in range(50):  # the listener starts right after setWebhook
                try:
                    built["wrong"] = httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "x"})
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            built["ok"] = httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret_1"})
            server.wait_for_messages(42, 1)
        finally:
            built["loop"].call_soon_threadsafe(built["app"].stop_running)

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    args = dict(index_dir=None, webhook="https://bot.example.org/tg/hook", listen="127.0.0.1", port=port)
    try:
        assert bot.main.run(**args) == 0
    finally:
        asyncio.set_event_loop(asyncio.new_event_loop())  # run_webhook closed the loop it used
    driver.join(5)
    assert built["wrong"].status_code == 403 and built["ok"].status_code == 200
    call = server.calls_of("setWebhook")[0]
    assert call.params["url"] == "https://bot.example.org/tg/hook" and call.params["secret_token"] == "hook-secret_1"
    assert "You asked: hooked?" in server.texts(42)[0]


def test_run_rejects_http_webhook(monkeypatch, capsys):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    from bot.main import run

    assert run(index_dir=None, webhook="http://x/hook", listen="", port=1) == 1
    err = capsys.readouterr().err
    assert "https://" in err and TOKEN not in err


def replace_engine(monkeypatch, engine):
    import qa.search.engine

    engine.warmed = False

    def warm_up():
        engine.warmed = True

    engine.warm_up = warm_up
    monkeypatch.setattr(qa.search.engine.Engine, "open", classmethod(lambda cls, *a, **k: engine))
    return engine


# ------------------------------------------------------------------ the real engine (slow)


@pytest.mark.slow
def test_real_engine_answers_lavrov_in_private_chat(server, tmp_path):
    from qa.search.engine import Engine

    engine = Engine.open(tmp_path / "idx")
    app = build_application(engine, TOKEN, base_url=server.base_url, feedback_db=tmp_path / "f.sqlite")
    bot = RunningBot(app).start()
    try:
        server.inject_text(42, "what did Lavrov say")
        server.wait_for(lambda: answers_in(server, 42), timeout=120, message="the answer")
        msgs = server.messages(42)
        text = " ".join(m.result["text"] for m in msgs)
        assert "Lavrov" in text and "[1]" in text and "Sources" in text
        assert all(m.params["parse_mode"] == "HTML" and len(m.params["text"]) <= MAX_MESSAGE for m in msgs)
        ans = answers_in(server, 42)[-1]
        server.inject_callback(42, 42, next(d for d in button_data(ans) if d.startswith("m:")),
                               ans.result["message_id"])
        more = server.wait_for_messages(42, len(msgs) + 1, timeout=60)[-1]
        assert more.result["text"].startswith("More results for")
    finally:
        bot.stop()

