"""Where the Milvus archive is: URI, token and collection, from ``--milvus`` or the environment.

A URI ending in ``.db`` is a Milvus Lite file (one process at a time); ``http://host:19530`` a
server or cluster. The token (``QA_MILVUS_TOKEN``, ``user:password`` or an API key) never appears
in a message or a log: only :attr:`Target.shown` does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from qa.errors import UserError

DEFAULT_COLLECTION = "news_qa"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
_LITE_NAME = re.compile(r"^[A-Za-z0-9.\-_]{1,36}$")  # what Milvus Lite accepts as a file name


@dataclass(frozen=True)
class Target:
    """A Milvus archive: where it is, the token to show it, and the index's collection."""

    uri: str
    collection: str = DEFAULT_COLLECTION
    token: str = field(default="", repr=False)

    @property
    def lite(self) -> bool:
        """Whether the URI is a Milvus Lite file."""
        return not urlsplit(self.uri).scheme

    @property
    def shown(self) -> str:
        """The URI as messages show it (no user name or password)."""
        parts = urlsplit(self.uri)
        if parts.username or parts.password:
            host = parts.hostname or ""
            return urlunsplit((parts.scheme, f"{host}:{parts.port}" if parts.port else host, parts.path, "", ""))
        return self.uri

    def redact(self, text: str) -> str:
        """``text`` with the token, its password half and the URI's password removed."""
        secrets = {self.token, self.token.partition(":")[2], urlsplit(self.uri).password or ""} - {""}
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def target(uri: str | None = None, env: dict | None = None) -> Target | None:
    """The archive ``uri`` (else ``QA_MILVUS_URI``) names, or None for the files backend."""
    env = os.environ if env is None else env
    uri = (uri or env.get("QA_MILVUS_URI") or "").strip()
    if not uri:
        return None
    collection = (env.get("QA_MILVUS_COLLECTION") or DEFAULT_COLLECTION).strip()
    if not _NAME.match(collection):
        raise UserError(f"QA_MILVUS_COLLECTION={collection!r}: use letters, digits and underscores")
    t = Target(uri, collection, (env.get("QA_MILVUS_TOKEN") or "").strip())
    if t.lite:
        name = os.path.basename(uri)
        if not uri.endswith(".db") or not _LITE_NAME.match(name):
            raise UserError(f"Milvus URI {uri!r}: a Milvus Lite file is named NAME.db (letters, digits, '.-_', "
                            "at most 36 characters); a server is http://host:19530")
    elif urlsplit(uri).scheme not in ("http", "https", "tcp", "grpc", "unix"):
        raise UserError(f"Milvus URI {t.shown!r}: use http://host:19530 for a server, "
                        "or a NAME.db file for Milvus Lite")
    return t
