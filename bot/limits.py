"""Who may use the bot (allowlist) and how often (per-user rate limit)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable


def parse_ids(text: str | None, name: str = "QA_BOT_ALLOWED_IDS") -> frozenset[int]:
    """``"123, -100456"`` -> ``{123, -100456}``; raises ValueError (one line) on anything else."""
    ids = set()
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ids.add(int(part))
        except ValueError:
            msg = f"{name}: {part[:40]!r} is not a Telegram user or chat id (integers, comma-separated)"
            raise ValueError(msg) from None
    return frozenset(ids)


class Allowlist:
    """Empty = everyone. Otherwise an update is allowed if its user id *or* its chat id is listed:
    list a user to let them use the bot anywhere, a group's chat id to let all its members use it there."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self.ids = frozenset(ids)

    def __bool__(self) -> bool:
        return bool(self.ids)

    def allows(self, user_id: int | None, chat_id: int | None) -> bool:
        if not self.ids:
            return True
        return (user_id is not None and user_id in self.ids) or (chat_id is not None and chat_id in self.ids)


class RateLimiter:
    """At most ``max_events`` per ``period`` seconds per key (sliding window). ``max_events <= 0`` = no limit."""

    def __init__(self, max_events: int = 10, period: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.max_events = max_events
        self.period = period
        self.clock = clock
        self.max_keys = max_keys
        self._events: dict[object, deque[float]] = {}

    def check(self, key: object) -> float:
        """0.0 if allowed now (and counted); else the seconds until the next event is allowed."""
        if self.max_events <= 0:
            return 0.0
        now = self.clock()
        q = self._events.get(key)
        if q is None:
            if len(self._events) >= self.max_keys:
                self._prune(now)
            q = self._events[key] = deque()
        while q and q[0] <= now - self.period:
            q.popleft()
        if len(q) >= self.max_events:
            return max(0.001, q[0] + self.period - now)
        q.append(now)
        return 0.0

    def _prune(self, now: float) -> None:
        stale = [k for k, q in self._events.items() if not q or q[-1] <= now - self.period]
        for k in stale:
            del self._events[k]
