"""Updates run concurrently across chats and strictly in order within one chat.

PTB's fetcher starts one task per update, in update order. ``PerChatUpdateProcessor`` makes
each task first take its chat's ``asyncio.Lock`` — queued synchronously, before any other
await, and asyncio locks are FIFO — so a chat's updates are handled one after the other in
the order they arrived, while other chats proceed. The global semaphore (``max_concurrent``)
is taken only after the chat lock, so a chat with a backlog holds at most one slot and cannot
starve the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


def chat_key(update: object) -> object:
    """The chat an update belongs to (its user for updates without a chat); None for others."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
    return None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[object, tuple[asyncio.Lock, int]] = {}

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            await super().process_update(update, coroutine)
            return
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            try:
                await lock.acquire()
            except asyncio.CancelledError:
                if hasattr(coroutine, "close"):
                    coroutine.close()  # never started: avoid "coroutine was never awaited"
                raise
            try:
                await super().process_update(update, coroutine)
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def active_chats(self) -> int:
        return len(self._locks)
