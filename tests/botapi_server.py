"""A fake Telegram Bot API server for tests and benchmarks (stdlib only).

The real python-telegram-bot client talks to it over real HTTP::

    with BotAPIServer() as server:
        app = (
            Application.builder()
            .token(server.token)
            .base_url(server.base_url)
            .base_file_url(server.base_file_url)
            .build()
        )
        server.inject_text(42, "hello")
        ...  # run the bot
        server.wait_for_messages(42, 1)

The server runs a ``ThreadingHTTPServer`` in a daemon thread, so it can be driven
from synchronous tests, from a benchmark script or from inside an event loop (use
the ``async_*`` wait helpers there: the blocking ones would stall the loop the bot
runs on).

Request format (what PTB v22 sends): ``POST {base_url}{token}/{method}``, body
``application/x-www-form-urlencoded`` (``multipart/form-data`` when uploading files),
where every non-string value is JSON-encoded (``chat_id=42``, ``reply_markup={...}``,
``disable_notification=true``) and string values are sent raw. Parameterless calls such
as ``getMe`` have an empty body. JSON bodies and query strings are accepted too.

Behaviour mirrors the real API where it matters for a bot: per-chat message ids,
``offset``/``timeout``/``limit``/``allowed_updates`` for ``getUpdates`` (with 409 when two
pollers overlap or a webhook is set), 400 for empty/too long texts, HTML that does not
parse, unescaped MarkdownV2 reserved characters, edits that change nothing, callback data
over 64 bytes, invalid bot commands and unknown callback query ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["ApiError", "BotAPIServer", "Call", "Fault", "BOT_USER"]

BOT_USER: dict[str, Any] = {
    "id": 999,
    "is_bot": True,
    "first_name": "NewsQA",
    "username": "newsqa_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
FAULT_KINDS = ("429", "500", "drop", "lost_response")
# Methods whose successful calls are also recorded in ``BotAPIServer.sent``.
SENT_METHODS = frozenset({"sendMessage"})
# Parameters that are strings even if they look like JSON ("123", "true", ...).
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "business_connection_id",
        "url",
        "action",
        "language_code",
        "secret_token",
        "message_effect_id",
        "ip_address",
        "description",
        "short_description",
        "name",
        "title",
        "emoji",
        "query",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}\b")


class ApiError(Exception):
    """Raised by method handlers to produce an ``{"ok": false}`` response."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class Call:
    """One request the server answered normally (successfully or with an API error).

    Iterating yields ``(method, params)`` so ``for method, params in server.calls`` works.
    """

    method: str  # canonical camelCase name, e.g. "sendMessage"
    params: dict[str, Any]  # decoded: ints are ints, reply_markup is a dict
    ok: bool
    result: Any = None  # the "result" returned on success (e.g. the Message dict)
    error_code: int | None = None
    description: str | None = None
    at: float = field(default_factory=time.monotonic)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.params))


@dataclass
class Fault:
    """One request that hit an injected fault (``fail_next``)."""

    method: str
    params: dict[str, Any]
    kind: str  # "429" | "500" | "drop" | "lost_response"
    at: float = field(default_factory=time.monotonic)


@dataclass
class _PendingFault:
    kind: str
    count: int
    retry_after: int


# --------------------------------------------------------------------------- helpers


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """bot_command at offset 0 for "/cmd[@bot]", mention for every "@username"."""
    entities: list[dict[str, Any]] = []
    command_end = 0
    if text.startswith("/"):
        m = re.match(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{5,32})?", text)
        if m:
            command_end = m.end()
            entities.append({"type": "bot_command", "offset": 0, "length": _utf16_len(m.group())})
    for m in _MENTION_RE.finditer(text):
        if m.start() < command_end:
            continue
        entities.append({"type": "mention", "offset": _utf16_len(text[: m.start()]), "length": _utf16_len(m.group())})
    return entities


def _decode_value(key: str, value: str) -> Any:
    """Undo PTB's per-value JSON encoding of form fields."""
    if key in _STRING_PARAMS or not value:
        return value
    if value[0] in '{["-0123456789tfn':
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class _HTMLChecker(HTMLParser):
    """Validates Telegram's HTML subset and collects the plain text."""

    ALLOWED = frozenset(
        {
            "b",
            "strong",
            "i",
            "em",
            "u",
            "ins",
            "s",
            "strike",
            "del",
            "span",
            "tg-spoiler",
            "a",
            "code",
            "pre",
            "blockquote",
            "tg-emoji",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.parts: list[str] = []
        self.error: str | None = None

    def _fail(self, msg: str) -> None:
        if self.error is None:
            self.error = msg

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.ALLOWED:
            self._fail(f'Unsupported start tag "{tag}" at byte offset {self.getpos()[1]}')
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._fail(f'Unsupported start tag "{tag}" at byte offset {self.getpos()[1]}')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self._fail(f'Unexpected end tag "{tag}" at byte offset {self.getpos()[1]}')
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _parse_html(text: str) -> str:
    checker = _HTMLChecker()
    checker.feed(text)
    checker.close()
    if checker.error is None and checker.stack:
        checker.error = f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    if checker.error:
        raise ApiError(400, f"Bad Request: can't parse entities: {checker.error}")
    return "".join(checker.parts)


_MDV2_ALWAYS_RESERVED = frozenset("#+-={}.!")


def _parse_markdown_v2(text: str) -> str:
    """Light check: reserved characters that are never markup must be escaped.

    Skips code spans/blocks and link URLs, where only ``)``/`` ` `` and ``\\`` matter.
    Returns the text with backslash escapes removed (markup characters are kept).
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = text.find(fence, i + len(fence))
            if end == -1:
                entity = "Pre" if len(fence) == 3 else "Code"
                raise ApiError(
                    400, f"Bad Request: can't parse entities: Can't find end of {entity} entity at byte offset {i}"
                )
            out.append(text[i + len(fence) : end])
            i = end + len(fence)
            continue
        if ch == "]" and text.startswith("](", i):
            end = text.find(")", i + 2)
            if end == -1:
                raise ApiError(400, f"Bad Request: can't parse entities: Can't find end of a URL at byte offset {i}")
            i = end + 1
            continue
        if ch in _MDV2_ALWAYS_RESERVED:
            raise ApiError(
                400,
                f"Bad Request: can't parse entities: Character '{ch}' is reserved and must be escaped with the "
                "preceding '\\'",
            )
        if ch not in "*_~|[":
            out.append(ch)
        i += 1
    return "".join(out)


def _validate_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []) or []:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not (1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES):
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")


# --------------------------------------------------------------------------- HTTP layer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: httpx pools connections
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.api._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.api._track_connection(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:
        with self.server.api._request():
            self._dispatch()

    def do_GET(self) -> None:
        with self.server.api._request():
            self._dispatch()

    def _read_params(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        params: dict[str, Any] = {}
        query = urlsplit(self.path).query
        for k, v in parse_qsl(query, keep_blank_values=True):
            params[k] = _decode_value(k, v)
        if not body:
            return params
        if ctype.startswith("application/json"):
            params.update(json.loads(body))
        elif ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if part.get_filename() is not None:
                    params[name] = {"filename": part.get_filename(), "content": payload}
                else:
                    params[name] = _decode_value(name, payload.decode("utf-8"))
        else:
            for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
                params[k] = _decode_value(k, v)
        return params

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # client gave up (e.g. a cancelled long poll)
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _dispatch(self) -> None:
        api = self.server.api
        path = urlsplit(self.path).path
        try:
            params = self._read_params()
        except (ValueError, UnicodeDecodeError) as exc:
            self._send_json(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
            return
        prefix = f"/{api.path_prefix}"
        if not path.startswith(prefix) or path.count("/") != 2:
            self._send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, _, method = path[len(prefix) :].partition("/")
        if token != api.token:
            self._send_json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        status, payload, drop = api._handle(method, params)
        if drop:
            self._drop()
        else:
            self._send_json(status, payload)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    api: BotAPIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], OSError):  # disconnects during shutdown/cancellation
            return
        super().handle_error(request, client_address)


# --------------------------------------------------------------------------- the server


class BotAPIServer:
    """Fake Bot API. Start with ``start()``/``stop()`` or ``with BotAPIServer() as server:``.

    Args:
        token: the only accepted token (others get 401 -> ``telegram.error.InvalidToken``).
        max_poll_timeout: cap (seconds) on how long ``getUpdates`` blocks, whatever the client asks.
        strict_chats: if True, sending to a chat never seen in an injected update is
            400 "chat not found"; otherwise the chat is created on the fly.
    """

    path_prefix = "bot"

    def __init__(
        self,
        token: str = "123456:TEST-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_poll_timeout: float = 5.0,
        strict_chats: bool = False,
    ) -> None:
        self.token = token
        self.bot_user: dict[str, Any] = dict(BOT_USER)
        self.max_poll_timeout = max_poll_timeout
        self.strict_chats = strict_chats
        self._host, self._port = host, port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition(threading.RLock())
        self._stopping = False
        self._in_flight = 0  # requests being handled (a woken long poll still has to write its answer)
        self._connections: set[socket.socket] = set()
        self._handlers: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {}
        for name in (
            "getMe",
            "getUpdates",
            "sendMessage",
            "editMessageText",
            "editMessageReplyMarkup",
            "answerCallbackQuery",
            "sendChatAction",
            "setMyCommands",
            "getMyCommands",
            "deleteMyCommands",
            "deleteWebhook",
            "setWebhook",
            "getWebhookInfo",
            "close",
            "logOut",
        ):
            self._handlers[name.lower()] = (name, getattr(self, f"_m_{name}"))
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> BotAPIServer:
        if self._httpd is not None:
            return self
        self._stopping = False
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.api = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-botapi", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()  # wake long-pollers and wait_for callers
            # Let the woken polls write their (empty) answers before connections are cut below.
            deadline = time.monotonic() + 2
            while self._in_flight and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
        httpd.shutdown()
        with self._cond:
            conns = list(self._connections)
        for conn in conns:  # unblock keep-alive handler threads stuck in recv()
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def __enter__(self) -> BotAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all state (updates, messages, records, faults, commands, webhook)."""
        with self._cond:
            self._updates: list[dict[str, Any]] = []  # pending (unconfirmed) updates, ascending ids
            self._update_ids = itertools.count(1000)
            self._delivered: set[int] = set()
            self._chats: dict[int | str, dict[str, Any]] = {}
            self._next_message_id: dict[int | str, int] = {}
            self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
            self._callback_ids = itertools.count(1)
            self._open_callbacks: set[str] = set()
            self._calls: list[Call] = []
            self._sent: list[Call] = []
            self._faults: list[Fault] = []
            self._pending_faults: dict[str, list[_PendingFault]] = {}
            self._commands: dict[str, list[dict[str, Any]]] = {}
            self._webhook_url = ""
            self._poll_seq = 0
            self._active_poll = 0
            self._waiting_polls = 0
            self._blocked: set[int | str] = set()
            self.last_injected_message: dict[str, Any] | None = None
            self.last_callback_query_id: str | None = None
            self._cond.notify_all()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)`` / ``ApplicationBuilder.base_url``: PTB appends the token."""
        return f"{self.root_url}/{self.path_prefix}"

    @property
    def base_file_url(self) -> str:
        """For ``base_file_url``; file downloads are not served (404)."""
        return f"{self.root_url}/file/{self.path_prefix}"

    # ------------------------------------------------------------------ records

    @property
    def calls(self) -> list[Call]:
        """Snapshot of every normally answered request (including getUpdates and API errors)."""
        with self._cond:
            return list(self._calls)

    @property
    def sent(self) -> list[Call]:
        """Snapshot of successful sendMessage calls (``call.result`` is the Message dict)."""
        with self._cond:
            return list(self._sent)

    @property
    def faults(self) -> list[Fault]:
        """Snapshot of requests that hit an injected fault; these are NOT in ``calls``/``sent``
        (except ``lost_response``, which is processed and therefore in both)."""
        with self._cond:
            return list(self._faults)

    def calls_of(self, method: str, *, ok: bool | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if c.method.lower() == method.lower() and (ok is None or c.ok == ok)]

    def messages(self, chat_id: int | str | None = None) -> list[Call]:
        """Successful sendMessage calls, optionally only those to ``chat_id``."""
        with self._cond:
            return [c for c in self._sent if chat_id is None or c.result["chat"]["id"] == chat_id]

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        return [c.result["text"] for c in self.messages(chat_id)]

    def message(self, chat_id: int | str, message_id: int) -> dict[str, Any]:
        """Current state of a stored message (bot-sent or injected), reflecting edits."""
        with self._cond:
            return copy.deepcopy(self._messages[(chat_id, message_id)])

    def pending_updates(self) -> list[int]:
        """update_ids not yet confirmed by a getUpdates offset."""
        with self._cond:
            return [u["update_id"] for u in self._updates]

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        with self._cond:
            return list(self._commands.get(self._commands_key(scope, language_code), []))

    @property
    def webhook_url(self) -> str:
        return self._webhook_url

    # ------------------------------------------------------------------ waiting

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, message: str = "condition") -> Any:
        """Block until ``predicate()`` is truthy and return its value, or raise AssertionError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {message}\n{self.describe()}")
                self._cond.wait(min(remaining, 0.1))

    def wait_for_messages(self, chat_id: int | str, n: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until at least ``n`` messages were sent to ``chat_id``; returns them all."""
        return self.wait_for(
            lambda: (m := self.messages(chat_id)) and len(m) >= n and m,
            timeout,
            f"{n} message(s) to chat {chat_id}",
        )

    def wait_for_call(
        self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 5.0, *, ok: bool = True
    ) -> Call:
        """Wait for the first ``method`` call (successful by default) matching ``predicate``."""

        def find() -> Call | None:
            for c in self.calls_of(method, ok=ok if ok else None):
                if predicate is None or predicate(c):
                    return c
            return None

        return self.wait_for(find, timeout, f"a {method} call")

    @property
    def polls_waiting(self) -> int:
        """Number of getUpdates requests currently in progress (blocked in long polling)."""
        with self._cond:
            return self._waiting_polls

    def wait_for_poller(self, timeout: float = 5.0) -> None:
        """Wait until a client is long-polling (e.g. the bot under test has started)."""
        self.wait_for(lambda: self._waiting_polls > 0, timeout, "a getUpdates long poll")

    def wait_for_update_delivered(self, update_id: int, timeout: float = 5.0) -> None:
        """Wait until ``update_id`` was returned by some getUpdates call."""
        self.wait_for(lambda: update_id in self._delivered, timeout, f"update {update_id} to be fetched")

    async def async_wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, message: str = "condition"):
        """Like ``wait_for`` but for use inside the event loop that runs the bot."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout, message)

    async def async_wait_for_messages(self, chat_id: int | str, n: int = 1, timeout: float = 5.0) -> list[Call]:
        return await asyncio.to_thread(self.wait_for_messages, chat_id, n, timeout)

    async def async_wait_for_call(
        self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 5.0, *, ok: bool = True
    ) -> Call:
        return await asyncio.to_thread(self.wait_for_call, method, predicate, timeout, ok=ok)

    def describe(self, last: int = 15) -> str:
        """Human-readable summary of recent activity, used in assertion messages."""
        with self._cond:
            lines = [f"pending updates: {[u['update_id'] for u in self._updates]}", f"last {last} calls:"]
            for c in [c for c in self._calls if c.method != "getUpdates"][-last:]:
                status = "ok" if c.ok else f"{c.error_code} {c.description}"
                lines.append(f"  {c.method} {json.dumps(c.params, default=str)[:200]} -> {status}")
            polls = sum(1 for c in self._calls if c.method == "getUpdates")
            lines.append(f"getUpdates calls: {polls}; faults: {[(f.method, f.kind) for f in self._faults]}")
            return "\n".join(lines)

    # ------------------------------------------------------------------ injection

    def _user(self, user_id: int, first_name: str | None = None, username: str | None = None) -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"User{user_id}",
            "username": username or f"user{user_id}",
            "language_code": "en",
        }

    def _chat(self, chat_id: int | str, chat_type: str | None = None, title: str | None = None) -> dict[str, Any]:
        """Get or create the chat object (call with the lock held)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_type is None:
                if self.strict_chats:
                    raise ApiError(400, "Bad Request: chat not found")
                chat_type = "private" if isinstance(chat_id, int) and chat_id > 0 else "group"
            if chat_type == "private":
                chat = {"id": chat_id, "type": "private", "first_name": f"User{chat_id}", "username": f"user{chat_id}"}
            elif chat_type in ("group", "supergroup"):
                chat = {"id": chat_id, "type": chat_type, "title": title or f"Group {chat_id}"}
            else:
                raise ValueError(f"unsupported chat_type {chat_type!r}")
            self._chats[chat_id] = chat
        return chat

    def _new_message_id(self, chat_id: int | str) -> int:
        mid = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = mid + 1
        return mid

    def _push_update(self, kind: str, obj: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, kind: obj})
        self._cond.notify_all()
        return update_id

    def inject_text(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        chat_type: str = "private",
        reply_to_message: int | dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
        *,
        first_name: str | None = None,
        username: str | None = None,
        chat_title: str | None = None,
    ) -> int:
        """Enqueue a text message update from a user; returns its update_id.

        ``user_id`` defaults to ``chat_id`` (private chats). ``reply_to_message`` is a
        message_id in the same chat (e.g. of a message the bot sent) or a full dict.
        ``entities=None`` computes bot_command/mention entities (UTF-16 offsets); pass
        ``[]`` for none. The message itself is available via ``last_injected_message``.
        """
        if chat_type not in ("private", "group", "supergroup"):
            raise ValueError(f"unsupported chat_type {chat_type!r}")
        if chat_type != "private" and user_id is None:
            raise ValueError("user_id is required for group messages")
        user_id = chat_id if user_id is None else user_id
        with self._cond:
            chat = self._chat(chat_id, chat_type, chat_title)
            if chat["type"] != chat_type:
                raise ValueError(f"chat {chat_id} already exists with type {chat['type']}")
            msg: dict[str, Any] = {
                "message_id": self._new_message_id(chat_id),
                "from": self._user(user_id, first_name, username),
                "chat": chat,
                "date": int(time.time()),
                "text": text,
            }
            ents = _auto_entities(text) if entities is None else entities
            if ents:
                msg["entities"] = ents
            if reply_to_message is not None:
                if isinstance(reply_to_message, int):
                    key = (chat_id, reply_to_message)
                    if key not in self._messages:
                        raise ValueError(f"no message {reply_to_message} in chat {chat_id} to reply to")
                    reply_to_message = self._messages[key]
                msg["reply_to_message"] = {
                    k: v for k, v in copy.deepcopy(reply_to_message).items() if k != "reply_to_message"
                }
            self._messages[(chat_id, msg["message_id"])] = msg
            self.last_injected_message = msg
            return self._push_update("message", copy.deepcopy(msg))

    def inject_callback(
        self, chat_id: int, user_id: int, data: str, message_id: int, *, first_name: str | None = None
    ) -> int:
        """Enqueue a callback_query (button press) on a message the bot sent; returns update_id.

        The message is snapshotted as it is now (including edits so far). The generated
        callback query id is available as ``last_callback_query_id``.
        """
        with self._cond:
            message = self._messages.get((chat_id, message_id))
            if message is None or message["from"]["id"] != self.bot_user["id"]:
                raise ValueError(f"no bot message {message_id} in chat {chat_id}\n{self.describe()}")
            cq_id = f"cq{next(self._callback_ids)}"
            self._open_callbacks.add(cq_id)
            self.last_callback_query_id = cq_id
            cq = {
                "id": cq_id,
                "from": self._user(user_id, first_name),
                "message": copy.deepcopy(message),
                "chat_instance": f"ci{chat_id}",
                "data": data,
            }
            return self._push_update("callback_query", cq)

    def block_user(self, chat_id: int | str) -> None:
        """Further sends to ``chat_id`` fail with 403 "bot was blocked by the user"."""
        with self._cond:
            self._blocked.add(chat_id)

    # ------------------------------------------------------------------ faults

    def fail_next(self, method: str, kind: str | int, count: int = 1, retry_after: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` ("*" = any method except getUpdates) fail.

        kind: "429" (HTTP 429 + parameters.retry_after), "500" (HTTP 500), "drop" (close the
        connection without answering; the request is not processed) or "lost_response"
        (processed and recorded, then the connection is closed - simulates a lost reply).
        """
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        with self._cond:
            self._pending_faults.setdefault(method.lower(), []).append(_PendingFault(kind, count, retry_after))

    def clear_faults(self) -> None:
        with self._cond:
            self._pending_faults.clear()

    def _take_fault(self, method: str) -> _PendingFault | None:
        keys = [method.lower()] + (["*"] if method.lower() != "getupdates" else [])
        for key in keys:
            queue = self._pending_faults.get(key)
            if queue:
                fault = queue[0]
                fault.count -= 1
                if fault.count <= 0:
                    queue.pop(0)
                return fault
        return None

    # ------------------------------------------------------------------ dispatch

    def register_method(self, name: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        """Add/override a method: ``handler(params) -> result``; raise ApiError for errors."""
        self._handlers[name.lower()] = (name, handler)

    @contextlib.contextmanager
    def _request(self):
        """Count a request as in flight until its answer is written (``stop`` waits for them)."""
        with self._cond:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _track_connection(self, conn: socket.socket, add: bool) -> None:
        with self._cond:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        """Returns (http status, JSON payload, drop connection)."""
        entry = self._handlers.get(method.lower())
        name = entry[0] if entry else method
        with self._cond:
            fault = self._take_fault(name) if entry else None
            if fault is not None:
                self._faults.append(Fault(name, params, fault.kind))
                self._cond.notify_all()
        if fault is not None and fault.kind == "429":
            desc = f"Too Many Requests: retry after {fault.retry_after}"
            payload = {
                "ok": False,
                "error_code": 429,
                "description": desc,
                "parameters": {"retry_after": fault.retry_after},
            }
            return 429, payload, False
        if fault is not None and fault.kind == "500":
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}, False
        if fault is not None and fault.kind == "drop":
            return 0, {}, True
        if entry is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}, False
        try:
            result = entry[1](params)
        except ApiError as exc:
            with self._cond:
                self._calls.append(Call(name, params, False, None, exc.code, exc.description))
                self._cond.notify_all()
            payload = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                payload["parameters"] = exc.parameters
            return exc.code, payload, False
        with self._cond:
            call = Call(name, params, True, result)
            self._calls.append(call)
            if name in SENT_METHODS:
                self._sent.append(call)
            self._cond.notify_all()
        return 200, {"ok": True, "result": result}, fault is not None  # lost_response drops after processing

    # ------------------------------------------------------------------ API methods

    @staticmethod
    def _require(params: dict[str, Any], *names: str) -> None:
        for n in names:
            if params.get(n) in (None, ""):
                raise ApiError(400, f"Bad Request: {n} is empty" if n == "text" else f"Bad Request: {n} is required")

    @staticmethod
    def _chat_id(params: dict[str, Any]) -> int | str:
        cid = params.get("chat_id")
        if cid in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(cid, str):
            with contextlib.suppress(ValueError):
                return int(cid)
        return cid

    @staticmethod
    def _render_text(text: Any, parse_mode: str | None) -> str:
        if text is None or text == "":
            raise ApiError(400, "Bad Request: message text is empty")
        text = str(text)
        mode = (parse_mode or "").lower()
        if mode == "html":
            text = _parse_html(text)
        elif mode == "markdownv2":
            text = _parse_markdown_v2(text)
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    def _m_getMe(self, params: dict[str, Any]) -> Any:
        return self.bot_user

    def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        timeout = max(0.0, min(float(params.get("timeout") or 0), self.max_poll_timeout))
        allowed = params.get("allowed_updates") or None
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._webhook_url:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                    "the webhook first",
                )
            self._poll_seq += 1
            me = self._active_poll = self._poll_seq
            self._cond.notify_all()  # an older poller gets 409, like the real API
            if offset is not None:
                offset = int(offset)
                if offset < 0:
                    self._updates = self._updates[offset:]
                else:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._waiting_polls += 1
            try:
                while True:
                    batch = [u for u in self._updates if not allowed or any(k in u for k in allowed)][:limit]
                    if batch or self._stopping:
                        break
                    if self._active_poll != me:
                        raise ApiError(
                            409,
                            "Conflict: terminated by other getUpdates request; make sure that only one bot "
                            "instance is running",
                        )
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            finally:
                self._waiting_polls -= 1
            self._delivered.update(u["update_id"] for u in batch)
            return batch

    def _store_bot_message(self, chat_id: int | str, params: dict[str, Any], text: str) -> dict[str, Any]:
        chat = self._chat(chat_id)
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        msg: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        reply = params.get("reply_parameters") or (
            {"message_id": params["reply_to_message_id"]} if params.get("reply_to_message_id") else None
        )
        if reply:
            target = self._messages.get((reply.get("chat_id", chat_id), reply["message_id"]))
            if target is not None:
                msg["reply_to_message"] = {k: v for k, v in copy.deepcopy(target).items() if k != "reply_to_message"}
            elif not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        self._messages[(chat_id, msg["message_id"])] = msg
        return copy.deepcopy(msg)

    def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = self._chat_id(params)
        text = self._render_text(params.get("text"), params.get("parse_mode"))
        _validate_markup(params.get("reply_markup"))
        with self._cond:
            return self._store_bot_message(chat_id, params, text)

    def _edit_target(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake server")
        chat_id = self._chat_id(params)
        msg = self._messages.get((chat_id, params.get("message_id")))
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if msg["from"]["id"] != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return msg

    _NOT_MODIFIED = (
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the "
        "same as a current content and reply markup of the message"
    )

    def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        text = self._render_text(params.get("text"), params.get("parse_mode"))
        markup = params.get("reply_markup")
        _validate_markup(markup)
        with self._cond:
            msg = self._edit_target(params)
            new_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
            if msg["text"] == text and msg.get("reply_markup") == new_markup:
                raise ApiError(400, self._NOT_MODIFIED)
            msg["text"] = text
            if new_markup is None:
                msg.pop("reply_markup", None)
            else:
                msg["reply_markup"] = new_markup
            msg["edit_date"] = int(time.time())
            return copy.deepcopy(msg)

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        markup = params.get("reply_markup")
        _validate_markup(markup)
        with self._cond:
            msg = self._edit_target(params)
            new_markup = markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
            if msg.get("reply_markup") == new_markup:
                raise ApiError(400, self._NOT_MODIFIED)
            if new_markup is None:
                msg.pop("reply_markup", None)
            else:
                msg["reply_markup"] = new_markup
            msg["edit_date"] = int(time.time())
            return copy.deepcopy(msg)

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        self._require(params, "callback_query_id")
        with self._cond:
            if params["callback_query_id"] not in self._open_callbacks:
                raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        chat_id = self._chat_id(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        with self._cond:
            self._chat(chat_id)
            if chat_id in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
        return True

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> str:
        return json.dumps([scope or {"type": "default"}, language_code or ""], sort_keys=True)

    def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a JSON array of at most 100 BotCommand")
        for c in commands:
            if not isinstance(c, dict) or not _COMMAND_RE.match(str(c.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        with self._cond:
            self._commands[self._commands_key(params.get("scope"), params.get("language_code"))] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        return True

    def _m_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands(params.get("scope"), params.get("language_code") or "")

    def _m_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        with self._cond:
            self._commands.pop(self._commands_key(params.get("scope"), params.get("language_code")), None)
        return True

    def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        with self._cond:
            self._webhook_url = ""
            if params.get("drop_pending_updates") is True:
                self._updates.clear()
        return True

    def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        url = params.get("url") or ""
        if url and not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        with self._cond:
            self._webhook_url = url
            if params.get("drop_pending_updates") is True:
                self._updates.clear()
            self._active_poll = -1  # a waiting getUpdates gets 409
            self._cond.notify_all()
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        with self._cond:
            return {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    def _m_close(self, params: dict[str, Any]) -> Any:
        return True

    def _m_logOut(self, params: dict[str, Any]) -> Any:
        return True
