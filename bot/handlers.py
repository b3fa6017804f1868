"""The update handlers: commands, questions, buttons, errors.

The bot owns no retrieval logic: answers, search results, sources and corpus facts all come
from the injected engine (``qa.search.engine.Engine``, or any object with ``ask``, ``search``,
``sources``, ``stats`` and ``reload_if_changed``). Engine calls are blocking, so they run in
a small thread pool, never on the event loop.

Buttons carry short callback data (Telegram allows 64 bytes): ``p:<key>`` (cited passages),
``m:<key>`` (more results), ``f:<key>:+`` / ``f:<key>:-`` (feedback), ``ex:<i>`` (example
question i). ``<key>`` names an answer in a bounded in-memory map (``AnswerCache``); a button
on an answer that has been forgotten (or from before a restart) says "please ask again".
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.feedback import FeedbackStore
from bot.limits import Allowlist, RateLimiter
from bot.render import esc, render_answer, render_help, render_hits, render_passages, render_sources, render_start
from qa.chat.conversation import Conversation, Conversations
from qa.errors import ArchiveUnreachable, QuestionError, UserError
from qa.question.query import MAX_QUESTION_CHARS, clean_question
from qa.types import Answer

log = logging.getLogger(__name__)

DEFAULT_EXAMPLES = (
    "What did Lavrov say about the peace treaty?",
    "When did Japan ease visa requirements for Russians?",
    "How large was Russia-Japan trade in 2018?",
)
COMMANDS = (
    BotCommand("ask", "Ask a question (in groups: /ask QUESTION)"),
    BotCommand("new", "Start a new conversation (forget the questions before)"),
    BotCommand("sources", "List the articles I know"),
    BotCommand("start", "What I know, with example questions"),
    BotCommand("help", "How to use this bot"),
)
APOLOGY = "Sorry — something went wrong while answering that. Please try again in a moment."
UNREACHABLE = "Sorry — the archive is unreachable right now. Please try again in a minute."
PRIVATE_BOT = "Sorry, this is a private bot and you are not on its list of allowed users."
NEW_CONVERSATION = "New conversation: your next question stands on its own."
EXPIRED = "This answer is no longer in my memory — please ask the question again."
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


@dataclass
class BotSettings:
    """Everything tunable; ``bot.main`` fills it from the environment."""

    allowed_ids: frozenset[int] = frozenset()  # QA_BOT_ALLOWED_IDS; empty = everyone
    rate_per_minute: int = 10  # QA_BOT_RATE_PER_MINUTE: questions per user per minute; 0 = no limit
    max_question_chars: int = 1000  # QA_BOT_MAX_QUESTION_CHARS (at most the engine's MAX_QUESTION_CHARS)
    feedback_db: Path | None = None  # QA_FEEDBACK_DB; default beside the index
    workers: int = 2  # QA_BOT_WORKERS: threads running engine calls
    examples: tuple[str, ...] = DEFAULT_EXAMPLES  # QA_BOT_EXAMPLES ("|"-separated)
    more_results: int = 5
    answers_kept: int = 2000  # answers whose buttons still work
    conversation_idle: float = 30 * 60  # seconds after which a conversation starts over
    conversations_kept: int = 10_000
    flood_limits: bool = True  # keep under Telegram's 30 msg/s and 20 msg/min per group
    send_attempts: int = 5  # tries per Bot API call on network errors / 5xx
    retry_base_delay: float = 0.5
    typing_interval: float = 4.5  # Telegram shows "typing" for 5 s
    max_concurrent_updates: int = 256
    rate_period: float = 60.0

    def __post_init__(self) -> None:
        self.max_question_chars = max(1, min(int(self.max_question_chars), MAX_QUESTION_CHARS))
        self.allowed_ids = frozenset(self.allowed_ids)
        self.examples = tuple(self.examples)[:3] or DEFAULT_EXAMPLES
        self.workers = max(1, int(self.workers))


@dataclass
class AnswerRecord:
    question: str
    answer: Answer
    chat_id: int
    index_version: str | None = None


class AnswerCache:
    """Bounded map from a short random key to an answer (least recently used dropped first)."""

    def __init__(self, size: int = 2000) -> None:
        self.size = max(1, size)
        self._items: OrderedDict[str, AnswerRecord] = OrderedDict()

    def put(self, record: AnswerRecord) -> str:
        while True:
            key = base64.urlsafe_b64encode(os.urandom(6)).decode()  # 8 characters
            if key not in self._items:
                break
        self._items[key] = record
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return key

    def get(self, key: str) -> AnswerRecord | None:
        rec = self._items.get(key)
        if rec is not None:
            self._items.move_to_end(key)
        return rec

    def __len__(self) -> int:
        return len(self._items)


def answer_keyboard(key: str, answer: Answer) -> InlineKeyboardMarkup:
    first = []
    if answer.citations:
        first.append(InlineKeyboardButton("📄 Passages", callback_data=f"p:{key}"))
    first.append(InlineKeyboardButton("🔎 More results", callback_data=f"m:{key}"))
    second = [InlineKeyboardButton("👍", callback_data=f"f:{key}:+"),
              InlineKeyboardButton("👎", callback_data=f"f:{key}:-")]
    return InlineKeyboardMarkup([first, second])


def examples_keyboard(examples: Sequence[str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(q, callback_data=f"ex:{i}")] for i, q in enumerate(examples)])


def group_question(message: Message, username: str | None, bot_id: int) -> str | None:
    """The question in a group message addressed to the bot (a mention or a reply to it), else None.

    The mention itself is removed from the question; "" means "addressed, but no question".
    """
    text = message.text or ""
    mentioned = False
    if username:
        for ent, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
            by_name = ent.type == MessageEntity.MENTION and value.lower() == f"@{username.lower()}"
            by_id = ent.type == MessageEntity.TEXT_MENTION and ent.user is not None and ent.user.id == bot_id
            mentioned = mentioned or by_name or by_id
        if mentioned:
            text = re.sub(rf"(?i)@{re.escape(username)}\b", " ", text)
    reply = message.reply_to_message
    replied = reply is not None and reply.from_user is not None and reply.from_user.id == bot_id
    if not (mentioned or replied):
        return None
    return " ".join(text.split())


def conversation_key(update: Update) -> tuple:
    """Whose conversation a message continues: the chat's in a private chat, the sender's within
    a group (two people asking in one group never mix their follow-ups)."""
    chat, user = update.effective_chat, update.effective_user
    if chat.type == ChatType.PRIVATE or user is None:
        return ("chat", chat.id)
    return ("chat", chat.id, "user", user.id)


def _is_our_command(text: str | None, username: str | None) -> bool:
    """``/cmd`` or ``/cmd@ourbot`` (not ``/cmd@otherbot``)."""
    if not text or not text.startswith("/"):
        return False
    _, at, name = text.split(maxsplit=1)[0].partition("@")
    return not at or (username is not None and name.lower() == username.lower())


class QABot:
    """Handlers bound to one engine, feedback store and settings."""

    def __init__(self, engine: Any, settings: BotSettings, feedback: FeedbackStore) -> None:
        self.engine = engine
        self.settings = settings
        self.feedback = feedback
        self.allow = Allowlist(settings.allowed_ids)
        self.rate = RateLimiter(settings.rate_per_minute, settings.rate_period)
        self.answers = AnswerCache(settings.answers_kept)
        self.conversations = Conversations(engine, ttl=settings.conversation_idle, cap=settings.conversations_kept,
                                           replies=settings.answers_kept)
        self.executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="qa-engine")
        self._reload_lock = threading.Lock()

    # ------------------------------------------------------------ wiring

    def register(self, app: Application) -> None:
        private, groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS
        new_text = filters.UpdateType.MESSAGE & filters.TEXT
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handler(CommandHandler("start", self.cmd_start, filters=filters.UpdateType.MESSAGE))
        app.add_handler(CommandHandler("help", self.cmd_help, filters=filters.UpdateType.MESSAGE))
        app.add_handler(CommandHandler("ask", self.cmd_ask, filters=filters.UpdateType.MESSAGE))
        app.add_handler(CommandHandler("new", self.cmd_new, filters=filters.UpdateType.MESSAGE))
        app.add_handler(CommandHandler("sources", self.cmd_sources, filters=filters.UpdateType.MESSAGE))
        from bot.add import register_add  # /add URL for QA_BOT_ADMIN_IDS (live news)

        register_add(app, self)
        app.add_handler(MessageHandler(new_text & ~filters.COMMAND & private, self.on_private_text))
        app.add_handler(MessageHandler(new_text & ~filters.COMMAND & groups, self.on_group_text))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND & private, self.on_unknown_command))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & ~filters.TEXT & private, self.on_not_text))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_error_handler(self.on_error)

    async def post_init(self, app: Application) -> None:
        """Register the command menu (setMyCommands); a failure is logged, not fatal."""
        try:
            await app.bot.set_my_commands(list(COMMANDS))
        except TelegramError as exc:
            log.warning("could not register the bot's commands: %s", exc)

    async def post_shutdown(self, app: Application) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.feedback.close()

    # ------------------------------------------------------------ helpers

    async def _run(self, fn: Callable, *args: Any) -> Any:
        """Run a blocking engine call in the worker pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args))

    def _reload(self) -> None:
        """Pick up a rebuilt index between questions; on failure keep the current one."""
        try:
            with self._reload_lock:
                if self.engine.reload_if_changed():
                    log.info("switched to index version %s", getattr(self.engine, "version", "?"))
        except UserError as exc:  # e.g. the archive is unreachable: one line, the question will say so
            log.warning("could not check for a new index (%s); keeping the current one", exc)
        except Exception:
            log.warning("could not switch to the new index; keeping the current one", exc_info=True)

    def _ask_blocking(self, conversation: Conversation, question: str) -> tuple[Answer, str | None]:
        self._reload()
        answer = conversation.ask(question)
        return answer, getattr(self.engine, "version", None)

    def _conversation(self, update: Update, bot_id: int) -> tuple[tuple, Conversation]:
        """The conversation a message continues, and its key: a reply to one of our answers
        continues that answer's conversation; anything else the chat's (or, in a group, the
        sender's)."""
        msg = update.message
        reply = msg.reply_to_message if msg is not None else None
        if reply is not None and reply.from_user is not None and reply.from_user.id == bot_id:
            chat_id = update.effective_chat.id
            found = self.conversations.for_reply((chat_id, reply.message_id), ("reply", chat_id, reply.message_id))
            if found is not None:
                return found
        key = conversation_key(update)
        return key, self.conversations.get(key)

    def _search_blocking(self, question: str, k: int) -> list:
        self._reload()
        return self.engine.search(question, k)

    @contextlib.asynccontextmanager
    async def _typing(self, bot, chat_id: int) -> AsyncIterator[None]:
        """Show "typing…" in ``chat_id`` until the block ends."""

        stop = asyncio.Event()

        async def keep_typing() -> None:
            while not stop.is_set():
                try:
                    await bot.send_chat_action(chat_id, ChatAction.TYPING)
                except TelegramError as exc:
                    log.debug("typing action failed: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.typing_interval)

        task = asyncio.create_task(keep_typing())
        try:
            yield
        finally:
            stop.set()
            # Let an action in flight finish, so that it cannot land after the answer and show
            # "typing…" under it; don't wait long for it.
            try:
                await asyncio.wait_for(task, timeout=2.0)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()

    async def _send(self, bot, chat_id: int, chunks: Sequence[str], reply_to: Message | None = None,
                    markup: InlineKeyboardMarkup | None = None) -> Message | None:
        """Send ``chunks`` in order (HTML); the first replies to ``reply_to``, the last carries ``markup``."""
        last = None
        thread = reply_to.message_thread_id if getattr(reply_to, "is_topic_message", False) else None
        for i, chunk in enumerate(chunks):
            reply = None
            if i == 0 and reply_to is not None:
                reply = ReplyParameters(reply_to.message_id, allow_sending_without_reply=True)
            last = await bot.send_message(chat_id, chunk, parse_mode=ParseMode.HTML, reply_parameters=reply,
                                          reply_markup=markup if i == len(chunks) - 1 else None,
                                          link_preview_options=NO_PREVIEW, message_thread_id=thread)
        return last

    def _check_question(self, text: str) -> tuple[str | None, str | None]:
        """(cleaned question, None) or (None, polite refusal)."""
        limit = self.settings.max_question_chars
        n = len(text.strip())
        if n > limit:
            return None, (f"Sorry, that question is too long ({n:,} characters). "
                          f"Please keep questions under {limit:,} characters.")
        try:
            return clean_question(text), None
        except QuestionError:
            return None, "Please send a question, e.g. <i>" + esc(self.settings.examples[0]) + "</i>"

    def _rate_refusal(self, user_id: int | None, chat_id: int) -> str | None:
        wait = self.rate.check(user_id if user_id is not None else chat_id)
        if not wait:
            return None
        per = self.settings.rate_per_minute
        return (f"You're asking faster than I can keep up with — at most {per} question{'s' if per != 1 else ''} "
                f"a minute. Please try again in {max(1, round(wait))} s.")

    async def answer_question(self, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str,
                              reply_to: Message | None) -> None:
        """Check, answer (in the worker pool) and send one question with its buttons."""
        chat_id = update.effective_chat.id
        user = update.effective_user
        question, refusal = self._check_question(text)
        if refusal is None:
            refusal = self._rate_refusal(user.id if user else None, chat_id)
        if refusal is not None:
            await self._send(context.bot, chat_id, [refusal], reply_to)
            return
        conv_key, conversation = self._conversation(update, context.bot.id)
        async with self._typing(context.bot, chat_id):
            answer, version = await self._run(self._ask_blocking, conversation, question)
        key = self.answers.put(AnswerRecord(answer.understood_as or question, answer, chat_id, version))
        sent = await self._send(context.bot, chat_id, render_answer(answer), reply_to, answer_keyboard(key, answer))
        if sent is not None:
            self.conversations.remember((chat_id, sent.message_id), conv_key, conversation)

    # ------------------------------------------------------------ gate

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Allowlist: runs before every other handler; refused updates stop here."""
        user, chat = update.effective_user, update.effective_chat
        if self.allow.allows(user.id if user else None, chat.id if chat else None):
            return
        log.info("refused an update from user %s in chat %s (not in QA_BOT_ALLOWED_IDS)",
                 user.id if user else None, chat.id if chat else None)
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer(PRIVATE_BOT, show_alert=True)
        elif update.message is not None and chat is not None:
            msg = update.message
            addressed = (chat.type == ChatType.PRIVATE or _is_our_command(msg.text, context.bot.username)
                         or group_question(msg, context.bot.username, context.bot.id) is not None)
            if addressed:
                await self._send(context.bot, chat.id, [PRIVATE_BOT], msg)
        raise ApplicationHandlerStop

    # ------------------------------------------------------------ commands

    def _stats_blocking(self):
        self._reload()
        return self.engine.stats()

    def _sources_blocking(self):
        self._reload()
        return self.engine.sources()

    async def cmd_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        stats = await self._run(self._stats_blocking)
        await self._send(context.bot, update.effective_chat.id, [render_start(stats)], None,
                         examples_keyboard(self.settings.examples))

    async def cmd_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._send(context.bot, update.effective_chat.id, [render_help(context.bot.username)], None)

    async def cmd_new(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.conversations.reset(conversation_key(update))
        await self._send(context.bot, update.effective_chat.id, [NEW_CONVERSATION], update.message)

    async def cmd_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        sources = await self._run(self._sources_blocking)
        await self._send(context.bot, update.effective_chat.id, render_sources(sources), update.message)

    async def cmd_ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.message
        parts = (msg.text or "").split(maxsplit=1)
        question = parts[1] if len(parts) > 1 else ""
        if not question.strip() and msg.reply_to_message is not None and msg.reply_to_message.text \
                and (msg.reply_to_message.from_user is None or msg.reply_to_message.from_user.id != context.bot.id):
            question = msg.reply_to_message.text  # "/ask" sent as a reply to someone's question
        if not question.strip():
            await self._send(context.bot, msg.chat_id, [
                "Usage: /ask QUESTION, e.g. <code>/ask " + esc(self.settings.examples[0]) + "</code>"], msg)
            return
        await self.answer_question(update, context, question, msg)

    async def on_private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.answer_question(update, context, update.message.text, update.message)

    async def on_group_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.message
        question = group_question(msg, context.bot.username, context.bot.id)
        if question is None:
            return  # not for us: stay quiet
        if not question:
            await self._send(context.bot, msg.chat_id, [
                "Yes? Ask me a question after the mention, or use /ask QUESTION."], msg)
            return
        await self.answer_question(update, context, question, msg)

    async def on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._send(context.bot, update.effective_chat.id,
                         ["I don't know that command. Send a question, or see /help."], update.message)

    async def on_not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._send(context.bot, update.effective_chat.id,
                         ["I can only answer questions sent as text."], update.message)

    # ------------------------------------------------------------ buttons

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query.message is None:  # inline-mode buttons: not used by this bot
            await query.answer()
            return
        kind, _, rest = (query.data or "").partition(":")
        if kind == "ex":
            await self._on_example(update, context, rest)
            return
        key, _, arg = rest.partition(":")
        if kind not in ("p", "m", "f"):
            await query.answer()
            return
        record = self.answers.get(key)
        if record is None:
            await query.answer(EXPIRED, show_alert=True)
            return
        if kind == "p":
            await query.answer()
            await self._send(context.bot, query.message.chat.id, render_passages(record.answer), query.message)
        elif kind == "m":
            await self._on_more(update, context, record)
        else:
            rating = 1 if arg == "+" else -1
            user = update.effective_user
            await self._run(functools.partial(
                self.feedback.record, answer_key=key, answer=record.answer, rating=rating, chat_id=record.chat_id,
                user_id=user.id if user else None, index_version=record.index_version))
            await query.answer(f"Thanks for the feedback {'👍' if rating > 0 else '👎'} — it has been recorded.")

    async def _on_example(self, update: Update, context: ContextTypes.DEFAULT_TYPE, index: str) -> None:
        query = update.callback_query
        try:
            question = self.settings.examples[int(index)]
        except (ValueError, IndexError):
            await query.answer()
            return
        await query.answer()
        await self.answer_question(update, context, question, query.message)

    async def _on_more(self, update: Update, context: ContextTypes.DEFAULT_TYPE, record: AnswerRecord) -> None:
        query = update.callback_query
        chat_id = query.message.chat.id
        refusal = self._rate_refusal(update.effective_user.id if update.effective_user else None, chat_id)
        if refusal is not None:
            await query.answer(refusal, show_alert=True)
            return
        await query.answer()
        cited = record.answer.citations
        k = self.settings.more_results + 2 * len(cited)  # a citation can overlap two results
        async with self._typing(context.bot, chat_id):
            hits = await self._run(self._search_blocking, record.question, k)
        # A result that shares text with a cited passage adds nothing new (results can be two
        # passages folded into one, so compare spans, not chunk ids).
        hits = [h for h in hits if not any(c.doc_id == h.doc_id and c.start < h.end and h.start < c.end
                                           for c in cited)][: self.settings.more_results]
        await self._send(context.bot, chat_id, render_hits(record.question, hits), query.message)

    # ------------------------------------------------------------ errors

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the traceback and apologise in the chat; the bot keeps running. An archive (Milvus)
        that is down, slow or refuses the token is one log line, and the chat is told so."""
        uid = update.update_id if isinstance(update, Update) else None
        unreachable = isinstance(context.error, ArchiveUnreachable)
        if unreachable:
            log.error("update %s: %s", uid, context.error)
        else:
            log.error("error while handling update %s: %s", uid, context.error, exc_info=context.error)
        if not isinstance(update, Update):
            return
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer("Sorry — something went wrong.")
        chat = update.effective_chat
        if chat is None:
            return
        reply_to = update.effective_message
        try:
            await self._send(context.bot, chat.id, [UNREACHABLE if unreachable else APOLOGY], reply_to)
        except TelegramError as exc:
            log.warning("could not send the apology to chat %s: %s", chat.id, exc)
