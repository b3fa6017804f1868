"""When the articles do not answer: the thresholds, and the tests that use them.

Abstain when no passage is semantically close (dense cosine) *and* the question's distinctive
terms are missing from the best passages: say so rather than dress up unrelated citations.
Thresholds chosen on the whole eval set (not per question; errors are flat for DENSE_FLOOR 0-0.2
and COVERAGE_MIN 0.4-0.5; see docs/evaluation.md).
"""

from __future__ import annotations

DENSE_ANSWERABLE = 0.5  # a passage this close in meaning is on topic whatever the words
COVERAGE_MIN = 0.5  # else: share of the question's IDF mass found in one passage,
DENSE_FLOOR = 0.2  # and the best passage must be at least this close
ML_FLOOR = 0.2  # multilingual cosine (another scale than MiniLM's), for questions not in English


def should_abstain_foreign(best_cosine: float, name_match: bool) -> bool:
    """For questions not in English: abstain unless a passage is close in the multilingual
    space or a transliterated name in the question occurs in the articles."""
    return best_cosine < ML_FLOOR and not name_match


def should_abstain(best_dense: float, best_coverage: float) -> bool:
    """Abstain unless some passage is close in meaning or shares the question's key terms."""
    if best_dense >= DENSE_ANSWERABLE:
        return False
    return best_coverage < COVERAGE_MIN or best_dense < DENSE_FLOOR
