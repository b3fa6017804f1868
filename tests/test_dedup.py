"""MinHash near-duplicates (qa.ingest.dedup)."""

from __future__ import annotations

import numpy as np

from qa.ingest import dedup

STORY = ("Japan lodged a protest with Russia on Wednesday after Moscow deployed air defence missile systems on "
         "Iturup, one of four islands claimed by both countries, Japan's top government spokesman said. The "
         "deployment is incompatible with Japan's position and is unacceptable, the spokesman told reporters. "
         "Russia's defence ministry said the systems had been put on combat duty as part of drills.")


def test_signature_is_deterministic_and_roundtrips():
    a, b = dedup.signature(STORY), dedup.signature(STORY)
    assert a.dtype == np.uint32 and len(a) == dedup.NUM_PERM and (a == b).all()
    assert (dedup.from_bytes(dedup.to_bytes(a)) == a).all()


def test_syndicated_copy_is_a_near_duplicate_and_another_story_is_not():
    copy = "TOKYO (Wire) - " + STORY + " Reporting by the Tokyo bureau."
    trimmed = STORY.rsplit(" Russia's", 1)[0]
    other = ("Russia's foreign minister said on Thursday that talks on a peace treaty with Japan were impossible "
             "while Tokyo kept sanctions in place, and criticised joint military exercises near Hokkaido.")
    sig = dedup.signature(STORY)
    sims = dedup.similarity(sig, np.stack([dedup.signature(t) for t in (copy, trimmed, other)]))
    assert sims[0] >= dedup.THRESHOLD and sims[1] >= dedup.THRESHOLD
    assert sims[2] < 0.1


def test_estimate_is_close_to_exact_jaccard():
    words = STORY.split()
    half = " ".join(words[: len(words) * 2 // 3])
    exact = len(set(dedup.shingles(STORY)) & set(dedup.shingles(half))) / len(set(dedup.shingles(STORY)))
    est = dedup.similarity(dedup.signature(STORY), dedup.signature(half)[None, :])[0]
    assert abs(est - exact) < 0.15


def test_estimates_track_exact_jaccard_on_many_pairs():
    rng = np.random.default_rng(7)
    vocab = [f"w{i}" for i in range(3000)]
    errors = []
    for _ in range(40):
        shared = list(rng.choice(vocab, int(rng.integers(0, 200))))
        a = " ".join(shared + list(rng.choice(vocab, 150)))
        b = " ".join(shared + list(rng.choice(vocab, 150)))
        sa, sb = set(dedup.shingles(a).tolist()), set(dedup.shingles(b).tolist())
        exact = len(sa & sb) / len(sa | sb)
        est = dedup.similarity(dedup.signature(a), dedup.signature(b)[None, :])[0]
        errors.append(abs(est - exact))
    assert np.mean(errors) < 0.05 and max(errors) < 0.15
