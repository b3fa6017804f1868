"""The exception types that are the user's to fix: printed as one line, exit 1."""

from __future__ import annotations

from embeddings.model import ModelError
from qa.engine import QuestionError
from qa.indexer import InputError
from qa.store import IndexUnusable, LockedError

USER_ERRORS: tuple[type[BaseException], ...] = (IndexUnusable, LockedError, QuestionError, InputError, ModelError)
