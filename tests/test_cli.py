"""The CLI's JSON contract (docs/cli.md) and its error handling."""

import json

import pytest

from qa.cli.main import main

HIT_KEYS = {"rank", "doc_id", "chunk_id", "score", "text", "title", "source", "date", "path", "start", "end", "url"}


@pytest.fixture
def index(tmp_path, seeds_copy, hash_encoder, cache_dir, monkeypatch):
    root = tmp_path / "idx"
    monkeypatch.setenv("QA_SEEDS_DIR", str(seeds_copy))
    assert main(["--index-dir", str(root), "index"]) == 0
    return root


def run_json(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr().out
    assert code == 0
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_search_json_shape(index, capsys, seeds_copy):
    (obj,) = run_json(capsys, "--index-dir", str(index), "search", "Habomai", "--k", "3", "--json")
    assert obj["query"] == "Habomai" and len(obj["results"]) == 3
    for h in obj["results"]:
        assert set(h) == HIT_KEYS
        original = (seeds_copy / f"{h['doc_id']}.txt").read_text(encoding="utf-8")
        assert " ".join(original[h["start"] : h["end"]].split()) == h["text"]
        assert h["date"] is None or len(h["date"]) == 10


def test_search_batch_json_lines(index, capsys, tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_text('{"_id": "a", "text": "Kuril islands"}\n{"_id": "b", "text": "Aegis Ashore"}\n')
    lines = run_json(capsys, "--index-dir", str(index), "search", "--batch", str(q), "--k", "2", "--json")
    assert [x["query_id"] for x in lines] == ["a", "b"]
    assert all(len(x["results"]) == 2 and set(x["results"][0]) == HIT_KEYS for x in lines)


@pytest.mark.parametrize("k", ["0", "-1", "1001", "ten"])
def test_k_must_be_a_sensible_count(index, capsys, k):
    with pytest.raises(SystemExit) as exc:
        main(["--index-dir", str(index), "search", "Habomai", "--k", k])
    assert exc.value.code == 2 and "from 1 to 1000" in capsys.readouterr().err


def test_bm25_search_in_another_script_matches_names(index, capsys):
    (obj,) = run_json(capsys, "--index-dir", str(index), "search", "Шикотан", "--mode", "bm25", "--json")
    assert obj["results"] and "Shikotan" in obj["results"][0]["text"]


def test_ask_json_shape(index, capsys):
    (obj,) = run_json(capsys, "--index-dir", str(index), "ask", "What did Lavrov say?", "--json")
    assert set(obj) == {"question", "answer", "abstained", "citations", "short", "understood_as"}
    assert obj["understood_as"] is None  # a single question is never rewritten
    assert obj["question"] == "What did Lavrov say?"
    assert not obj["abstained"] and obj["citations"]
    for c in obj["citations"]:
        assert set(c) == HIT_KEYS | {"n"}
        assert f"[{c['n']}]" in obj["answer"]


def test_sources(index, capsys):
    (rows,) = run_json(capsys, "--index-dir", str(index), "sources", "--json")
    assert len(rows) == 5 and {"ANI", "Kyodo", "Izvestia", "EastRussia"} <= {r["source"] for r in rows}


@pytest.mark.parametrize("argv, message", [
    (["ask", " "], "question is empty"),
    (["ask", "x" * 10_000], "limit is"),
    (["search"], "give a QUERY"),
])
def test_user_errors_are_one_line(index, capsys, argv, message):
    assert main(["--index-dir", str(index), *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_index_without_build(tmp_path, capsys, hash_encoder, cache_dir, monkeypatch):
    empty = tmp_path / "seeds"
    empty.mkdir()
    monkeypatch.setenv("QA_SEEDS_DIR", str(empty))
    # No index and nothing to build it from: a one-line error, exit 1.
    assert main(["--index-dir", str(tmp_path / "idx"), "ask", "anything at all?", "--json"]) == 1
    out = capsys.readouterr()
    assert "building it" in out.err and "no usable articles" in out.err and "Traceback" not in out.err


def test_index_of_missing_path(tmp_path, capsys, hash_encoder, cache_dir):
    assert main(["--index-dir", str(tmp_path / "idx"), "index", str(tmp_path / "nope")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["ask", "Lavrov"], ["search", "Lavrov"], ["sources"], ["index"]])
def test_index_dir_that_cannot_be_a_folder(tmp_path, capsys, hash_encoder, cache_dir, seeds_copy, command):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    assert main(["--index-dir", str(afile / "idx"), *command]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"qa: error: cannot use {afile / 'idx'} as the index folder: Not a directory"
    assert afile.read_text() == "not a folder"


def test_file_system_errors_are_one_line(index, capsys, monkeypatch):
    import qa.cli.main

    def refuse(args):
        raise PermissionError(13, "Permission denied", "/some/file")

    monkeypatch.setitem(qa.cli.main.COMMANDS, "sources", refuse)
    assert main(["--index-dir", str(index), "sources"]) == 1
    assert capsys.readouterr().err == "qa: error: Permission denied: /some/file\n"


@pytest.mark.parametrize("answer", [
    "Alpha is here. [1] Beta is there. [2] Gamma is everywhere. [3]",
    "Most recent source first. (2019-01-15, ANI) Beta is there. [2] (2019, X) Alpha is here. [1] "
    "Gamma is everywhere. [3]",
    "What X said:\n- (2019, X) Gamma is everywhere. [3]\n- (undated, Y) Beta is there. [2]\n- Alpha is here. [1]",
    "Quoted before the passage. Alpha is here. [1] Beta is there. [2] Gamma is everywhere. [3]",
])
def test_a_source_excerpt_starts_at_the_cited_sentence(answer):
    from qa.cli.render import excerpt
    from qa.types import Answer

    text = "Zero. Alpha is here. Beta is there. Gamma is everywhere. More text."
    a = Answer(question="q", answer=answer, abstained=False)
    assert [excerpt(a, n, text, limit=15) for n in (1, 2, 3)] == [
        "…Alpha is here. …", "…Beta is there. …", "…Gamma is everyw…"]
    assert excerpt(a, 1, text, limit=400) == "…" + text[6:]
    assert excerpt(a, 4, text, limit=10) == "Zero. Alph…"  # not cited: from the start


def test_plugin_commands_are_found_through_entry_points_only_when_needed(capsys):
    from qa.cli.main import _plugins, _wants_plugins

    assert not _wants_plugins(["--index-dir", "ask", "ask", "hello"])  # a built-in command: no look-up
    assert _wants_plugins(["bot"]) and _wants_plugins(["ask", "--help"]) and _wants_plugins([])
    from bot.cli import register

    assert register in _plugins()  # pyproject.toml's qa.commands entry point
    with pytest.raises(SystemExit):
        main(["bot", "--help"])
    assert "--webhook" in capsys.readouterr().out
