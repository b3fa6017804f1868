"""``Archive``: the calls the backend makes to one Milvus, each with a timeout, strong
consistency, and its failures as one line naming the URI (:mod:`qa.index.milvus.connect`)."""

from __future__ import annotations

from collections.abc import Iterator

from qa.errors import ArchiveUnreachable
from qa.index.milvus import connect
from qa.index.milvus.target import Target

QUERY_LIMIT = 16384  # Milvus's most rows a query or search returns
BATCH = 500  # rows a write sends at once


class Archive:
    """One Milvus (server, cluster or Lite file) as the backend uses it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = connect.client(self.target)
        return self._client

    @property
    def module(self):
        return connect.pymilvus()

    def _call(self, fn):
        return connect.call(self.target, fn)

    def _t(self) -> int:
        return connect.timeout_s()

    # ------------------------------------------------------------ collections

    def has(self, name: str) -> bool:
        return self._call(lambda: self.client.has_collection(name, timeout=self._t()))

    def drop(self, name: str) -> None:
        self._call(lambda: self.client.drop_collection(name, timeout=self._t()))

    def create(self, make) -> None:
        """Run ``make(client, pymilvus, timeout)`` (a function of :mod:`.schema`)."""
        self._call(lambda: make(self.client, self.module, self._t()))

    def load(self, name: str) -> None:
        """Make sure ``name`` is loaded (searchable); the first load of a big collection takes a while."""
        state = self._call(lambda: self.client.get_load_state(name, timeout=self._t()))
        if "NotLoad" in str(state.get("state")):
            self._call(lambda: self.client.load_collection(name, timeout=connect.load_timeout_s()))

    def list(self) -> list[str]:
        return self._call(lambda: self.client.list_collections(timeout=self._t()))

    def server_version(self) -> tuple[int, ...] | None:
        """The server's version, or None where it does not tell (Milvus Lite 2.5)."""
        client = self.client
        try:
            text = client.get_server_version(timeout=self._t())
        except Exception as exc:  # noqa: BLE001 - pymilvus raises many types
            if "UNIMPLEMENTED" in str(exc):  # Milvus Lite 2.5
                return None
            raise ArchiveUnreachable(connect.describe(self.target, exc)) from None
        digits = text.lstrip("v").split("-")[0].split(".")
        try:
            return tuple(int(d) for d in digits)
        except ValueError:
            return None

    # ------------------------------------------------------------ rows

    def upsert(self, name: str, rows: list[dict]) -> None:
        for s in range(0, len(rows), BATCH):
            part = rows[s : s + BATCH]
            self._call(lambda part=part: self.client.upsert(name, part, timeout=self._t()))

    def insert(self, name: str, rows: list[dict]) -> None:
        for s in range(0, len(rows), BATCH):
            part = rows[s : s + BATCH]
            self._call(lambda part=part: self.client.insert(name, part, timeout=self._t()))

    def delete(self, name: str, expr: str) -> None:
        self._call(lambda: self.client.delete(name, filter=expr, timeout=self._t()))

    def query(self, name: str, expr: str, fields: list[str], limit: int = QUERY_LIMIT) -> list[dict]:
        """At most ``limit`` rows matching ``expr`` (no order)."""
        return list(self._call(lambda: self.client.query(name, filter=expr, output_fields=fields, limit=limit,
                                                          consistency_level="Strong", timeout=self._t())))

    def query_all(self, name: str, expr: str, fields: list[str], batch: int = 4096) -> Iterator[dict]:
        """Every row matching ``expr``, a batch at a time."""
        it = self._call(lambda: self.client.query_iterator(name, batch_size=batch, filter=expr, output_fields=fields,
                                                            consistency_level="Strong", timeout=self._t()))
        try:
            while True:
                rows = self._call(it.next)
                if not rows:
                    return
                yield from rows
        finally:
            self._call(it.close)

    def search(self, name: str, field: str, vector, limit: int, expr: str, fields: list[str]) -> list[dict]:
        """The ``limit`` rows nearest ``vector`` by inner product on ``field``: hits with ``id``,
        ``distance`` and ``entity`` (``fields``), best first."""
        limit = max(1, min(limit, QUERY_LIMIT))
        found = self._call(lambda: self.client.search(name, [vector], anns_field=field, limit=limit, filter=expr,
                                                       output_fields=fields, search_params={"metric_type": "IP"},
                                                       consistency_level="Strong", timeout=self._t()))
        return list(found[0]) if found else []
