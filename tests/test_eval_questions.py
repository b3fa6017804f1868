"""Schema and grounding checks for the hand-written eval question sets (no model needed)."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT / "eval"
SEEDS_DIR = ROOT / "seeds"
EN_FILE = EVAL_DIR / "questions.jsonl"
RU_FILE = EVAL_DIR / "questions_ru.jsonl"

CYRILLIC = re.compile(r"[\u0400-\u04FF]")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _load(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:  # pragma: no cover - failure path
                pytest.fail(f"{path.name}:{lineno}: invalid JSON: {exc}")
    return rows


def _is_answerable(q: dict) -> bool:
    return q.get("answerable", True) is not False


@pytest.fixture(scope="module")
def en() -> list[dict]:
    return _load(EN_FILE)


@pytest.fixture(scope="module")
def ru() -> list[dict]:
    return _load(RU_FILE)


@pytest.fixture(scope="module")
def seeds() -> dict[str, str]:
    docs = {
        p.stem: _norm(p.read_text(encoding="utf-8")) for p in SEEDS_DIR.glob("*.txt")
    }
    assert docs, f"no seed articles found in {SEEDS_DIR}"
    return docs


def _check_schema(q: dict) -> None:
    qid = q.get("id")
    assert isinstance(qid, str) and qid, q
    assert isinstance(q.get("question"), str) and q["question"].strip(), qid
    assert isinstance(q.get("answers"), list), qid
    assert isinstance(q.get("doc_ids"), list), qid
    assert all(isinstance(a, str) and a.strip() for a in q["answers"]), qid
    assert all(isinstance(d, str) and d for d in q["doc_ids"]), qid
    if "answerable" in q:
        assert isinstance(q["answerable"], bool), qid
    if _is_answerable(q):
        assert q["answers"], f"{qid}: answerable question without answers"
        assert q["doc_ids"], f"{qid}: answerable question without doc_ids"
    else:
        assert q["answers"] == [] and q["doc_ids"] == [], qid


def test_schema(en, ru):
    for q in en + ru:
        _check_schema(q)
    for q in ru:
        assert q.get("lang") == "ru", q["id"]
        assert CYRILLIC.search(q["question"]), f"{q['id']}: not written in Cyrillic"


def test_counts(en, ru):
    answerable = [q for q in en if _is_answerable(q)]
    unanswerable = [q for q in en if not _is_answerable(q)]
    assert len(answerable) >= 40
    assert len(unanswerable) >= 8
    assert len([q for q in ru if _is_answerable(q)]) >= 20


def test_ids_unique(en, ru):
    ids = [q["id"] for q in en + ru]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate ids: {dupes}"


def test_doc_ids_exist(en, ru, seeds):
    for q in en + ru:
        missing = [d for d in q["doc_ids"] if d not in seeds]
        assert not missing, f"{q['id']}: unknown doc_ids {missing}"


def test_answers_occur_in_docs(en, ru, seeds):
    problems = []
    for q in en + ru:
        texts = [seeds[d] for d in q["doc_ids"] if d in seeds]
        for answer in q["answers"]:
            if not any(_norm(answer) in t for t in texts):
                problems.append(f"{q['id']}: {answer!r} not in {q['doc_ids']}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["questions_independent.jsonl", "questions_reader.jsonl",
                                  "questions_factcheck.jsonl", "questions_heldout.jsonl",
                                  "questions_heldout2.jsonl"])
def test_independent_set_is_grounded(seeds, name):
    rows = _load(EVAL_DIR / name)
    assert sum(_is_answerable(q) for q in rows) >= 40 and sum(not _is_answerable(q) for q in rows) >= 8
    assert len({q["id"] for q in rows}) == len(rows)
    for q in rows:
        texts = [seeds[d] for d in q["doc_ids"]]
        assert bool(q["answers"]) == _is_answerable(q), q["id"]
        for answer in q["answers"]:
            assert any(_norm(answer) in t for t in texts), f"{q['id']}: {answer!r}"


TYPES = {"who", "where", "when", "number", "list", "why", "yesno", "definition", "statement", "present"}


def test_typed_set_is_grounded(seeds):
    rows = _load(EVAL_DIR / "questions_typed.jsonl")
    assert len({q["id"] for q in rows}) == len(rows)
    en_rows = [q for q in rows if q["lang"] == "en" and _is_answerable(q)]
    ru_rows = [q for q in rows if q["lang"] == "ru" and _is_answerable(q)]
    assert len(en_rows) >= 60 and len(ru_rows) >= 20
    for t in TYPES:
        assert sum(q["type"] == t for q in en_rows) >= 6, t
    for q in rows:
        assert q["type"] in TYPES, q["id"]
        assert bool(q["answers"]) == _is_answerable(q), q["id"]
        for answer in q["answers"]:
            assert any(_norm(answer) in seeds[d] for d in q["doc_ids"]), f"{q['id']}: {answer!r}"


def test_dialogue_set_is_grounded(seeds):
    rows = _load(EVAL_DIR / "dialogues.jsonl")
    assert len(rows) >= 30 and len({d["id"] for d in rows}) == len(rows)
    assert sum(not d["merge"] for d in rows) >= 8
    for d in rows:
        assert 2 <= len(d["turns"]) <= 3 and all(t.strip() for t in d["turns"]), d["id"]
        assert bool(d["answers"]) == d["answerable"], d["id"]
        for answer in d["answers"]:
            assert any(_norm(answer) in seeds[x] for x in d["doc_ids"]), f"{d['id']}: {answer!r}"


def test_statement_labels_are_verbatim(seeds):
    raw = {p.stem: " ".join(p.read_text(encoding="utf-8").split()) for p in SEEDS_DIR.glob("*.txt")}
    rows = _load(EVAL_DIR / "statements.jsonl")
    assert len(rows) >= 50
    for r in rows:
        assert r["sentence"] in raw[r["doc_id"]], r["sentence"][:60]
        assert r["speaker"] or r.get("mentions"), r["sentence"][:60]


def test_held_out_typed_set_is_grounded(seeds):
    rows = _load(EVAL_DIR / "questions_typed_heldout.jsonl")
    assert len({q["id"] for q in rows}) == len(rows)
    assert sum(q["answerable"] and q["lang"] == "en" for q in rows) >= 40
    for q in rows:
        assert q["type"] in TYPES and bool(q["answers"]) == q["answerable"], q["id"]
        for answer in q["answers"]:
            assert any(_norm(answer) in seeds[d] for d in q["doc_ids"]), f"{q['id']}: {answer!r}"


def test_fresh_held_out_sets_are_grounded(seeds):
    rows = _load(EVAL_DIR / "questions_fresh.jsonl")
    assert len({q["id"] for q in rows}) == len(rows) and sum(_is_answerable(q) for q in rows) >= 60
    for q in rows:
        assert q["type"] in TYPES and bool(q["answers"]) == _is_answerable(q), q["id"]
        for answer in q["answers"]:
            assert any(_norm(answer) in seeds[d] for d in q["doc_ids"]), f"{q['id']}: {answer!r}"
    dialogues = _load(EVAL_DIR / "dialogues_fresh.jsonl")
    assert len(dialogues) >= 12 and len({d["id"] for d in dialogues}) == len(dialogues)
    for d in dialogues:
        assert 2 <= len(d["turns"]) <= 3 and bool(d["answers"]) == d["answerable"], d["id"]
        for answer in d["answers"]:
            assert any(_norm(answer) in seeds[x] for x in d["doc_ids"]), f"{d['id']}: {answer!r}"
