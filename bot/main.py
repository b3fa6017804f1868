"""``qa bot``: read the token and settings, open the index once, run the bot.

Environment:
  TELEGRAM_BOT_TOKEN / TELEGRAM_BOT_TOKEN_FILE   the token (required)
  QA_TELEGRAM_BASE_URL       another Bot API server (a local one, or the test server)
  QA_WEBHOOK_SECRET          webhook secret token (default: generated at start)
  QA_BOT_ALLOWED_IDS         comma-separated user/chat ids allowed to use the bot (default: all)
  QA_BOT_RATE_PER_MINUTE     questions per user per minute (default 10; 0 = unlimited)
  QA_BOT_MAX_QUESTION_CHARS  longest question accepted (default 1000)
  QA_BOT_WORKERS             threads for engine calls (default 2)
  QA_BOT_EXAMPLES            the /start example questions, separated by "|"
  QA_FEEDBACK_DB             feedback SQLite file (default: feedback.sqlite beside the index folder)
  QA_BOT_ADMIN_IDS           comma-separated user ids allowed to /add URL (default: nobody)
  QA_FETCH_ALLOW_PRIVATE     1: /add may reach private and loopback addresses
"""

from __future__ import annotations

import logging
import os
import secrets as std_secrets
import sqlite3
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from bot.app import ALLOWED_UPDATES, build_application
from bot.limits import parse_ids
from bot.secrets import TokenError, install_log_redaction, load_token, quiet_http_loggers, redact

__all__ = ["run", "build_application", "settings_from_env"]

log = logging.getLogger(__name__)
EXIT_USER = 1


class ConfigError(ValueError):
    """A setting the user can fix (printed as one line)."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw[:40]!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def settings_from_env(env: Mapping[str, str] | None = None) -> dict:
    """``BotSettings`` keyword arguments from the environment; ConfigError on bad values."""
    env = os.environ if env is None else env
    try:
        allowed = parse_ids(env.get("QA_BOT_ALLOWED_IDS"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    settings: dict = {
        "allowed_ids": allowed,
        "rate_per_minute": _int(env, "QA_BOT_RATE_PER_MINUTE", 10),
        "max_question_chars": _int(env, "QA_BOT_MAX_QUESTION_CHARS", 1000, minimum=1),
        "workers": _int(env, "QA_BOT_WORKERS", 2, minimum=1),
    }
    examples = [q.strip() for q in env.get("QA_BOT_EXAMPLES", "").split("|") if q.strip()]
    if examples:
        settings["examples"] = tuple(examples[:3])
    if env.get("QA_FEEDBACK_DB", "").strip():
        settings["feedback_db"] = Path(env["QA_FEEDBACK_DB"].strip())
    return settings


def _webhook_secret(env: Mapping[str, str]) -> str:
    secret = env.get("QA_WEBHOOK_SECRET", "").strip()
    if not secret:
        return std_secrets.token_urlsafe(32)
    if not (1 <= len(secret) <= 256) or any(not (c.isascii() and (c.isalnum() or c in "_-")) for c in secret):
        raise ConfigError("QA_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, '_' or '-'")
    return secret


def _setup_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    elif root.level > logging.INFO:
        # `qa` configures WARNING unless -v; the bot is a service: log its INFO lines (not httpx's)
        root.setLevel(logging.INFO)
    quiet_http_loggers()
    install_log_redaction()
    for handler in logging.getLogger().handlers:
        handler.addFilter(_said_in_one_line)


def _said_in_one_line(record: logging.LogRecord) -> bool:
    """Drop PTB's traceback for a token the Bot API rejects: ``run`` says it in one line."""
    from telegram.error import InvalidToken

    return not (record.exc_info and isinstance(record.exc_info[1], InvalidToken))


def _error(msg: str) -> int:
    print(f"qa: error: {redact(msg)}", file=sys.stderr)
    return EXIT_USER


def run(index_dir: Path | None = None, webhook: str | None = None, listen: str = "0.0.0.0",
        port: int = 8443) -> int:
    """Run the bot until interrupted (long polling, or a webhook at ``webhook`` served on
    ``listen``:``port``); 1 with a one-line message on stderr for user errors."""
    env = os.environ
    _setup_logging()
    try:
        token = load_token(env)
        settings = settings_from_env(env)
        secret = _webhook_secret(env) if webhook else None
    except (TokenError, ConfigError) as exc:
        return _error(str(exc))
    install_log_redaction(token)
    if webhook and urlsplit(webhook).scheme != "https":
        return _error(f"--webhook must be an https:// URL (Telegram only calls HTTPS webhooks), not {webhook!r}")

    from qa.errors import UserError
    from qa.search.engine import Engine

    try:
        engine = Engine.open(index_dir, notify=lambda m: print(m, file=sys.stderr), progress=sys.stderr.isatty())
        engine.warm_up()  # load the model now, not on the first question
    except UserError as exc:
        return _error(str(exc))

    base_url = env.get("QA_TELEGRAM_BASE_URL", "").strip() or None
    try:
        app = build_application(engine, token, base_url=base_url, **settings)
    except (OSError, sqlite3.Error) as exc:
        return _error(f"cannot open the feedback store: {exc}")
    return _serve(app, webhook, secret, base_url, listen, port)


def _serve(app, webhook: str | None, secret: str | None, base_url: str | None, listen: str, port: int) -> int:
    from telegram.error import InvalidToken, NetworkError, TelegramError

    where = base_url or "api.telegram.org"
    try:
        if webhook:
            path = urlsplit(webhook).path.strip("/")
            log.info("webhook mode: listening on %s:%s/%s for %s", listen, port, path, webhook)
            app.run_webhook(listen=listen, port=port, url_path=path, webhook_url=webhook,
                            secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        else:
            log.info("long polling %s", where)
            app.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        return _error(f"the Bot API at {where} rejected the token (check TELEGRAM_BOT_TOKEN)")
    except NetworkError as exc:
        return _error(f"cannot reach the Bot API at {where}: {exc}")
    except TelegramError as exc:
        return _error(f"Telegram error: {exc}")
    except OSError as exc:  # e.g. the webhook port is in use
        return _error(str(exc))
    return 0
