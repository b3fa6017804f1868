"""The backend's Milvus operations on two engines: Milvus Lite 2.5 and the standalone server of the
``milvus`` 2.3.5 package (the ``scale-server`` extra, started on loopback with authentication).

The same tests run on both where the server's version allows: dense search within a build and
under date/outlet filters, marking and deleting by document, strong consistency (a write is read
by the next call), the key-value rows. What 2.3.5 lacks (sparse vectors, a second vector field,
infix LIKE) is skipped by name; the full backend refuses it in one line. Heavy: the server takes
~10 s and ~300 MB to start.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="needs the [scale] extra (pymilvus): pip install -e '.[scale]'")

from qa.errors import ArchiveUnreachable, UserError  # noqa: E402
from qa.index.milvus import connect, expr  # noqa: E402
from qa.index.milvus.archive import Archive  # noqa: E402
from qa.index.milvus.meta import Live, Meta  # noqa: E402
from qa.index.milvus.schema import STRING_FIELDS, Shape, create_passages  # noqa: E402
from qa.index.milvus.target import Target  # noqa: E402
from qa.index.where import Where  # noqa: E402

pytestmark = [pytest.mark.scale, pytest.mark.heavy]

TOKEN = "root:Milvus"  # the server's default superuser
DIM = 8
NO_SPARSE = "Milvus 2.3.5 has no sparse vectors (BM25 as sparse vectors needs 2.4)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The ``milvus`` package's standalone server, with authentication on."""
    milvus = pytest.importorskip("milvus", reason="needs the scale-server extra (milvus 2.3.5)")
    srv = milvus.MilvusServer(milvus.MilvusServerConfig(data_dir=str(tmp_path_factory.mktemp("milvus-server"))))
    port = _free_port()
    srv.config.configs.update(proxy_port=port)
    srv.config.set("authorization_enabled", True)
    srv.start()
    try:
        yield Target(f"http://127.0.0.1:{port}", "t", TOKEN), srv
    finally:
        srv.stop()


@pytest.fixture(params=["lite", "server-2.3.5"])
def engine(request, tmp_path_factory):
    """(kind, Archive) on each engine; the collection names are the test's own."""
    if request.param == "lite":
        pytest.importorskip("milvus_lite", reason="needs the [scale] extra (milvus-lite)")
        target = Target(str(tmp_path_factory.getbasetemp() / "engines.db"), "t")
    else:
        target = request.getfixturevalue("server")[0]
    return request.param, Archive(target)


def _name(request) -> str:
    return "c_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:80]


def _rows(n: int, rng: np.random.Generator) -> list[dict]:
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    out = []
    for i in range(n):
        row = dict.fromkeys(STRING_FIELDS, "")
        row.update(row=i, added=1, removed=expr.LIVE, doc_id=f"d{i // 4}", chunk_id=f"d{i // 4}#{i % 4}",
                   text=f"passage {i}", date="" if i % 7 == 0 else f"2019-{1 + i % 12:02d}-15",
                   source=["TASS", "Kyodo", 'The "Times"'][i % 3], year_hint=-1, start_char=0, end_char=9,
                   tokens_n=0, dense=vecs[i].tolist())
        out.append(row)
    return out


@pytest.fixture
def passages(engine, request):
    kind, archive = engine
    name = _name(request)
    if archive.has(name):
        archive.drop(name)
    archive.create(lambda c, m, t: create_passages(c, m, name, Shape(DIM, sparse=False), t))
    rows = _rows(60, np.random.default_rng(7))
    archive.insert(name, rows)
    return kind, archive, name, rows


def _expected(rows: list[dict], q: np.ndarray, k: int, keep) -> list[int]:
    scored = [(float(np.dot(r["dense"], q)), r["row"]) for r in rows if keep(r)]
    return [r for _, r in sorted(scored, key=lambda x: (-x[0], x[1]))[:k]]


def test_dense_search_within_a_build_and_filters(passages):
    _, archive, name, rows = passages
    q = np.asarray(rows[5]["dense"], np.float32)
    hits = archive.search(name, "dense", q.tolist(), 10, expr.visible(1), ["dense"])
    assert [h["id"] for h in hits] == _expected(rows, q, 10, lambda r: True)
    assert archive.search(name, "dense", q.tolist(), 10, expr.visible(0), []) == []  # before build 1
    where = Where(since="2019-06-01", outlets=("Kyodo", 'The "Times"'))
    hits = archive.search(name, "dense", q.tolist(), 10, expr.both(expr.visible(1), expr.where(where)), [])
    assert [h["id"] for h in hits] == _expected(rows, q, 10, lambda r: where.admits(r["date"] or None, r["source"]))
    got = archive.query(name, expr.both(expr.visible(1), expr.where(Where(until="2019-03-31"))), ["row", "date"])
    assert sorted(r["row"] for r in got) == sorted(r["row"] for r in rows if r["date"] and r["date"] <= "2019-03-31")


def test_documents_are_replaced_and_deleted_with_strong_consistency(passages):
    _, archive, name, rows = passages
    old = archive.query(name, expr.one_of("doc_id", ["d1", "d2"]), ["*"])
    assert len(old) == 8 and all(len(r["dense"]) == DIM for r in old)
    archive.upsert(name, [{**{k: v for k, v in r.items() if k != "id"}, "removed": 2} for r in old])
    new = _rows(4, np.random.default_rng(9))
    archive.insert(name, [{**r, "row": 100 + i, "added": 2, "doc_id": "d1"} for i, r in enumerate(new)])
    in_v1 = {r["row"] for r in archive.query(name, expr.both(expr.visible(1), 'doc_id == "d1"'), ["row"])}
    in_v2 = {r["row"] for r in archive.query(name, expr.both(expr.visible(2), 'doc_id == "d1"'), ["row"])}
    assert in_v1 == {4, 5, 6, 7} and in_v2 == {100, 101, 102, 103}  # read at once: strong consistency
    archive.delete(name, "removed <= 2")
    assert not archive.query(name, expr.one_of("doc_id", ["d2"]), ["row"])
    assert len(list(archive.query_all(name, expr.visible(2), ["row"], batch=7))) == 60 - 8 + 4


def test_key_values_blobs_and_the_live_pointer(engine, request):
    _, archive = engine
    meta = Meta(archive, _name(request))
    if meta.exists():
        archive.drop(meta.name)
    meta.ensure()
    blob = {"df": {f"term{i}": i for i in range(30_000)}, "text": 'quotes " and \\ and é'}
    meta.put_blob("stats:1", blob)
    assert meta.get_blob("stats:1") == blob and len(meta.keys("stats:1#")) > 1
    assert meta.live() is None
    meta.publish(Live(1, "a"))
    meta.publish(Live(2, "b"))
    assert meta.live() == Live(2, "b")
    meta.delete_blob("stats:1")
    assert meta.get_blob("stats:1") is None and meta.keys("stats:") == []


def test_infix_like_for_phrases(passages):
    kind, archive, name, _ = passages
    if kind == "server-2.3.5":
        pytest.skip("Milvus 2.3.5 matches only prefixes with LIKE (rows_mentioning needs 2.4)")
    assert {r["row"] for r in archive.query(name, expr.contains("text", "sage 1"), ["row"])} == {
        1, *range(10, 20)}


def test_sparse_vectors_for_bm25(engine, request):
    kind, archive = engine
    if kind == "server-2.3.5":
        pytest.skip(NO_SPARSE)
    name = _name(request)
    if archive.has(name):
        archive.drop(name)
    archive.create(lambda c, m, t: create_passages(c, m, name, Shape(DIM, sparse=True, ml_dim=4), t))
    rows = _rows(20, np.random.default_rng(3))
    for r in rows:
        r["sparse"] = {r["row"] + 1: 1.0, 1000: 0.5}
        r["dense_ml"] = [1.0, 0.0, 0.0, 0.0]
    archive.insert(name, rows)
    hits = archive.search(name, "sparse", {4: 2.0, 1000: 1.0}, 3, expr.visible(1), ["row"])
    assert hits[0]["id"] == 3 and abs(hits[0]["distance"] - 2.5) < 1e-6 and abs(hits[1]["distance"] - 0.5) < 1e-6


def test_the_backend_refuses_a_server_without_sparse_vectors_in_one_line(engine, seeds_copy, hash_encoder, cache_dir):
    kind, archive = engine
    if kind == "lite":
        pytest.skip("Milvus Lite 2.5 has sparse vectors: the backend runs on it (tests/test_milvus.py)")
    from qa.index.milvus.writer import build_milvus

    with pytest.raises(UserError) as refused:
        build_milvus([seeds_copy], archive.target)
    assert "version 2.3.5" in str(refused.value) and "2.4 or later" in str(refused.value)


def test_a_refused_token_is_one_line_without_it(engine):
    kind, archive = engine
    if kind == "lite":
        pytest.skip("Milvus Lite has no authentication")
    bad = Target(archive.target.uri, "t", "root:wrong-s3cret")
    with pytest.raises(ArchiveUnreachable) as refused:
        Archive(bad).list()
    text = str(refused.value)
    assert "refused the token" in text and bad.uri in text and "s3cret" not in text and "\n" not in text
    connect.forget(bad)


def test_a_stopped_server_is_one_line(server, monkeypatch):
    """Last in the module: stops the server."""
    target, srv = server
    archive = Archive(target)
    assert isinstance(archive.list(), list)
    srv.stop()
    monkeypatch.setenv("QA_MILVUS_TIMEOUT", "2")
    with pytest.raises(ArchiveUnreachable) as down:
        archive.list()
    assert "unreachable" in str(down.value) and target.uri in str(down.value)
    connect.forget(target)
