"""The exception types that are the user's to fix: printed as one line, exit 1."""

from __future__ import annotations

from embeddings.model import ModelError
from qa.errors import UserError

USER_ERRORS: tuple[type[BaseException], ...] = (UserError, ModelError)
