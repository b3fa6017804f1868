"""The key-value rows beside the passages: the live pointer, versions, blobs, entities, token states.

Keys::

    live:000000000007     a publication: {"version": 7, "collection": "news_qa_v1"}; the highest wins
    version:7             the manifest of build 7 (format, model, counts, settings)
    docs:7 / inputs:7     its documents (fingerprint, metadata) and input files (blobs)
    stats:7               its BM25 statistics and word-piece frequencies (blob)
    e:<sentence key>      a sentence's named entities (content-addressed, shared by builds)
    t:<coll>:<row>#<part> a passage's token states (immutable, as the row)
    lease                 the build under way (owner, build number, when)

A blob is JSON, zlib-compressed and base64-encoded, split over ``name#00000``... with ``name``
holding the number of parts. A build writes its rows first and its ``live:`` row last: a reader
that found build 7 reads only rows and blobs of build 7.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass

from qa.index.milvus import expr
from qa.index.milvus.archive import Archive
from qa.index.milvus.schema import META_VALUE, create_meta, meta_name

ZERO = [0.0, 0.0]
KEEP_POINTERS = 4


@dataclass(frozen=True)
class Live:
    """A published build: its number and the collection its passages are in."""

    version: int
    collection: str


class Meta:
    """The key-value collection of the index ``base``."""

    def __init__(self, archive: Archive, base: str) -> None:
        self.archive = archive
        self.base = base
        self.name = meta_name(base)

    def exists(self) -> bool:
        """Whether the index has a meta collection (loaded, if so)."""
        found = self.archive.has(self.name)
        if found:
            self.archive.load(self.name)
        return found

    def ensure(self) -> None:
        if not self.exists():
            self.archive.create(lambda c, m, t: create_meta(c, m, self.name, t))

    # ------------------------------------------------------------ plain values

    def put(self, values: dict[str, str]) -> None:
        self.archive.upsert(self.name, [{"key": k, "value": v, "vec": ZERO} for k, v in values.items()])

    def get(self, keys: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for s in range(0, len(keys), 1000):
            part = keys[s : s + 1000]
            rows = self.archive.query(self.name, expr.one_of("key", part), ["key", "value"])
            out.update((r["key"], r["value"]) for r in rows)
        return out

    def delete(self, keys: list[str]) -> None:
        for s in range(0, len(keys), 1000):
            self.archive.delete(self.name, expr.one_of("key", keys[s : s + 1000]))

    def keys(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``."""
        return [r["key"] for r in self.archive.query_all(self.name, f"key like {expr.literal(_like(prefix) + '%')}",
                                                         ["key"])]

    # ------------------------------------------------------------ blobs

    def put_blob(self, name: str, obj) -> None:
        data = base64.b64encode(zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 6)).decode()
        parts = [data[i : i + META_VALUE] for i in range(0, len(data), META_VALUE)] or [""]
        self.put({f"{name}#{i:05d}": p for i, p in enumerate(parts)})
        self.put({name: json.dumps({"parts": len(parts)})})  # last: a blob is whole once its head is there

    def get_blob(self, name: str):
        head = self.get([name]).get(name)
        if head is None:
            return None
        n = json.loads(head)["parts"]
        keys = [f"{name}#{i:05d}" for i in range(n)]
        got = self.get(keys)
        if len(got) != n:
            return None
        return json.loads(zlib.decompress(base64.b64decode("".join(got[k] for k in keys))))

    def delete_blob(self, name: str) -> None:
        self.archive.delete(self.name, f"key == {expr.literal(name)} or key like {expr.literal(_like(name) + '#%')}")

    # ------------------------------------------------------------ publication

    def live(self) -> Live | None:
        """The latest published build, or None."""
        best = max(self.keys("live:"), default=None)
        if best is None:
            return None
        value = json.loads(self.get([best])[best])
        return Live(int(value["version"]), value["collection"])

    def publish(self, live: Live) -> None:
        """Make build ``live`` the one that answers (one row: atomic for readers)."""
        self.put({f"live:{live.version:012d}": json.dumps({"version": live.version, "collection": live.collection})})
        old = sorted(self.keys("live:"))[:-KEEP_POINTERS]
        if old:
            self.delete(old)


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
