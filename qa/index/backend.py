"""The seam between the index and where it is kept: local files (the default) or Milvus.

A backend says which build is live, opens a reader on it and builds a new one. ``backend_for``
picks Milvus when ``--milvus URI`` or ``QA_MILVUS_URI`` names one (the CLI puts the option into
the environment, so the bot, ``qa fetch`` and ``qa update`` of that process use it too), else the
index folder. The Milvus code is imported only here, only when chosen: the files' query path never
loads pymilvus.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from qa.errors import IndexUnusable
from qa.index.milvus.target import Target, target
from qa.index.store import Version, current_version_name, open_current

if TYPE_CHECKING:  # the build's modules are not loaded to answer a question
    from embeddings.model import Encoder
    from qa.index.build import IndexReport


class Backend(Protocol):
    """Where an index is kept."""

    where: str  # for messages: the folder, or the collection and URI

    def current_name(self) -> str | None: ...

    def open_current(self) -> Any: ...

    def reader(self, version: Any) -> Any: ...

    def build(self, paths: list[Path], **options: Any) -> IndexReport: ...


class FilesBackend:
    """The index folder (``qa/index/store.py``): embedded, nothing to run."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.where = str(self.root)

    def current_name(self) -> str | None:
        """The live version's name, or None when there is no index."""
        return current_version_name(self.root)

    def open_current(self) -> Version | None:
        return open_current(self.root)

    def reader(self, version: Version):
        from qa.index.reader import IndexReader

        return IndexReader(version)

    def build(self, paths: list[Path], **options: Any) -> IndexReport:
        from qa.index.build import build_index as build_files

        return build_files(paths, self.root, **options)


class MilvusBackend:
    """An index in Milvus (``qa/index/milvus/``): Lite file, server or cluster."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.where = f"the Milvus collection {target.collection} at {target.shown}"
        self._meta = None
        self._exists = False

    @property
    def meta(self):
        if self._meta is None:
            from qa.index.milvus.archive import Archive
            from qa.index.milvus.meta import Meta

            self._meta = Meta(Archive(self.target), self.target.collection)
        return self._meta

    def current_name(self) -> str | None:
        """The live build's name (``v<number>``), or None (asked before every bot question)."""
        if not self._exists:
            self._exists = self.meta.exists()
            if not self._exists:
                return None
        live = self.meta.live()
        return f"v{live.version}" if live else None

    def open_current(self):
        from qa.index.milvus.reader import MilvusVersion

        if not self.meta.exists():
            return None
        live = self.meta.live()
        if live is None:
            return None
        manifest = self.meta.get_blob(f"version:{live.version}")
        if manifest is None or not self.meta.archive.has(live.collection):
            raise IndexUnusable(f"{self.where}: build v{live.version} is incomplete; rebuild it with "
                                "`qa index --full`")
        return MilvusVersion(live.version, live.collection, manifest)

    def reader(self, version):
        from qa.index.milvus.reader import MilvusReader

        self.meta.archive.load(version.collection)
        stats = self.meta.get_blob(f"stats:{version.number}")
        if stats is None:
            raise IndexUnusable(f"{self.where}: the statistics of build {version.name} are missing; rebuild it "
                                "with `qa index --full`")
        return MilvusReader(self.meta.archive, self.meta, version, stats)

    def build(self, paths: list[Path], **options: Any) -> IndexReport:
        from qa.index.milvus.writer import build_milvus

        return build_milvus(paths, self.target, **options)


def backend_for(index_dir: Path) -> Backend:
    """Milvus when ``QA_MILVUS_URI`` names one, else the index folder ``index_dir``."""
    found = target()
    return MilvusBackend(found) if found is not None else FilesBackend(index_dir)


def build_index(paths: list[Path], root: Path, full: bool = False, progress: bool = False,
                warn: Callable[[str], None] | None = None, encoder: Encoder | None = None, lock_wait: float = 0.0,
                multilingual_vectors: bool = True, ray: str | None = None) -> IndexReport:
    """Build or refresh the index (in ``root``, or in Milvus when one is configured)."""
    options: dict[str, Any] = {"full": full, "progress": progress, "encoder": encoder, "lock_wait": lock_wait,
                               "multilingual_vectors": multilingual_vectors, "ray": ray}
    if warn is not None:
        options["warn"] = warn
    return backend_for(root).build(paths, **options)
