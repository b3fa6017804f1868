"""Errors the user can fix: each is printed as one line (``qa: error: ...``), exit code 1.

Every one derives from :class:`UserError`, the one class the front ends catch. Errors of the
layer below (``embeddings.errors.ModelError``) are turned into these where ``qa`` calls it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from embeddings.errors import ModelError


class UserError(Exception):
    """A problem the user can fix; its message is one line that says what to do."""


class IndexUnusable(UserError):
    """The index is missing, corrupt, or built with another model or format."""


class LockedError(UserError):
    """Another ``qa index`` is writing the index."""


class QuestionError(UserError, ValueError):
    """A question that cannot be asked (empty or too long)."""


class InputError(UserError, ValueError):
    """An input path or corpus file that cannot be indexed."""


class ModelUnavailable(UserError):
    """The embedding model cannot be loaded (not installed, or another model than the index's)."""


class FetchError(UserError):
    """A web page or feed that cannot be fetched or read (refused address, timeout, too large...)."""


class ArchiveUnreachable(UserError):
    """The Milvus archive is down, too slow or refuses the token; the message names its URI only."""


class ClusterError(UserError):
    """The Ray cluster cannot be reached, or a build on it failed (a worker died...)."""


class MissingExtra(UserError):
    """An option needs packages of an extra that is not installed (``pip install 'news-qa[scale]'``)."""


@contextmanager
def model_errors() -> Iterator[None]:
    """Turn the embedding layer's ``ModelError`` into :class:`ModelUnavailable` (a user error)."""
    try:
        yield
    except ModelError as exc:
        raise ModelUnavailable(str(exc)) from exc
