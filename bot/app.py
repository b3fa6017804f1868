"""``build_application``: the PTB Application wired to an engine (real or fake)."""

from __future__ import annotations

import importlib.util
import logging
import sys
from typing import Any
from urllib.parse import urlsplit

from telegram.ext import Application

from bot.feedback import FeedbackStore, default_path
from bot.handlers import BotSettings, QABot
from bot.ordering import PerChatUpdateProcessor
from bot.secrets import install_log_redaction, quiet_http_loggers
from bot.sending import RetryingRateLimiter

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]


def api_urls(base_url: str) -> tuple[str, str]:
    """(base_url, base_file_url) for PTB, which appends the token to both.

    Accepts ``http://host:8081``, ``http://host:8081/`` or ``http://host:8081/bot`` (a local Bot
    API server, or the test server), or a URL with a ``{token}`` placeholder.
    """
    url = base_url.strip().rstrip("/")
    if "{token}" in url:
        return url, url.replace("/bot{token}", "/file/bot{token}")
    if not urlsplit(url).path.endswith("/bot"):
        url += "/bot"
    return url, url[: -len("/bot")] + "/file/bot"


def _remember_sniffio_is_missing() -> None:
    """httpcore runs ``import sniffio`` for every request; when sniffio is not installed, each
    failed import searches sys.path again (~0.3 ms, a third of the client's time under load).
    Recording the absence once makes it a dictionary lookup. (Installing sniffio also fixes it.)"""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def build_application(engine: Any, token: str, base_url: str | None = None, **settings: Any) -> Application:
    """An Application answering from ``engine``; ``settings`` are ``BotSettings`` fields.

    Installs the log redaction for ``token`` first (PTB logs its API URL, token included, at DEBUG).
    """
    install_log_redaction(token)
    quiet_http_loggers()
    _remember_sniffio_is_missing()
    s = BotSettings(**settings)
    store = FeedbackStore(s.feedback_db or default_path(getattr(engine, "index_dir", None)))
    qabot = QABot(engine, s, store)
    builder = (
        Application.builder()
        .token(token)
        .concurrent_updates(PerChatUpdateProcessor(s.max_concurrent_updates))
        .rate_limiter(RetryingRateLimiter(attempts=s.send_attempts, base_delay=s.retry_base_delay,
                                          flood_limits=s.flood_limits))
        .post_init(qabot.post_init)
        .post_shutdown(qabot.post_shutdown)
    )
    if base_url:
        api, files = api_urls(base_url)
        builder = builder.base_url(api).base_file_url(files)
    app = builder.build()
    qabot.register(app)
    app.bot_data["qa"] = qabot
    log.info("bot built: feedback in %s, %d worker thread(s)", store.path, s.workers)
    return app
