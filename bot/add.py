"""``/add URL``: the bot's administrators add a news page to the index from a chat.

Administrators are the Telegram user ids in ``QA_BOT_ADMIN_IDS`` (comma-separated); anyone else
gets a polite refusal. The page is fetched, extracted, stored and indexed exactly as ``qa fetch``
does (``qa.news.ingest``), in a worker thread, one ``/add`` at a time; the bot's hot reload picks up
the new index before the next question. Private addresses are refused unless
``QA_FETCH_ALLOW_PRIVATE=1``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot.limits import parse_ids
from bot.render import esc, linked

log = logging.getLogger(__name__)

ADMIN_ENV = "QA_BOT_ADMIN_IDS"
MAX_URLS = 5
USAGE = "Usage: <code>/add URL</code> — I fetch the news page and can then answer questions about it."
NOT_ADMIN = "Sorry, only this bot's administrators can add articles. You can still ask me anything about the " \
            "ones I have (/sources)."


def admin_ids(env: dict | None = None) -> frozenset[int]:
    """``QA_BOT_ADMIN_IDS``; an invalid list is logged and allows no one."""
    env = os.environ if env is None else env
    try:
        return parse_ids(env.get(ADMIN_ENV), ADMIN_ENV)
    except ValueError as exc:
        log.error("%s; /add is disabled", exc)
        return frozenset()


def describe(outcome: Any) -> str:
    """One reply line (Telegram HTML) for a qa.news.ingest.Outcome."""
    what = (f"{linked(f'<b>{esc(outcome.title or outcome.url)}</b>', outcome.url)} "
            f"({esc(outcome.outlet or 'unknown outlet')}, {esc(outcome.date or 'undated')})")
    if outcome.status in ("new", "updated"):
        verb = "Added" if outcome.status == "new" else "Updated"
        return f"✅ {verb} {what}. You can ask me about it now."
    if outcome.status == "unchanged":
        return f"ℹ️ I already have {what}, unchanged."
    if outcome.status == "duplicate":
        return (f"ℹ️ {what} is the same story as {esc(outcome.duplicate_of)}, which I already have; I noted that "
                f"{esc(outcome.outlet or 'this outlet')} published it too.")
    return f"⚠️ Could not add it: {esc(outcome.reason)}"


class AddCommand:
    """The /add handler, bound to the bot (for its engine's index folder and its send helper)."""

    def __init__(self, qabot: Any, admins: frozenset[int] | None = None, allow_private: bool | None = None) -> None:
        self.qabot = qabot
        self.admins = admin_ids() if admins is None else frozenset(admins)
        self.allow_private = allow_private
        self._lock: asyncio.Lock | None = None

    def _add_blocking(self, urls: list[str]):  # noqa: ANN202 (a qa.news.ingest.IngestReport)
        from qa.ingest.fetcher import Fetcher
        from qa.ingest.news_store import default_news_dir
        from qa.news.ingest import fetch_and_index

        index_dir = self.qabot.engine.index_dir
        with Fetcher(allow_private=self.allow_private) as fetcher:
            return fetch_and_index(urls, index_dir, default_news_dir(index_dir), fetcher)

    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from qa.errors import UserError

        msg, user = update.message, update.effective_user
        reply = lambda text: self.qabot._send(context.bot, msg.chat_id, [text], msg)  # noqa: E731
        if user is None or user.id not in self.admins:
            log.info("refused /add from user %s (not in %s)", user.id if user else None, ADMIN_ENV)
            await reply(NOT_ADMIN)
            return
        urls = (msg.text or "").split()[1:]
        if not urls:
            await reply(USAGE)
            return
        if len(urls) > MAX_URLS:
            await reply(f"At most {MAX_URLS} URLs at a time, please.")
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock, self.qabot._typing(context.bot, msg.chat_id):
            try:
                report = await asyncio.to_thread(self._add_blocking, urls)
            except UserError as exc:  # the index could not be updated (locked, unusable)
                await reply(f"⚠️ Could not update the index: {esc(exc)}")
                return
        await self.qabot._run(self.qabot._reload)  # /sources and /start see the new articles at once
        await reply("\n".join(describe(o) for o in report.outcomes))


def register_add(app: Application, qabot: Any) -> AddCommand:
    """Add the /add handler to ``app`` (call before the catch-all unknown-command handler)."""
    cmd = AddCommand(qabot)
    app.add_handler(CommandHandler("add", cmd.handle, filters=filters.UpdateType.MESSAGE))
    return cmd
