"""Conversations: questions answered against the turns before them.

``Conversation`` keeps the last few turns and asks the engine the question as understood
(:mod:`qa.chat.followup` rewrites a follow-up; anything else is asked exactly as ``Engine.ask`` would).
``Conversations`` is the bounded, thread-safe store the bot keeps them in: keyed by whatever the
caller chooses (chat, user, reply thread), dropped after ``ttl`` seconds idle and, beyond ``cap``,
oldest first. Nothing is written to disk.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

from qa.chat.entities import IsPerson, corpus_people
from qa.chat.followup import Turn, incomplete, make_turn, resolve
from qa.question.query import clean_question, parse_query
from qa.types import Answer

TURNS_KEPT = 5
IDLE_SECONDS = 30 * 60
CONVERSATIONS_KEPT = 10_000
REPLIES_KEPT = 20_000


def unresolved(question: str, had_turns: bool) -> str:
    """The answer to a follow-up that cannot be understood on its own."""
    why = "I could not tell what it refers to" if had_turns else "there is no question before it to continue"
    return f"“{question}” needs the question it follows, and {why}: please ask the whole question."


def people_of(engine: Any) -> IsPerson | None:
    """Who is a person, asked of the engine's index (None for an engine without one)."""
    index = getattr(engine, "index", None)
    return corpus_people(index) if index is not None and hasattr(index, "rows_mentioning") else None


class Conversation:
    """The turns of one conversation and the engine that answers them."""

    def __init__(self, engine: Any, turns: list[Turn] | None = None, keep: int = TURNS_KEPT,
                 is_person: IsPerson | None = None) -> None:
        self.engine = engine
        self.keep = keep
        self.turns: list[Turn] = list(turns or [])[-keep:]
        self._is_person = is_person
        self._lock = threading.Lock()

    def _people(self) -> IsPerson | None:
        if self._is_person is None:
            self._is_person = people_of(self.engine)
        return self._is_person

    def understand(self, question: str) -> str | None:
        """``question`` rewritten against the turns before, or None when it stands alone."""
        return resolve(clean_question(question), self.turns, self._people())

    def ask(self, question: str) -> Answer:
        """Answer ``question`` as a turn of this conversation. A question that stands alone is
        answered exactly as ``engine.ask`` answers it; a follow-up is asked as rewritten, and its
        Answer keeps the question as sent and the rewriting in ``understood_as``."""
        with self._lock:
            rewritten = self.understand(question)
            asked = rewritten or question
            answer = self.engine.ask(asked)
            if rewritten is None and answer.abstained and incomplete(question):
                rewritten, answer = self._read_in_context(question, answer)
                if rewritten is None:
                    # "why?" that nothing before explains: say so, rather than "the articles don't cover this"
                    answer = replace(answer, answer=unresolved(clean_question(question), bool(self.turns)))
            if rewritten is not None:
                answer = replace(answer, question=clean_question(question), understood_as=rewritten)
            understood = rewritten or clean_question(question)
            self.turns = [*self.turns, make_turn(understood, parse_query(understood), answer, self._people())]
            self.turns = self.turns[-self.keep :]
            return answer

    def _read_in_context(self, question: str, answer: Answer) -> tuple[str | None, Answer]:
        """A follow-up the rewriter could not resolve, asked with the question before it as its
        context, when the engine has a reader model to read the two together; kept only if the
        articles answer it (else the follow-up's own abstention stands)."""
        if not self.turns or getattr(self.engine, "reader", None) is None:
            return None, answer
        joined = f"{self.turns[-1].question.rstrip(' ?')}? {clean_question(question)}"
        again = self.engine.ask(joined)
        return (None, answer) if again.abstained else (joined, again)

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    def reset(self) -> None:
        """Forget every turn (``/new``)."""
        with self._lock:
            self.turns = []

    def upto(self, turn: Turn) -> Conversation:
        """A new conversation continuing from ``turn`` (a reply to an older answer)."""
        turns = self.turns[: next((i + 1 for i, t in enumerate(self.turns) if t is turn), 0)] or [turn]
        return Conversation(self.engine, turns, self.keep, self._is_person)


@dataclass
class _Entry:
    conversation: Conversation
    used: float


class Conversations:
    """Conversations by key, and which conversation and turn each answer sent belongs to.

    Thread-safe; a conversation idle for ``ttl`` seconds starts over; at most ``cap``
    conversations and ``replies`` answers are remembered (least recently used dropped first).
    ``clock`` is injectable for tests."""

    def __init__(self, engine: Any, ttl: float = IDLE_SECONDS, cap: int = CONVERSATIONS_KEPT,
                 replies: int = REPLIES_KEPT, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.ttl = ttl
        self.cap = max(1, cap)
        self.replies_kept = max(1, replies)
        self.clock = clock
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._answers: OrderedDict[Hashable, tuple[Hashable, Turn, float]] = OrderedDict()
        self._is_person: IsPerson | None = None
        self._people_version: object = None

    def _people(self) -> IsPerson | None:
        """The corpus's people, looked up again when the engine switches index versions."""
        version = getattr(self.engine, "version", None)
        if self._is_person is None or version != self._people_version:
            self._is_person, self._people_version = people_of(self.engine), version
        return self._is_person

    def _fresh(self, entry: _Entry | None, now: float) -> bool:
        return entry is not None and now - entry.used <= self.ttl

    def get(self, key: Hashable) -> Conversation:
        """The conversation at ``key`` (a new one if there is none or it has expired)."""
        now = self.clock()
        with self._lock:
            entry = self._items.get(key)
            if not self._fresh(entry, now):
                entry = _Entry(Conversation(self.engine, is_person=self._people()), now)
            return self._put(key, entry, now)

    def _put(self, key: Hashable, entry: _Entry, now: float) -> Conversation:
        entry.used = now
        self._items[key] = entry
        self._items.move_to_end(key)
        while len(self._items) > self.cap:
            self._items.popitem(last=False)
        return entry.conversation

    def reset(self, key: Hashable) -> None:
        """Start the conversation at ``key`` over."""
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)

    # ------------------------------------------------------------ replies to answers

    def remember(self, answer_ref: Hashable, key: Hashable, conversation: Conversation) -> None:
        """Record that the answer sent as ``answer_ref`` (e.g. chat and message id) is the last
        turn of ``conversation``, kept at ``key``."""
        if conversation.last is None:
            return
        with self._lock:
            self._answers[answer_ref] = (key, conversation.last, self.clock())
            self._answers.move_to_end(answer_ref)
            while len(self._answers) > self.replies_kept:
                self._answers.popitem(last=False)

    def for_reply(self, answer_ref: Hashable, thread_key: Hashable) -> tuple[Hashable, Conversation] | None:
        """The conversation a reply to the answer ``answer_ref`` continues, and its key: that
        answer's own conversation if the answer is still its last turn, else a new one at
        ``thread_key`` continuing from that answer. None if the answer is unknown or expired."""
        now = self.clock()
        with self._lock:
            known = self._answers.get(answer_ref)
            if known is None:
                return None
            key, turn, sent = known
            entry = self._items.get(key)
            if self._fresh(entry, now) and entry.conversation.last is turn:
                return key, self._put(key, entry, now)
            if now - sent > self.ttl and not self._fresh(entry, now):
                return None
            base = entry.conversation if entry is not None else Conversation(self.engine, is_person=self._people())
            return thread_key, self._put(thread_key, _Entry(base.upto(turn), now), now)
