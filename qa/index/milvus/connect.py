"""The client for a :class:`~qa.index.milvus.target.Target`, and its failures as one line.

pymilvus is imported here, on first use, never by the files backend. Every call the backend makes
goes through :func:`call`, with a timeout (``QA_MILVUS_TIMEOUT``, default 10 s): a Milvus that is
down, too slow, refusing the token or (Lite) held by another process becomes one
:class:`~qa.errors.ArchiveUnreachable` whose message names the URI and never the token.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from qa.errors import ArchiveUnreachable, MissingExtra
from qa.index.milvus.target import Target

INSTALL = "pip install 'news-qa[scale]'"
log = logging.getLogger(__name__)
T = TypeVar("T")

_clients: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def timeout_s() -> int:
    """Seconds a call may take, retries included (``QA_MILVUS_TIMEOUT``, default 10; whole seconds:
    pymilvus bounds its retries by a timeout only when it is an int)."""
    try:
        return max(1, math.ceil(float(os.environ.get("QA_MILVUS_TIMEOUT", "10"))))
    except ValueError:
        return 10


def load_timeout_s() -> int:
    """Seconds to wait for Milvus to load a collection into memory (``QA_MILVUS_LOAD_TIMEOUT``, default
    600: Milvus Lite takes ~13 s for 100,000 passages on 2 cores, a server loads once for all)."""
    try:
        return max(1, math.ceil(float(os.environ.get("QA_MILVUS_LOAD_TIMEOUT", "600"))))
    except ValueError:
        return 600


def pymilvus():
    """The pymilvus module (the ``[scale]`` extra), its own console logging silenced."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pymilvus as module
    except ImportError as exc:
        raise MissingExtra(f"the Milvus backend needs pymilvus: {INSTALL}") from exc
    for name in ("pymilvus", "pymilvus.milvus_client", "pymilvus.bulk_writer"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    return module


def _quiet_lite() -> None:
    """Milvus Lite logs its failures to the root logger: our one-line error says it instead."""
    root = logging.getLogger()
    if not any(getattr(f, "qa_lite", False) for f in root.filters):
        def drop(record: logging.LogRecord) -> bool:
            return "milvus_lite" not in (record.pathname or "")

        drop.qa_lite = True  # type: ignore[attr-defined]
        root.addFilter(drop)


def client(target: Target):
    """The process's client for ``target`` (pymilvus shares one connection per URI and token,
    so clients are kept, never closed one by one)."""
    key = (target.uri, target.token)
    with _lock:
        found = _clients.get(key)
        if found is not None:
            return found
        module = pymilvus()
        if target.lite:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    import milvus_lite  # noqa: F401
            except ImportError as exc:
                raise MissingExtra(f"a Milvus Lite file needs milvus-lite: {INSTALL}") from exc
            _quiet_lite()
        made = call(target, lambda: module.MilvusClient(uri=target.uri, token=target.token, timeout=timeout_s()))
        _clients[key] = made
        return made


def forget(target: Target) -> None:
    """Close and drop the kept client of ``target`` (after its server stopped: a new one connects)."""
    with _lock:
        found = _clients.pop((target.uri, target.token), None)
    if found is not None:
        try:
            found.close()
        except Exception:  # noqa: BLE001 - closing a dead connection may fail; it is dropped either way
            log.debug("closing the client of %s failed", target.shown)


def call(target: Target, fn: Callable[[], T]) -> T:
    """``fn()``, with any failure of Milvus turned into one :class:`ArchiveUnreachable` line."""
    try:
        return fn()
    except (ArchiveUnreachable, MissingExtra):
        raise
    except Exception as exc:  # noqa: BLE001 - pymilvus raises many types (MilvusException, grpc, OSError)
        if not _from_milvus(exc):
            raise
        raise ArchiveUnreachable(describe(target, exc)) from None


def _from_milvus(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith(("pymilvus", "grpc", "milvus_lite")) or isinstance(exc, (OSError, TimeoutError))


def describe(target: Target, exc: BaseException) -> str:
    """One line for a failure of Milvus at ``target``: what happened and what to do."""
    text = target.redact(str(exc))
    where = target.shown
    if "Open local milvus failed" in text or "opened by another program" in text:
        return (f"cannot open the Milvus Lite file {where}: another process has it open (Lite serves one "
                "process at a time; run a Milvus server to serve a bot and `qa index` together)")
    if "UNAUTHENTICATED" in text or "auth check failure" in text or "missing authorization" in text:
        return f"the Milvus archive at {where} refused the token (check QA_MILVUS_TOKEN)"
    if "PERMISSION_DENIED" in text or "PermissionDenied" in text:
        return f"the Milvus archive at {where} refused the request for this token's user (check its privileges)"
    if "DEADLINE_EXCEEDED" in text or "Deadline" in text:
        return f"the Milvus archive at {where} did not answer within {timeout_s():g} s (QA_MILVUS_TIMEOUT)"
    if "Fail connecting" in text or "UNAVAILABLE" in text or "Connection refused" in text:
        return f"the archive is unreachable: no Milvus answered at {where} within {timeout_s():g} s (is it running?)"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return f"the Milvus archive at {where} failed: {first[:300]}"
