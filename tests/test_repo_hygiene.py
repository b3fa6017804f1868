"""The repository holds code, docs, the seed articles and the shipped model: no downloads or stray binaries."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 1_000_000
# The only places meant to hold large files: the articles and the trained reader shipped in the package.
LARGE_ALLOWED = ("seeds/", "embeddings/reader/")
DOWNLOADS = (".whl", ".tar.gz", ".tgz", ".zip", ".egg", ".tar", ".gz", ".bz2", ".xz", ".7z", ".rar")


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def stray(paths: list[str], size) -> list[str]:
    """Paths that look like downloads, or exceed the size limit outside the places meant for data."""
    bad = [p for p in paths if p.lower().endswith(DOWNLOADS)]
    bad += [p for p in paths if not p.startswith(LARGE_ALLOWED) and size(p) > MAX_BYTES]
    return sorted(set(bad))


def test_no_downloads_or_large_files_are_tracked():
    paths = tracked_files()
    assert stray(paths, lambda p: (ROOT / p).stat().st_size if (ROOT / p).exists() else 0) == []


def test_the_check_catches_a_wheel_and_a_large_file():
    sizes = {"rich-15.0.0-py3-none-any.whl": 300_000, "qa/big.bin": 2_000_000, "seeds/a.txt": 5_000_000,
             "embeddings/reader/model.onnx": 25_000_000, "qa/small.py": 10_000}
    assert stray(list(sizes), sizes.__getitem__) == ["qa/big.bin", "rich-15.0.0-py3-none-any.whl"]
