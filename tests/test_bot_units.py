"""Small pure parts of the bot: rate limiter, allowlist, token loading, log redaction, retries."""

from __future__ import annotations

import asyncio
import logging
import sys

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.limits import Allowlist, RateLimiter, parse_ids
from bot.secrets import RedactingFilter, TokenError, install_log_redaction, load_token, redact
from bot.sending import RetryingRateLimiter, _maybe_processed

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def test_rate_limiter_sliding_window():
    now = [0.0]
    rl = RateLimiter(3, 60, clock=lambda: now[0])
    assert [rl.check("u") for _ in range(3)] == [0.0, 0.0, 0.0]
    now[0] = 10
    assert rl.check("u") == pytest.approx(50)  # the first event leaves the window at t=60
    assert rl.check("v") == 0.0  # per key
    now[0] = 60.5
    assert rl.check("u") == 0.0
    assert RateLimiter(0).check("u") == 0.0  # 0 = unlimited


def test_allowlist():
    assert parse_ids(" 12, -100500 ,,") == {12, -100500}
    assert parse_ids("") == frozenset()
    with pytest.raises(ValueError, match="'x1' is not a Telegram"):
        parse_ids("1,x1")
    a = Allowlist({12, -100500})
    assert a.allows(12, 99) and a.allows(7, -100500) and not a.allows(7, 99)
    assert Allowlist().allows(7, 99)


def test_load_token(tmp_path):
    assert load_token({"TELEGRAM_BOT_TOKEN": f" {TOKEN}\n"}) == TOKEN
    f = tmp_path / "tok"
    f.write_text(TOKEN + "\n")
    assert load_token({"TELEGRAM_BOT_TOKEN_FILE": str(f)}) == TOKEN
    f.write_text("")
    with pytest.raises(TokenError, match="is empty"):
        load_token({"TELEGRAM_BOT_TOKEN_FILE": str(f)})
    with pytest.raises(TokenError, match="no bot token"):
        load_token({})
    bad = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0:123"
    with pytest.raises(TokenError) as exc:
        load_token({"TELEGRAM_BOT_TOKEN": bad})
    assert bad not in str(exc.value) and "\n" not in str(exc.value)


def test_redaction_of_messages_args_and_tracebacks():
    install_log_redaction(TOKEN)
    assert redact(f"POST https://api.telegram.org/bot{TOKEN}/getMe") == \
        "POST https://api.telegram.org/bot<redacted>/getMe"
    other = "bot555666:ZZZsecretZZZ"  # any token-shaped URL part, not only ours
    assert redact(f"url /{other}/x") == "url /bot<redacted>/x"
    assert TOKEN.split(":")[1] not in redact("secret half " + TOKEN.split(":")[1])
    rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s", (TOKEN,), None)
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected")
    except RuntimeError:
        rec.exc_info = sys.exc_info()
    RedactingFilter().filter(rec)
    out = logging.Formatter().format(rec)
    assert TOKEN not in out and "rejected" in out and "<redacted>" in out


def test_retry_classification():
    def wrapped(cause):
        try:
            try:
                raise cause
            except Exception as c:
                raise NetworkError(f"httpx.{type(c).__name__}") from c
        except NetworkError as exc:
            return exc

    assert not _maybe_processed(wrapped(httpx.ConnectError("refused")))
    assert _maybe_processed(wrapped(httpx.RemoteProtocolError("Server disconnected")))
    assert _maybe_processed(TimedOut())
    assert not _maybe_processed(NetworkError("Internal Server Error"))  # a 5xx answer
    assert not _maybe_processed(BadRequest("can't parse entities"))


def test_retrying_limiter_retries_network_errors_not_bad_requests():
    async def scenario():
        rl = RetryingRateLimiter(attempts=4, base_delay=0.01, flood_limits=False)
        calls = []

        async def flaky(*a, **k):
            calls.append(1)
            if len(calls) < 3:
                raise NetworkError("Internal Server Error")
            return {"ok": True}

        assert await rl.process_request(flaky, (), {}, "sendMessage", {"chat_id": 1}, None) == {"ok": True}
        assert len(calls) == 3 and rl.retries == 2

        for exc in (BadRequest("bad"), Forbidden("blocked")):
            n = []

            async def failing(*a, exc=exc, n=n, **k):
                n.append(1)
                raise exc

            with pytest.raises(type(exc)):
                await rl.process_request(failing, (), {}, "sendMessage", {"chat_id": 1}, None)
            assert len(n) == 1

        typing = []

        async def typing_fails(*a, **k):
            typing.append(1)
            raise NetworkError("down")

        with pytest.raises(NetworkError):
            await rl.process_request(typing_fails, (), {}, "sendChatAction", {"chat_id": 1}, None)
        assert len(typing) == 1  # typing is never retried

        flood = []

        async def flood_then_ok(*a, **k):
            flood.append(1)
            if len(flood) == 1:
                raise RetryAfter(0)
            return True

        assert await rl.process_request(flood_then_ok, (), {}, "sendMessage", {"chat_id": 1}, None) is True

    asyncio.run(asyncio.wait_for(scenario(), 10))
