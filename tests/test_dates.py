"""Questions about the present lead with the newest source and show its date."""

from qa.index.build import build_index
from qa.search.engine import Engine


def test_present_question_leads_with_newest_source(tmp_path, hash_encoder, cache_dir):
    src = tmp_path / "src"
    src.mkdir()
    (src / "old.txt").write_text("Old news\nTOKYO, Jan 10, 2019, Kyodo. Shinzo Abe is the prime minister of Japan. "
                                 "He leads the cabinet.\n")
    (src / "new.txt").write_text("New news\nTOKYO, Oct 22, 2025, Kyodo. Sanae Takaichi is the prime minister of "
                                 "Japan. She formed a cabinet.\n")
    build_index([src], tmp_path / "idx")
    engine = Engine(tmp_path / "idx")
    a = engine.ask("Who is the prime minister of Japan now?")
    assert not a.abstained
    assert a.answer.index("Takaichi") < a.answer.index("Abe") if "Abe" in a.answer else "Takaichi" in a.answer
    assert "2025-10-22" in a.answer
    assert a.citations[0].date == "2025-10-22"
    # Without "now" both are still cited with their dates in the citations.
    b = engine.ask("Who is the prime minister of Japan?")
    assert {c.date for c in b.citations} <= {"2019-01-10", "2025-10-22"}
