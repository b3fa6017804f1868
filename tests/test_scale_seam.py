"""The backend seam without the [scale] extra: files by default, nothing of Milvus or Ray loaded
to answer, one line naming the install when an option needs the extra, filters, URIs and tokens."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qa.errors import UserError
from qa.index import backend as backends
from qa.index.build import build_index
from qa.index.milvus import expr
from qa.index.milvus.target import target
from qa.index.where import Where
from qa.search.engine import Engine
from tests.conftest import ROOT


def test_files_are_the_default_backend(monkeypatch, tmp_path):
    monkeypatch.delenv("QA_MILVUS_URI", raising=False)
    found = backends.backend_for(tmp_path)
    assert isinstance(found, backends.FilesBackend) and found.where == str(tmp_path)
    monkeypatch.setenv("QA_MILVUS_URI", str(tmp_path / "a.db"))
    assert isinstance(backends.backend_for(tmp_path), backends.MilvusBackend)


def test_targets_and_tokens():
    t = target("http://user:pw@milvus.local:19530", {"QA_MILVUS_TOKEN": "root:Milvus", "QA_MILVUS_COLLECTION": "n1"})
    assert (t.shown, t.collection, t.lite) == ("http://milvus.local:19530", "n1", False)
    assert "root:Milvus" not in repr(t) and t.redact("bad token root:Milvus (Milvus)") == "bad token *** (***)"
    assert target(None, {}) is None and target("/data/qa.db", {}).lite
    for bad in ("/data/qa.sqlite", "/data/" + "x" * 40 + ".db", "ftp://host"):
        with pytest.raises(UserError):
            target(bad, {})
    with pytest.raises(UserError):
        target("a.db", {"QA_MILVUS_COLLECTION": "no-dashes"})


def test_expressions_and_filters():
    assert expr.literal('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert expr.contains("text_lc", "50%_x") == 'text_lc like "%50\\\\%\\\\_x%"'
    assert expr.both("a", "", "b or c") == "a and (b or c)"
    assert expr.one_of("doc_id", ['x"y', 3]) == 'doc_id in ["x\\"y", 3]'
    assert expr.visible(7) == "(added <= 7 and removed > 7)"
    w = Where(since="2019-01-01", until="2019-12-31", outlets=("TASS",))
    assert expr.where(w) == 'date >= "2019-01-01" and date <= "2019-12-31" and date != "" and source in ["TASS"]'
    assert expr.where(Where()) == "" and not Where()
    assert w.admits("2019-05-01", "TASS") and not w.admits(None, "TASS") and not w.admits("2020-01-01", "TASS")
    assert not w.admits("2019-05-01", "Kyodo") and Where(outlets=("TASS",)).admits(None, "TASS")


def test_files_filters_search_only_admitted_articles(tmp_path, seeds_copy, hash_encoder, cache_dir):
    build_index([seeds_copy], tmp_path / "idx")
    engine = Engine(tmp_path / "idx")
    sources = engine.sources()
    outlet = next(s.source for s in sources if s.source)
    hits = engine.search("peace treaty islands", k=10, where=Where(outlets=(outlet,)))
    assert hits and {h.source for h in hits} == {outlet}
    for mode in ("dense", "bm25", "hybrid", "rerank"):
        assert engine.search("peace treaty", k=5, mode=mode, where=Where(since="2100-01-01")) == []
    assert engine.search("peace treaty", k=5) == engine.search("peace treaty", k=5, where=Where())
    answer = engine.ask("What did Lavrov say?", where=Where(since="2100-01-01"))
    assert answer.abstained


IMPORTS = textwrap.dedent("""
    import sys
    from pathlib import Path
    import embeddings.model, qa.index.build
    from tests.conftest import HashEncoder
    enc = HashEncoder()
    embeddings.model.load_encoder = qa.index.build.load_encoder = lambda *a, **k: enc
    from qa.cli.main import main
    assert main(["--index-dir", sys.argv[1], "ask", "--json", "Who is Lavrov?"]) == 0
    assert main(["--index-dir", sys.argv[1], "search", "--json", "--outlet", "TASS", "treaty"]) == 0
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"pymilvus", "milvus_lite", "ray", "grpc", "pyarrow"})
    print("LOADED", loaded, file=sys.stderr)
""")


def test_answering_from_files_loads_nothing_of_milvus_or_ray(tmp_path, seeds_copy, hash_encoder, cache_dir):
    build_index([seeds_copy], tmp_path / "idx")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QA_MULTILINGUAL": "0"}
    env.pop("QA_MILVUS_URI", None)
    proc = subprocess.run([sys.executable, "-c", IMPORTS, str(tmp_path / "idx")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stderr


MISSING = textwrap.dedent("""
    import sys
    for name in sys.argv[1].split(","):
        sys.modules[name] = None  # as if the [scale] extra were not installed
    from qa.cli.main import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.parametrize(("missing", "args", "needs"), [
    ("pymilvus", ["--milvus", "/tmp/qa-nothing-here.db", "ask", "Who?"], "pymilvus"),
    ("milvus_lite", ["--milvus", "/tmp/qa-nothing-here.db", "sources"], "milvus-lite"),
    ("ray", ["index", "--ray"], "Ray"),
])
def test_an_option_without_its_extra_is_one_line_saying_how_to_install(tmp_path, seeds_copy, missing, args, needs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QA_INDEX_DIR": str(tmp_path / "idx"),
           "QA_SEEDS_DIR": str(seeds_copy), "QA_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("QA_MILVUS_URI", None)
    proc = subprocess.run([sys.executable, "-c", MISSING, missing, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "warning" not in line.lower()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert needs in lines[0] and "pip install 'news-qa[scale]'" in lines[0]


def test_cli_filter_dates_are_checked(capsys):
    from qa.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["search", "--since", "May 2019", "treaty"])
    assert exc.value.code == 2 and "YYYY-MM-DD" in capsys.readouterr().err


def test_index_paths_come_from_the_backend(tmp_path, seeds_copy, hash_encoder, cache_dir, monkeypatch):
    from qa.news.ingest import index_paths

    build_index([seeds_copy], tmp_path / "idx")
    assert index_paths(tmp_path / "idx", tmp_path / "news") == [Path(seeds_copy).resolve()]
