"""The fake Bot API server works with the real python-telegram-bot client over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable

import pytest
from botapi_server import BOT_USER, BotAPIServer
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity, Update
from telegram.error import BadRequest, Conflict, EndPointNotFound, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

CHAT = 4242


@pytest.fixture
def server():
    with BotAPIServer(max_poll_timeout=2) as s:
        yield s


def run(coro: Awaitable, timeout: float = 8.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def with_bot(server: BotAPIServer, body: Callable[[Bot], Awaitable], token: str | None = None):
    async with Bot(token or server.token, base_url=server.base_url, base_file_url=server.base_file_url) as bot:
        return await body(bot)


async def with_app(server: BotAPIServer, handlers: list, body: Callable[[Application], Awaitable]):
    app = (
        Application.builder().token(server.token).base_url(server.base_url).base_file_url(server.base_file_url).build()
    )
    for h in handlers:
        app.add_handler(h)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            return await asyncio.wait_for(body(app), 5)
        finally:
            await app.updater.stop()
            await app.stop()


def raw_post(server: BotAPIServer, method: str, body: bytes = b"", ctype: str = "application/json", token=None):
    url = f"{server.base_url}{token or server.token}/{method}"
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# --------------------------------------------------------------------------- basics


def test_get_me(server):
    me = run(with_bot(server, lambda bot: bot.get_me()))
    assert me.id == 999 and me.is_bot and me.username == "newsqa_test_bot"
    assert me.first_name == "NewsQA" and me.can_join_groups and not me.can_read_all_group_messages
    assert me.supports_inline_queries is False
    assert server.calls_of("getMe")[0].params == {}


def test_wrong_token_is_invalid_token(server):
    with pytest.raises(InvalidToken):
        run(with_bot(server, lambda bot: bot.get_me(), token="111:WRONG"))
    status, payload = raw_post(server, "getMe", token="111:WRONG")
    assert status == 401 and payload == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert server.calls == []


def test_unknown_method(server):
    status, payload = raw_post(server, "fooBar", b"{}")
    assert status == 404
    assert payload == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
    with pytest.raises(EndPointNotFound):
        run(with_bot(server, lambda bot: bot.do_api_request("fooBar")))


def test_params_are_decoded_form_and_json(server):
    async def body(bot: Bot):
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
        return await bot.send_message(CHAT, "123", reply_markup=markup, disable_notification=True)

    msg = run(with_bot(server, body))
    assert msg.text == "123" and msg.from_user.id == BOT_USER["id"] and msg.chat.id == CHAT
    assert msg.reply_markup.inline_keyboard[0][0].callback_data == "more:1"
    method, params = server.sent[0]
    assert method == "sendMessage"
    assert params == {
        "chat_id": CHAT,
        "text": "123",  # stays a string although it looks like JSON
        "disable_notification": True,
        "reply_markup": {"inline_keyboard": [[{"text": "More", "callback_data": "more:1"}]]},
    }
    # a JSON body is accepted as well, and message ids increase per chat
    status, payload = raw_post(server, "sendMessage", json.dumps({"chat_id": CHAT, "text": "two"}).encode())
    assert status == 200 and payload["result"]["message_id"] == msg.message_id + 1
    assert server.texts(CHAT) == ["123", "two"]


# --------------------------------------------------------------------------- polling


def test_long_poll_wakes_on_inject_and_honours_offset(server):
    async def body(bot: Bot):
        threading.Timer(0.2, server.inject_text, args=(CHAT, "hello")).start()
        t0 = time.monotonic()
        first = await bot.get_updates(timeout=5)
        woke_after = time.monotonic() - t0
        again = await bot.get_updates(timeout=0)  # not confirmed yet -> same update
        t0 = time.monotonic()
        empty = await bot.get_updates(offset=first[-1].update_id + 1, timeout=1)
        waited = time.monotonic() - t0
        return first, woke_after, again, empty, waited

    first, woke_after, again, empty, waited = run(with_bot(server, body))
    assert [u.message.text for u in first] == ["hello"] and woke_after < 4  # woke before the 5 s timeout
    assert [u.update_id for u in again] == [first[0].update_id]
    assert empty == () and 0.9 <= waited < 5
    assert server.pending_updates() == []


def test_entities_for_commands_and_group_mentions(server):
    server.inject_text(CHAT, "/start@newsqa_test_bot now")
    server.inject_text(-100, "hey @newsqa_test_bot what's new?", user_id=7, chat_type="group")
    server.inject_text(CHAT, "naïve 🙂 @newsqa_test_bot")  # UTF-16 offsets

    updates = run(with_bot(server, lambda bot: bot.get_updates(timeout=0)))
    cmd, mention, utf16 = (u.message for u in updates)
    assert cmd.parse_entities([MessageEntity.BOT_COMMAND]) == {cmd.entities[0]: "/start@newsqa_test_bot"}
    assert mention.chat.type == "group" and mention.from_user.id == 7
    assert list(mention.parse_entities([MessageEntity.MENTION]).values()) == ["@newsqa_test_bot"]
    assert list(utf16.parse_entities().values()) == ["@newsqa_test_bot"]


def test_echo_application(server):
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"echo: {update.message.text}", do_quote=True)

    async def body(app: Application):
        server.inject_text(CHAT, "first")
        server.inject_text(CHAT, "second")
        return await server.async_wait_for_messages(CHAT, 2, timeout=4)

    sent = run(with_app(server, [MessageHandler(filters.TEXT, echo)], body))
    assert [c.params["text"] for c in sent] == ["echo: first", "echo: second"]
    assert sent[0].params["reply_parameters"]["message_id"] == 1  # reply_text replies to the user message
    assert sent[0].result["reply_to_message"]["text"] == "first"
    assert server.pending_updates() == []  # the updater confirmed them on stop


def test_callback_query_answered_and_message_edited(server):
    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer("loading…")
        await query.edit_message_text(f"you picked {query.data}")

    async def body(app: Application):
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more")]])
        msg = await app.bot.send_message(CHAT, "Pick one", reply_markup=markup)
        server.inject_callback(CHAT, CHAT, "more", msg.message_id)
        await server.async_wait_for_call("editMessageText")
        return msg

    msg = run(with_app(server, [CallbackQueryHandler(on_button)], body))
    answer = server.calls_of("answerCallbackQuery")
    assert len(answer) == 1 and answer[0].params == {
        "callback_query_id": server.last_callback_query_id,
        "text": "loading…",
    }
    assert server.message(CHAT, msg.message_id)["text"] == "you picked more"
    assert "reply_markup" not in server.message(CHAT, msg.message_id)


def test_inject_callback_requires_a_bot_message(server):
    server.inject_text(CHAT, "user text")
    with pytest.raises(ValueError, match="no bot message"):
        server.inject_callback(CHAT, CHAT, "x", 1)


# --------------------------------------------------------------------------- faults


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_429_surfaces_as_retry_after_then_delivers_once(server):
    server.fail_next("sendMessage", "429", retry_after=3)

    async def body(bot: Bot):
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(CHAT, "news")
        await bot.send_message(CHAT, "news")  # the retry
        return info.value

    err = run(with_bot(server, body))
    assert err.retry_after in (3, dt.timedelta(seconds=3))  # int in PTB 22 (deprecated), timedelta later
    assert "Retry in 3" in str(err)
    assert [(f.method, f.kind) for f in server.faults] == [("sendMessage", "429")]
    assert server.texts(CHAT) == ["news"]  # delivered exactly once


def test_500_and_drop_surface_as_network_errors(server):
    server.fail_next("sendMessage", "500")
    server.fail_next("sendMessage", "drop")

    async def body(bot: Bot):
        errors = []
        for _ in range(2):
            with pytest.raises(NetworkError) as info:
                await bot.send_message(CHAT, "x")
            errors.append(info.value)
        await bot.send_message(CHAT, "x")
        return errors

    errors = run(with_bot(server, body))
    assert "Internal Server Error" in str(errors[0])
    assert not isinstance(errors[0], RetryAfter)
    assert [f.kind for f in server.faults] == ["500", "drop"]
    assert len(server.sent) == 1


def test_lost_response_is_processed_but_client_sees_an_error(server):
    server.fail_next("sendMessage", "lost_response")

    async def body(bot: Bot):
        with pytest.raises(NetworkError):
            await bot.send_message(CHAT, "maybe twice")

    run(with_bot(server, body))
    assert server.texts(CHAT) == ["maybe twice"] and [f.kind for f in server.faults] == ["lost_response"]


def test_api_errors_bad_request(server):
    async def body(bot: Bot):
        out = []
        for kwargs in ({"text": "<b>unclosed", "parse_mode": "HTML"}, {"text": "1.5", "parse_mode": "MarkdownV2"}):
            with pytest.raises(BadRequest) as info:
                await bot.send_message(CHAT, **kwargs)
            out.append(str(info.value))
        msg = await bot.send_message(CHAT, "<b>ok</b> &amp; fine", parse_mode="HTML")
        out.append(msg.text)
        with pytest.raises(BadRequest) as info:
            await bot.edit_message_text("ok & fine", chat_id=CHAT, message_id=msg.message_id)
        out.append(str(info.value))
        with pytest.raises(BadRequest) as info:
            await bot.send_message(CHAT, "x" * 4097)
        out.append(str(info.value))
        return out

    html, mdv2, text, not_modified, too_long = run(with_bot(server, body))
    assert "parse entities" in html and "reserved" in mdv2
    assert text == "ok & fine"
    assert "not modified" in not_modified.lower() and "too long" in too_long.lower()


def test_commands_and_webhook(server):
    async def body(bot: Bot):
        await bot.set_my_commands([BotCommand("ask", "Ask a question"), BotCommand("help", "Help")])
        cmds = await bot.get_my_commands()
        await bot.set_webhook("https://example.invalid/hook")
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        await bot.delete_webhook()
        await bot.get_updates(timeout=0)
        await bot.delete_my_commands()
        return cmds, await bot.get_my_commands()

    cmds, after = run(with_bot(server, body))
    assert [c.command for c in cmds] == ["ask", "help"] and after == ()


# --------------------------------------------------------------------------- lifecycle


def test_stop_unblocks_long_pollers_quickly():
    server = BotAPIServer(max_poll_timeout=30).start()
    results = []

    def poll():
        results.append(raw_post(server, "getUpdates", b'{"timeout": 30}'))

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    server.wait_for_poller(timeout=2)
    t0 = time.monotonic()
    server.stop()
    t.join(timeout=10)
    # The poll asked for 30 s; stopping must wake it long before (loose bound: shared CI machine).
    assert time.monotonic() - t0 < 10 and not t.is_alive()
    assert results and results[0][1] == {"ok": True, "result": []}


def test_wait_for_times_out_with_context(server):
    server.inject_text(CHAT, "unanswered")
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match="1 message"):
        server.wait_for_messages(CHAT, 1, timeout=0.3)
    assert time.monotonic() - t0 < 3
