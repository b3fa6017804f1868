"""The Milvus backend on Milvus Lite (the [scale] extra): the same numbers and answers as the files,
versions that never mix, incremental updates, a half-written build, filters, faults.

All tests share one Lite file (one Lite server for the process), each with its own collection.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="needs the [scale] extra (pymilvus): pip install -e '.[scale]'")
pytest.importorskip("milvus_lite", reason="needs the [scale] extra (milvus-lite): pip install -e '.[scale]'")

from qa.errors import ArchiveUnreachable  # noqa: E402
from qa.index import backend as backends  # noqa: E402
from qa.index.build import build_index as build_files  # noqa: E402
from qa.index.milvus import writer as milvus_writer  # noqa: E402
from qa.index.milvus.archive import Archive  # noqa: E402
from qa.index.where import Where  # noqa: E402
from qa.search.engine import Engine  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

pytestmark = pytest.mark.scale

QUERIES = ["peace treaty", "Kuril islands Japan", "Lavrov said", "visa requirements", "Habomai Shikotan",
           "economic cooperation 1956 declaration", "zebra unicorn"]
ANIMALS = ["aardvark", "bison", "caribou"]
PHRASES = ["lavrov", "Abe", "treaty", "50%", "a_b", 'say "no"', "back\\slash", "Лавров", "islands", '"', "%",
           "_", '") or (1 == 1', "\\"]


@pytest.fixture(scope="module")
def lite_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lite") / "qa.db"


@pytest.fixture
def milvus(monkeypatch, lite_file, request):
    """QA_MILVUS_URI on the module's Lite file, a collection of this test's own."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60]
    monkeypatch.setenv("QA_MILVUS_URI", str(lite_file))
    monkeypatch.setenv("QA_MILVUS_COLLECTION", name)
    found = backends.backend_for(Path("unused"))
    assert isinstance(found, backends.MilvusBackend)
    return found


def _readers(files_root: Path, milvus: backends.MilvusBackend):
    f = backends.FilesBackend(files_root)
    return f.reader(f.open_current()), milvus.reader(milvus.open_current())


def same_ranking(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    """The same scores in the same order, the same rows for each score; only the order of rows
    with equal scores may differ (the files' BM25 leaves it to numpy's partition), and which of
    them the cut keeps."""
    if [s for _, s in a] != [s for _, s in b]:
        return False
    last = a[-1][1] if a else None
    groups: dict[float, tuple[set, set]] = {}
    for (ra, sa), (rb, _) in zip(a, b):
        groups.setdefault(sa, (set(), set()))[0].add(ra)
        groups[sa][1].add(rb)
    return all(x == y for score, (x, y) in groups.items() if score != last)


def _same_reads(fr, mr, enc) -> None:
    """Every read the query path makes gives the same result on both backends."""
    assert fr.size == mr.size
    rows = list(range(fr.size))
    for q in QUERIES:
        v = enc.encode([q])[0]
        assert fr.dense(v, 12) == mr.dense(v, 12), q
        assert fr.bm25(q, 12) == mr.bm25(q, 12), q  # equal scores too: ordered as the files order them
        assert fr.cosines(v, rows[::3]) == mr.cosines(v, rows[::3])
        assert fr.idf_weights(q.split(), unknown=True) == mr.idf_weights(q.split(), unknown=True)
    for phrase in PHRASES:
        assert fr.rows_mentioning(phrase) == mr.rows_mentioning(phrase), phrase
        assert fr.rows_mentioning(phrase, limit=3) == mr.rows_mentioning(phrase, limit=3), phrase
        assert fr.rows_spoken_by(phrase) == mr.rows_spoken_by(phrase), phrase
    assert fr.passages(rows) == mr.passages(rows)
    assert fr.speakers(rows) == mr.speakers(rows)
    sentences = [t for p in fr.passages(rows).values() for _, _, t in p.sentences]
    assert fr.entities(sentences) == mr.entities(sentences)
    assert fr.sources() == mr.sources()
    assert fr.stats() == mr.stats()
    assert fr.has_multilingual == mr.has_multilingual and (fr.tokens is None) == (mr.tokens is None)


def test_milvus_reads_what_the_files_read(tmp_path, seeds_copy, milvus, token_encoder, cache_dir):
    build_files([seeds_copy], tmp_path / "idx")
    report = milvus.build([seeds_copy])
    assert report.version == "v1" and report.passages > 50 and not report.up_to_date
    fr, mr = _readers(tmp_path / "idx", milvus)
    _same_reads(fr, mr, token_encoder)
    q = token_encoder.encode_tokens(["What did Lavrov say about the peace treaty?"])[1][0]
    rows = list(range(0, fr.size, 2))
    w = np.ones(len(q.ids), np.float32)
    assert fr.tokens.maxsim(q.states, w, rows) == mr.tokens.maxsim(q.states, w, rows)
    assert np.array_equal(fr.tokens.states_of(5), mr.tokens.states_of(5))
    assert np.array_equal(fr.token_idf(q.ids), mr.token_idf(q.ids))
    assert milvus.build([seeds_copy]).up_to_date  # nothing changed: nothing written


def test_answers_and_results_are_the_files_answers(tmp_path, seeds_copy, milvus, token_encoder, cache_dir):
    build_files([seeds_copy], tmp_path / "idx")
    milvus.build([seeds_copy])
    on_files = Engine(tmp_path / "idx", backend=backends.FilesBackend(tmp_path / "idx"))
    on_milvus = Engine(tmp_path / "idx", backend=milvus)
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "questions.jsonl").read_text().splitlines()
                 if line.strip()]
    fr, mr = on_files.index, on_milvus.index
    differ = []
    for q in questions[:25] + ["What did Lavrov say?", "Кто такой Лавров?"]:
        same = asdict(on_files.ask(q)) == asdict(on_milvus.ask(q)) and all(
            on_files.search(q, k=5, mode=m) == on_milvus.search(q, k=5, mode=m) for m in ("rerank", "hybrid", "bm25"))
        if same:
            continue
        # A difference must come from equal cosines that FAISS orders otherwise (fusion is by rank):
        # BM25's equal scores are put in the files' order.
        v = token_encoder.encode([q])[0]
        assert fr.bm25(q, 100) == mr.bm25(q, 100), q
        dense, dense_m = fr.dense(v, 100), mr.dense(v, 100)
        assert dense != dense_m and same_ranking(dense, dense_m), q
        differ.append(q)
    assert len(differ) <= 2, differ  # the bag-of-words vectors tie in cosine; real ones do not (docs/scale.md)
    assert on_milvus.sources() == on_files.sources() and on_milvus.stats() == on_files.stats()



def test_filters_are_pushed_down_and_agree(tmp_path, seeds_copy, milvus, hash_encoder, cache_dir):
    build_files([seeds_copy], tmp_path / "idx")
    milvus.build([seeds_copy])
    fr, mr = _readers(tmp_path / "idx", milvus)
    sources = fr.sources()
    dated = sorted(s.date for s in sources if s.date)
    outlet = next(s.source for s in sources if s.source)
    for where in (Where(since=dated[len(dated) // 2]), Where(until=dated[0]), Where(outlets=(outlet,)),
                  Where(since="2100-01-01"), Where(since=dated[0], outlets=(outlet, "Nobody"))):
        admitted = {s.doc_id for s in sources if where.admits(s.date, s.source)}
        for q in QUERIES:
            v = hash_encoder.encode([q])[0]
            dense, lexical = fr.dense(v, 8, where), fr.bm25(q, 8, where)
            assert same_ranking(dense, mr.dense(v, 8, where)), (where, q)
            assert same_ranking(lexical, mr.bm25(q, 8, where)), (where, q)
            got = {p.doc_id for p in fr.passages([r for r, _ in dense + lexical]).values()}
            assert got <= admitted
    engine = Engine(tmp_path / "idx", backend=milvus)
    hits = engine.search("peace treaty", k=5, where=Where(outlets=(outlet,)))
    assert hits and all(h.source == outlet for h in hits)
    assert engine.search("peace treaty", k=5, where=Where(since="2100-01-01")) == []


def test_updates_by_document_and_versions_never_mix(tmp_path, seeds_copy, milvus, hash_encoder, cache_dir):
    milvus.build([seeds_copy])
    v1 = Engine(tmp_path, backend=milvus)
    before = v1.search("Habomai", k=3)
    first = sorted(seeds_copy.glob("*.txt"))
    removed, changed = first[0], first[1]
    removed.unlink()
    changed.write_text(changed.read_text() + "\nA zebra was seen on Shikotan in spring, the paper said.\n")
    (seeds_copy / "new.txt").write_text("Unicorn news\nA unicorn crossed the Nemuro strait. It swam well.\n")
    report = milvus.build([seeds_copy])
    assert (report.version, report.added, report.changed, report.removed) == (
        "v2", ["new"], [changed.stem], [removed.stem])
    assert report.embedded < report.passages  # only the new and changed documents were embedded
    # The engine that opened v1 still reads v1 only; a reload moves it to v2 between questions.
    assert v1.version == "v1" and v1.search("Habomai", k=3) == before
    assert v1.search("unicorn Nemuro", k=1)[0].doc_id != "new"
    assert v1.reload_if_changed() and v1.version == "v2"
    assert v1.search("unicorn Nemuro", k=1)[0].doc_id == "new"
    # v2 reads as a fresh build of the same articles does: the same passages, vectors and BM25
    # scores (rows are numbered otherwise, and the mean passage length is summed otherwise).
    build_files([seeds_copy], tmp_path / "fresh")
    _same_content(backends.FilesBackend(tmp_path / "fresh"), milvus, hash_encoder)
    fresh = Engine(tmp_path / "fresh", backend=backends.FilesBackend(tmp_path / "fresh"))
    assert fresh.sources() == v1.sources() and fresh.stats() == v1.stats()
    # Build v3: the rows v2 replaced are pruned (no kept build reads them); v2's stay for its readers.
    (seeds_copy / "new.txt").unlink()
    assert milvus.build([seeds_copy]).version == "v3"
    archive = Archive(milvus.target)
    live = milvus.meta.live()
    assert not archive.query(live.collection, "removed <= 1", ["row"])
    assert archive.query(live.collection, "removed == 3", ["row"])  # the unicorn, for readers of v2


def _same_content(files: backends.FilesBackend, milvus: backends.MilvusBackend, enc) -> None:
    fr, mr = files.reader(files.open_current()), milvus.reader(milvus.open_current())
    assert fr.size == mr.size
    for q in QUERIES:
        v = enc.encode([q])[0]
        for a, b in ((fr.dense(v, fr.size), mr.dense(v, mr.size)), (fr.bm25(q, fr.size), mr.bm25(q, mr.size))):
            pa, pb = fr.passages([r for r, _ in a]), mr.passages([r for r, _ in b])
            sa = {pa[r].chunk_id: s for r, s in a}
            sb = {pb[r].chunk_id: s for r, s in b}
            assert sa.keys() == sb.keys(), q
            assert np.allclose([sa[c] for c in sa], [sb[c] for c in sa], rtol=1e-5, atol=0), q


def test_full_rebuild_writes_a_new_collection_and_drops_the_old(tmp_path, seeds_copy, milvus, hash_encoder,
                                                                cache_dir):
    milvus.build([seeds_copy])
    old = milvus.meta.live().collection
    reader = Engine(tmp_path, backend=milvus)
    assert milvus.build([seeds_copy], full=True).version == "v2"
    new = milvus.meta.live().collection
    assert new != old and reader.search("Habomai", k=1)  # v1's collection is kept for its readers
    milvus.build([seeds_copy], full=True)
    assert old not in Archive(milvus.target).list()


def test_a_build_that_dies_never_answers_and_the_next_finishes_it(tmp_path, seeds_copy, milvus, hash_encoder,
                                                                  cache_dir, monkeypatch):
    milvus.build([seeds_copy])
    engine = Engine(tmp_path, backend=milvus)
    before = [asdict(h) for h in engine.search("Habomai islands", k=5)]
    for i, animal in enumerate(ANIMALS):
        (seeds_copy / f"extra{i}.txt").write_text(f"Extra {i}\n" + f"A {animal} was seen on the Kuril islands. " * 40)
    monkeypatch.setattr(milvus_writer, "WRITE_CHUNK", 4)
    inserts = []
    real_insert = Archive.insert

    def dying_insert(self, name, rows):
        inserts.append(len(rows))
        if len(inserts) == 3:
            raise ArchiveUnreachable(f"the Milvus archive at {self.target.shown} did not answer within 10 s")
        return real_insert(self, name, rows)

    monkeypatch.setattr(Archive, "insert", dying_insert)
    with pytest.raises(ArchiveUnreachable):
        milvus.build([seeds_copy])
    assert milvus.current_name() == "v1" and not engine.reload_if_changed()
    assert [asdict(h) for h in engine.search("Habomai islands", k=5)] == before
    assert engine.search("bison", k=1, mode="bm25") == []
    written_before = sum(inserts[:2])
    inserts.clear()
    monkeypatch.setattr(Archive, "insert", lambda self, name, rows: (inserts.append(len(rows)),
                                                                     real_insert(self, name, rows))[1])
    report = milvus.build([seeds_copy])  # the next qa index finishes it, keeping what was written
    assert report.version == "v2" and sorted(report.added) == ["extra0", "extra1", "extra2"]
    assert report.embedded == 0  # every vector came from the cache the dead build filled
    assert written_before > 0 and sum(inserts) < sum(1 for _ in range(report.passages))
    assert engine.reload_if_changed()
    assert engine.search("bison", k=1, mode="bm25")[0].doc_id == "extra1"
    build_files([seeds_copy], tmp_path / "fresh")
    _same_content(backends.FilesBackend(tmp_path / "fresh"), milvus, hash_encoder)


# ------------------------------------------------------------------ faults, as a user sees them


def _qa(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_milvus_that_is_down_is_one_line_naming_the_uri_never_the_token(tmp_path):
    uri = f"http://127.0.0.1:{_free_port()}"
    proc = _qa(["--milvus", uri, "ask", "Who is Lavrov?"],
               {"QA_MILVUS_TOKEN": "root:s3cret-token", "QA_MILVUS_TIMEOUT": "2"})
    line = _one_line(proc)
    assert uri in line and "unreachable" in line and "s3cret" not in proc.stderr + proc.stdout


def test_a_milvus_that_does_not_answer_is_one_line_within_the_timeout(tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    held = []
    threading.Thread(target=lambda: [held.append(srv.accept()) for _ in range(20)], daemon=True).start()
    uri = f"http://127.0.0.1:{srv.getsockname()[1]}"
    try:
        proc = _qa(["--milvus", uri, "search", "treaty"], {"QA_MILVUS_TOKEN": "abc:def", "QA_MILVUS_TIMEOUT": "1"},
                   timeout=60)
    finally:
        srv.close()
    line = _one_line(proc)
    assert uri in line and "def" not in line.replace("defa", "")


def test_a_lite_file_open_in_another_process_is_one_line(lite_file, milvus, seeds_copy, hash_encoder, cache_dir):
    milvus.build([seeds_copy])  # this process now holds the Lite file
    proc = _qa(["--milvus", str(lite_file), "search", "treaty"], {})
    line = _one_line(proc)
    assert str(lite_file) in line and "another process" in line


def test_a_bad_milvus_uri_is_one_line():
    proc = _qa(["--milvus", "archive.sqlite", "ask", "x"], {})
    assert "NAME.db" in _one_line(proc)


def test_cli_index_then_ask_against_lite(lite_file, milvus, seeds_copy, hash_encoder, cache_dir, capsys):
    from qa.cli.main import main

    uri = str(lite_file)
    assert main(["--milvus", uri, "index", str(seeds_copy)]) == 0
    assert f"Milvus collection {milvus.target.collection} at {uri}" in capsys.readouterr().out
    assert main(["--milvus", uri, "ask", "--json", "Who is Lavrov?"]) == 0
    assert json.loads(capsys.readouterr().out)["citations"]
    assert main(["--milvus", uri, "search", "--json", "--outlet", "Nobody", "treaty"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == []
    assert main(["--milvus", uri, "sources", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(list(seeds_copy.glob("*.txt")))


def _lite_child(path: Path) -> int:
    """The pid of this process's Milvus Lite server for ``path``."""
    from milvus_lite.server_manager import server_manager_instance

    return server_manager_instance._servers[str(path.resolve())]._p.pid


def test_a_lite_server_that_dies_under_questions_is_one_line(tmp_path, seeds_copy, hash_encoder, cache_dir,
                                                            monkeypatch):
    from qa.index.milvus.target import target

    lite = tmp_path / "dying.db"
    monkeypatch.setenv("QA_MILVUS_TIMEOUT", "2")
    archive = backends.MilvusBackend(target(str(lite), {"QA_MILVUS_COLLECTION": "dying"}))
    archive.build([seeds_copy])
    engine = Engine(tmp_path, backend=archive)
    assert engine.ask("Who is Lavrov?").citations
    os.kill(_lite_child(lite), signal.SIGKILL)
    with pytest.raises(ArchiveUnreachable) as down:
        engine.ask("Who is Abe?")
    assert str(lite) in str(down.value) and "\n" not in str(down.value)
    with pytest.raises(ArchiveUnreachable):
        engine.reload_if_changed()
    _release(lite)


DYING_BUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import qa.index.build, qa.index.milvus.writer as writer
    from qa.index.milvus.archive import Archive
    from qa.index.milvus.target import target
    from tests.conftest import HashEncoder

    class Slow(HashEncoder):
        def encode(self, texts, batch_size=32, progress=False):
            time.sleep(0.3)
            return super().encode(texts)

    writer.WRITE_CHUNK = 6
    real = Archive.insert
    def insert(self, name, rows):
        real(self, name, rows)
        print("inserted", flush=True)
    Archive.insert = insert
    qa.index.build.load_encoder = lambda *a, **k: Slow()
    sys.exit(writer.build_milvus([Path(sys.argv[1])], target(sys.argv[2])) and 0)
""")


@pytest.mark.heavy
def test_milvus_gone_mid_build_never_answers_and_the_next_index_finishes(tmp_path, seeds_copy, hash_encoder,
                                                                         cache_dir, monkeypatch):
    """A Milvus Lite server killed under a build: the build fails in one line, the live build
    answers, and the next `qa index` (another process) finishes the build."""
    from qa.cli.main import main

    lite = tmp_path / "gone.db"
    monkeypatch.setenv("QA_MILVUS_COLLECTION", "gone")
    monkeypatch.setenv("QA_MILVUS_URI", str(lite))
    monkeypatch.setenv("QA_MILVUS_TIMEOUT", "3")
    assert main(["index", str(seeds_copy)]) == 0
    _release(lite)  # let the child process open the file
    for i, animal in enumerate(ANIMALS):
        (seeds_copy / f"extra{i}.txt").write_text(f"Extra {i}\n" + f"A {animal} was seen on the Kuril islands. " * 60)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", DYING_BUILD, str(seeds_copy), str(lite)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "inserted"  # the build is writing
        assert proc.stdout.readline().strip() == "inserted"
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)  # Milvus Lite, gone
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1 and "ArchiveUnreachable" in err and str(lite) in err
    on_milvus = backends.backend_for(tmp_path)
    assert on_milvus.current_name() == "v1"  # the dead build never answers
    assert Engine(tmp_path, backend=on_milvus).search("bison", k=1, mode="bm25") == []
    assert main(["index", str(seeds_copy)]) == 0  # the next qa index finishes it
    engine = Engine(tmp_path, backend=on_milvus)
    assert engine.version == "v2" and engine.search("bison", k=1, mode="bm25")[0].doc_id == "extra1"
    build_files([seeds_copy], tmp_path / "fresh")
    _same_content(backends.FilesBackend(tmp_path / "fresh"), on_milvus, hash_encoder)
    _release(lite)


def _release(lite: Path) -> None:
    """Stop this process's Lite server for ``lite`` (Lite serves one process at a time)."""
    from milvus_lite.server_manager import server_manager_instance

    from qa.index.milvus import connect
    from qa.index.milvus.target import target

    server_manager_instance.release_server(str(lite))
    connect.forget(target(str(lite), {"QA_MILVUS_COLLECTION": "x"}))
