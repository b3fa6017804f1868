"""The bot token: loading it, and keeping it out of logs and error messages.

httpx logs every request URL at INFO, and a Bot API URL contains the token
(``https://api.telegram.org/bot<TOKEN>/sendMessage``); PTB logs the base URL at DEBUG and
puts the token in ``InvalidToken`` messages. So: the httpx/httpcore loggers are set to
WARNING, and a ``RedactingFilter`` on the root handlers (plus a log-record factory, which
also covers handlers added later, e.g. by pytest) replaces the token, its secret half and
anything shaped like ``bot<digits>:<secret>`` in every record's message, arguments and
traceback text.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
TOKEN_FILE_ENV = "TELEGRAM_BOT_TOKEN_FILE"
TOKEN_RE = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{8,200}$")
# "bot123456:AAH..." in a URL, or a bare "123456789:AAH...35 chars" token
_PATTERNS = (re.compile(r"bot[0-9]{3,20}:[A-Za-z0-9_-]+"), re.compile(r"\b[0-9]{6,20}:[A-Za-z0-9_-]{30,}"))
REDACTED = "<redacted>"
NOISY_LOGGERS = ("httpx", "httpcore", "hpack")


class TokenError(ValueError):
    """The token is missing or malformed (the message never contains the token)."""


def load_token(env: Mapping[str, str] | None = None) -> str:
    """The token from ``TELEGRAM_BOT_TOKEN``, or from the file named by ``TELEGRAM_BOT_TOKEN_FILE``."""
    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV, "").strip()
    source = TOKEN_ENV
    if not token and env.get(TOKEN_FILE_ENV, "").strip():
        path = Path(env[TOKEN_FILE_ENV].strip()).expanduser()
        source = f"{TOKEN_FILE_ENV} ({path})"
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise TokenError(f"cannot read the token file named by {source}: {reason}") from None
        if not token:
            raise TokenError(f"the token file named by {source} is empty")
    if not token:
        raise TokenError(f"no bot token: set {TOKEN_ENV} (or {TOKEN_FILE_ENV}) to the token @BotFather gave you")
    if not TOKEN_RE.match(token):
        raise TokenError(f"{source} does not look like a bot token (expected digits, a colon, then letters, "
                         "digits, '_' or '-', e.g. 123456789:AAH…); the value is not shown")
    return token


# ------------------------------------------------------------------ redaction

_secrets: set[str] = set()
_lock = threading.Lock()
_factory_installed = False


def add_secret(token: str) -> None:
    """Redact ``token`` (and its secret half) from now on."""
    with _lock:
        if token:
            _secrets.add(token)
            _, _, secret = token.partition(":")
            if len(secret) >= 8:
                _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` without any known secret or token-shaped string."""
    if not text:
        return text
    for s in sorted(_secrets, key=len, reverse=True):
        if s in text:
            text = text.replace(s, REDACTED)
    for pat in _PATTERNS:
        text = pat.sub(lambda m: ("bot" if m.group().startswith("bot") else "") + REDACTED, text)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_qa_redacted", False):
        return
    try:
        msg = record.getMessage()
    except Exception:  # a malformed record: leave the formatting error to logging
        return
    record.msg, record.args = redact(msg), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._qa_redacted = True


class RedactingFilter(logging.Filter):
    """Rewrites every record so that no token reaches a handler; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


_FILTER = RedactingFilter()


def install_log_redaction(token: str | None = None) -> RedactingFilter:
    """Redact ``token`` in all logging: a filter on each root handler, and a record factory."""
    global _factory_installed
    if token:
        add_secret(token)
    for h in logging.getLogger().handlers:
        if _FILTER not in h.filters:
            h.addFilter(_FILTER)
    with _lock:
        if not _factory_installed:
            previous = logging.getLogRecordFactory()

            def factory(*args, **kwargs) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                _redact_record(record)
                return record

            logging.setLogRecordFactory(factory)
            _factory_installed = True
    return _FILTER


def quiet_http_loggers() -> None:
    """httpx logs request URLs (with the token) at INFO: keep those loggers at WARNING."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
