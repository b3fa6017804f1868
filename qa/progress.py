"""Progress bars for long work (indexing, fetching, evaluating), on stderr, only where a person watches.

One rule for every stage: a bar is drawn when the caller asks for progress and stderr is a
terminal. The command line asks unless ``--json`` is given; library callers (the bot's ``/add``,
the tests) pass ``progress=False`` and get none. ``QA_PROGRESS=1`` draws the bars on any stderr
(the tests' forced terminal), ``QA_PROGRESS=0`` never. So scripts, pipes and CI logs stay clean.

Bars are tqdm's, one per step, with the count done, the total and the time left; they vanish when
their step ends. ``above()`` (and ``write``) print a line without breaking a bar; log records are
sent above the bars while one is open. With no bar, nothing here changes what is printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar

T = TypeVar("T")

ENV = "QA_PROGRESS"  # "1": bars on any stderr, "0": never; unset: when stderr is a terminal


def shown(progress: bool) -> bool:
    """Whether a bar asked for with ``progress`` is drawn."""
    if not progress:
        return False
    forced = os.environ.get(ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return sys.stderr is not None and sys.stderr.isatty()


class Bar:
    """A step's bar: ``update(n)`` after ``n`` more items; ``set_total`` once the total is known."""

    def __init__(self, desc: str, total: int | None, unit: str, progress: bool) -> None:
        self.n = 0  # items done (counted also when no bar is drawn)
        self._tqdm = None
        self._logs: AbstractContextManager = nullcontext()
        if shown(progress):
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._tqdm = tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr, dynamic_ncols=True)
            self._logs = logging_redirect_tqdm()
            self._logs.__enter__()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._tqdm is not None and n:
            self._tqdm.update(n)

    def restart_clock(self) -> None:
        """Start the elapsed time (and so the time left) again, after a slow start such as loading a model."""
        if self._tqdm is not None:
            self._tqdm.reset(total=self._tqdm.total)
            self._tqdm.update(self.n)

    def set_total(self, total: int) -> None:
        if self._tqdm is not None:
            self._tqdm.total = total
            self._tqdm.refresh()

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
            self._logs.__exit__(None, None, None)

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(desc: str, total: int | None, unit: str, progress: bool) -> Bar:
    """A bar for a step of ``total`` ``unit`` s (a no-op unless :func:`shown`); use it with ``with``."""
    return Bar(desc, total, unit, progress)


def track(items: Iterable[T], desc: str, unit: str, progress: bool, total: int | None = None) -> Iterator[T]:
    """``items``, one bar step each (``total``: their number, when ``items`` has no ``len``)."""
    if not shown(progress):
        yield from items
        return
    with bar(desc, len(items) if total is None and hasattr(items, "__len__") else total, unit, progress) as b:
        for item in items:
            yield item
            b.update()


def above() -> AbstractContextManager:
    """Print inside this context without breaking a bar: bars are cleared first, drawn again after."""
    tqdm_module = sys.modules.get("tqdm")
    if tqdm_module is None:  # no bar was ever made in this process
        return nullcontext()
    return tqdm_module.tqdm.external_write_mode(file=sys.stderr)


def write(message: str, file=None) -> None:  # noqa: ANN001 (a text stream; stdout by default)
    """``print(message, file=file, flush=True)``, above any bar."""
    with above():
        print(message, file=file or sys.stdout, flush=True)
