# ruff: noqa: F811  (pytest fixtures imported from test_bot_telegram are the test functions' arguments)
"""Follow-ups in Telegram: the real PTB client against the fake Bot API server, a fake engine.

The conversations are qa.chat.conversation's; the bot only chooses whose conversation a message
continues (private chat, group member, reply to an answer) and starts one over on /new.
"""

from __future__ import annotations

from tests.test_bot_telegram import GROUP, answers_in, engine, server, start_bot  # noqa: F401

LAVROV = "What did Lavrov say about the peace treaty?"
VISA = "When did Japan ease visa requirements for Russians?"


def ask(server, chat_id: int, text: str, n: int, **kw) -> dict:
    """Send ``text``; wait for the ``n``-th answer in the chat and return its message."""
    server.inject_text(chat_id, text, **kw)
    server.wait_for(lambda: len(answers_in(server, chat_id)) >= n, message=f"answer {n} in chat {chat_id}")
    return answers_in(server, chat_id)[n - 1].result


def test_private_follow_up(server, start_bot, engine):
    start_bot()
    first = ask(server, 42, LAVROV, 1)
    assert "Understood as" not in first["text"]
    second = ask(server, 42, "and Kono?", 2)
    assert engine.asked == [LAVROV, "What did Kono say about the peace treaty?"]
    assert second["text"].startswith("Understood as: What did Kono say about the peace treaty?")


def test_group_members_keep_their_own_conversations(server, start_bot, engine):
    start_bot()
    ask(server, GROUP, f"/ask {LAVROV}", 1, user_id=7, chat_type="group")
    ask(server, GROUP, f"/ask {VISA}", 2, user_id=8, chat_type="group")
    ask(server, GROUP, "/ask and Kono?", 3, user_id=7, chat_type="group")
    ask(server, GROUP, "/ask Why?", 4, user_id=8, chat_type="group")
    assert engine.asked[2:] == ["What did Kono say about the peace treaty?",
                                "Why did Japan ease visa requirements for Russians?"]


def test_reply_to_an_older_answer_continues_it(server, start_bot, engine):
    start_bot()
    first = ask(server, 42, LAVROV, 1)
    ask(server, 42, VISA, 2)
    ask(server, 42, "and Kono?", 3, reply_to_message=first["message_id"])
    assert engine.asked[-1] == "What did Kono say about the peace treaty?"
    ask(server, 42, "Why?", 4)  # not a reply: the chat's own conversation goes on from its last question
    assert engine.asked[-1] == "Why did Japan ease visa requirements for Russians?"


def test_reply_in_a_group_from_another_member(server, start_bot, engine):
    start_bot()
    first = ask(server, GROUP, f"/ask {LAVROV}", 1, user_id=7, chat_type="group")
    ask(server, GROUP, "and Kono?", 2, user_id=8, chat_type="group", reply_to_message=first["message_id"])
    assert engine.asked[-1] == "What did Kono say about the peace treaty?"


def test_conversation_expires_when_idle(server, start_bot, engine):
    bot = start_bot()
    now = [1000.0]
    bot.qa.conversations.clock = lambda: now[0]
    ask(server, 42, LAVROV, 1)
    now[0] += 31 * 60
    second = ask(server, 42, "and Kono?", 2)
    assert engine.asked[-1] == "and Kono?" and "Understood as" not in second["text"]


def test_new_starts_over(server, start_bot, engine):
    start_bot()
    ask(server, 42, LAVROV, 1)
    server.inject_text(42, "/new")
    server.wait_for(lambda: any("New conversation" in t for t in server.texts(42)), message="the /new reply")
    ask(server, 42, "and Kono?", 2)
    assert engine.asked[-1] == "and Kono?"


def test_understood_as_is_escaped():
    from bot.render import answer_html
    from qa.types import Answer

    html = answer_html(Answer("and <b>?", "Text [1].", False, understood_as="What about <b>X</b> & Y?"))
    assert html.startswith("<i>Understood as: What about &lt;b&gt;X&lt;/b&gt; &amp; Y?</i>")
