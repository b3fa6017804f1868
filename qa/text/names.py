"""Matching a speaker's name as an article gives it with the name a question uses."""

from __future__ import annotations


def name_matches(name: str, candidate: str) -> bool:
    """Whether a speaker ``name`` as an article gives it ("The Kremlin's press service", "Sergei
    Lavrov") is ``candidate`` ("Kremlin press service", "Lavrov"): the candidate's words end it."""
    words, want = _words(name), _words(candidate)
    return bool(want) and words[-len(want):] == want


def _words(name: str) -> list[str]:
    """A name's words for matching: lower case, no "the", no possessive."""
    name = name.replace("’", "'").replace("'s ", " ").removesuffix("'s")
    words = [w.strip(".,").lower() for w in name.split()]
    return [w for w in words if w and w != "the"]
