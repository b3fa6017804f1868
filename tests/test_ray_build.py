"""``qa index --ray`` on a local Ray runtime (the [scale] extra; heavy: each build starts Ray).

The vectors, token states and annotations equal the single-process build's, into files and into
Milvus Lite; a worker killed mid-build leaves the live index answering and the next build finishes.
Ray's session files and ``~/.ray`` stay inside the test's folders.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray", reason="needs the [scale] extra (ray[data]): pip install -e '.[scale]'")

from embeddings import vector_index  # noqa: E402
from qa.errors import ClusterError  # noqa: E402
from qa.index import backend as backends  # noqa: E402
from qa.index.build import build_index  # noqa: E402
from qa.index.store import current_version_name, open_current  # noqa: E402
from qa.search.engine import Engine  # noqa: E402
from tests.conftest import TokenHashEncoder  # noqa: E402

pytestmark = [pytest.mark.scale, pytest.mark.heavy]


@pytest.fixture
def ray_here(monkeypatch, tmp_path):
    """A local Ray of two CPUs whose files stay in this test's folders."""
    short = tempfile.mkdtemp(prefix="qa-ray-", dir="/tmp")  # Ray's socket paths must stay short
    monkeypatch.setenv("RAY_TMPDIR", short)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # ~/.ray, should Ray write there
    monkeypatch.setenv("QA_RAY_CPUS", "2")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield
    assert not (tmp_path / "home" / ".ray").exists()  # the token was given in the environment
    shutil.rmtree(short, ignore_errors=True)


def _vectors(root: Path) -> np.ndarray:
    return vector_index.reconstruct_all(vector_index.load(open_current(root).path / "vectors.faiss", mmap=False))


def _everything(engine: Engine) -> tuple:
    index = engine.index
    rows = list(range(index.size))
    sentences = [t for p in index.passages(rows).values() for _, _, t in p.sentences]
    return index.passages(rows), index.speakers(rows), index.entities(sentences), engine.sources()


def test_ray_build_equals_the_plain_build_in_files_and_milvus(tmp_path, seeds_copy, token_encoder, monkeypatch,
                                                              ray_here):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "plain-cache"))
    build_index([seeds_copy], tmp_path / "plain")
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "ray-cache"))  # nothing cached: Ray encodes everything
    report = build_index([seeds_copy], tmp_path / "ray", encoder=TokenHashEncoder(), ray="")
    assert report.embedded == 0 and report.reused == report.passages  # every vector came back from Ray
    assert np.array_equal(_vectors(tmp_path / "plain"), _vectors(tmp_path / "ray"))
    plain, on_ray = Engine(tmp_path / "plain"), Engine(tmp_path / "ray")
    assert _everything(plain) == _everything(on_ray)
    a, b = plain.index.tokens, on_ray.index.tokens
    assert all(np.array_equal(a.states_of(r), b.states_of(r)) for r in range(plain.index.size))
    assert plain.ask("What did Lavrov say about the peace treaty?") == on_ray.ask(
        "What did Lavrov say about the peace treaty?")
    pytest.importorskip("milvus_lite", reason="needs the [scale] extra (milvus-lite)")
    monkeypatch.setenv("QA_MILVUS_URI", str(tmp_path / "ray.db"))
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "ray-cache-2"))
    report = backends.build_index([seeds_copy], tmp_path / "unused", encoder=TokenHashEncoder(), ray="")
    assert report.version == "v1" and report.embedded == 0
    on_milvus = Engine(tmp_path / "unused")
    assert isinstance(on_milvus.backend, backends.MilvusBackend)
    assert _everything(on_milvus) == _everything(plain)
    for q in ("Habomai", "peace treaty negotiations", "Who is Abe?"):
        assert on_milvus.index.dense(plain.encoder.encode([q])[0], 10) == plain.index.dense(
            plain.encoder.encode([q])[0], 10)
        assert on_milvus.ask(q) == plain.ask(q), q
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(tmp_path / "ray.db"))  # its Lite server need not outlive the test


class KillingEncoder(TokenHashEncoder):
    """Kills its own process (a Ray worker) on a text with "Zanzibar": always while ``always``
    exists, once (deleting it) while ``once`` exists."""

    def __init__(self, flags: Path) -> None:
        super().__init__()
        self.flags = flags

    def encode_tokens(self, texts, batch_size=32, progress=False):
        if any("Zanzibar" in t for t in texts):
            if (self.flags / "always").exists():
                os.kill(os.getpid(), signal.SIGKILL)
            if (self.flags / "once").exists():
                (self.flags / "once").unlink()
                os.kill(os.getpid(), signal.SIGKILL)
        return super().encode_tokens(texts, batch_size, progress)


def test_a_killed_worker_leaves_the_live_index_and_the_next_build_finishes(tmp_path, seeds_copy, token_encoder,
                                                                           cache_dir, ray_here):
    root = tmp_path / "idx"
    build_index([seeds_copy], root)
    before = current_version_name(root)
    engine = Engine(root)
    answer = engine.ask("Who is Abe?")
    for i in range(12):
        (seeds_copy / f"news{i}.txt").write_text(f"News {i}\nA ferry from Zanzibar reached Nemuro on day {i}. "
                                                 "The crew was tired.\n")
    flags = tmp_path / "flags"
    flags.mkdir()
    (flags / "always").touch()  # a worker that dies on every try: the build fails, in one line
    with pytest.raises(ClusterError) as failed:
        build_index([seeds_copy], root, encoder=KillingEncoder(flags), ray="")
    message = str(failed.value)
    assert "\n" not in message and "the index that answers is unchanged" in message
    assert current_version_name(root) == before and not engine.reload_if_changed()
    assert engine.ask("Who is Abe?") == answer
    (flags / "always").unlink()
    (flags / "once").touch()  # a worker that dies once: Ray replaces it and the next build finishes
    report = build_index([seeds_copy], root, encoder=KillingEncoder(flags), ray="")
    assert not (flags / "once").exists()  # it did die
    assert sorted(report.added) == sorted(f"news{i}" for i in range(12)) and report.embedded == 0
    assert engine.reload_if_changed()
    assert engine.search("Zanzibar ferry", k=1)[0].doc_id.startswith("news")
    build_index([seeds_copy], tmp_path / "plain", full=True)
    assert np.array_equal(_vectors(root), _vectors(tmp_path / "plain"))
