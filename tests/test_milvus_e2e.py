"""The seeds with the real model, in the folder and in Milvus Lite, through the CLI: `qa index`
then `qa ask --json` / `qa search --json` give the same output on every question of
eval/questions.jsonl, and `qa eval` the same figures (slow, and needs the [scale] extra)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict

import pytest

pytest.importorskip("pymilvus", reason="needs the [scale] extra (pymilvus): pip install -e '.[scale]'")
pytest.importorskip("milvus_lite", reason="needs the [scale] extra (milvus-lite): pip install -e '.[scale]'")

from qa.index import backend as backends  # noqa: E402
from qa.index.milvus.target import target  # noqa: E402
from qa.search.engine import Engine  # noqa: E402
from tests.conftest import ROOT, SEEDS  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.scale]


def _qa(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True, timeout=900,
                         cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The folder and a Lite file, each built by `qa index seeds` (the second from the cache)."""
    base = tmp_path_factory.mktemp("e2e-milvus")
    _qa("--index-dir", str(base / "idx"), "index", str(SEEDS))
    uri = str(base / "seeds.db")
    assert "Milvus collection" in _qa("--milvus", uri, "index", str(SEEDS))
    return base / "idx", uri


def test_ask_and_search_are_the_folders_on_every_question(both):
    root, uri = both
    on_files = Engine(root, backend=backends.FilesBackend(root))
    on_milvus = Engine(root, backend=backends.MilvusBackend(target(uri, {})))
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "questions.jsonl").read_text().splitlines()
                 if line.strip()]
    for q in questions:
        assert asdict(on_files.ask(q)) == asdict(on_milvus.ask(q)), q
        assert on_files.search(q, k=10) == on_milvus.search(q, k=10), q
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(uri)  # the CLI below opens the file in another process


def test_the_cli_prints_the_same(both):
    root, uri = both
    question = "When did Japan ease visa requirements for Russians?"
    assert _qa("--index-dir", str(root), "ask", "--json", question) == _qa("--milvus", uri, "ask", "--json", question)
    a, b = (json.loads(_qa(*where, "eval", "--json")) for where in (("--index-dir", str(root)), ("--milvus", uri)))
    a.pop("seconds"), b.pop("seconds")
    assert a == b
