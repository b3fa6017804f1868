"""The reader: a question and passages in, answer spans out.

Our own model (training/: all-MiniLM-L6-v2 fine-tuned on SQuAD as a SQuAD 2.0-style extractive
reader), shipped in this package as int8 ONNX with its tokenizer (``embeddings/reader/``; its card
is MODEL_CARD.md there) and run with onnxruntime and tokenizers only, never torch.

Input, as in training: ``[CLS] question [SEP] title . passage [SEP]``, at most ``max_length``
tokens; a longer passage is read in windows that overlap by ``stride`` tokens. Output per token:
start and end logits (a span's score is the sum; "no answer" is the [CLS] position), and the
probability that the window holds an answer, from a head on [CLS].
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.errors import ModelError

FOLDER = Path(__file__).resolve().parent / "reader"
MAX_ANSWER_TOKENS = 30
MAX_QUESTION_TOKENS = 64  # a longer question is cut (as SQuAD readers do); the passage needs the room
TOP = 20  # start and end candidates tried per window


@dataclass(frozen=True)
class Span:
    """A span of a passage: character offsets into the passage text and its score (start + end logit)."""

    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Window:
    """One window of a passage as the model read it."""

    start: np.ndarray  # start logits over the window's tokens
    end: np.ndarray  # end logits
    offsets: np.ndarray  # (tokens, 2): character offsets in the passage; -1 outside it
    has: float  # has-answer probability

    def best(self, lo: int, hi: int, max_tokens: int = MAX_ANSWER_TOKENS) -> Span | None:
        """The best span lying within characters ``lo..hi`` of the passage."""
        inside = (self.offsets[:, 0] >= lo) & (self.offsets[:, 1] <= hi) & (self.offsets[:, 0] >= 0)
        if not inside.any():
            return None
        s_sc = np.where(inside, self.start, -np.inf)
        e_sc = np.where(inside, self.end, -np.inf)
        k = min(TOP, int(inside.sum()))
        starts = np.argpartition(-s_sc, k - 1)[:k]
        ends = np.argpartition(-e_sc, k - 1)[:k]
        best: tuple[float, int, int] | None = None
        for s in starts:
            for e in ends:
                if s <= e < s + max_tokens:
                    sc = float(s_sc[s] + e_sc[e])
                    if best is None or sc > best[0]:
                        best = (sc, int(s), int(e))
        if best is None:
            return None
        return Span(int(self.offsets[best[1], 0]), int(self.offsets[best[2], 1]), best[0])


@dataclass(frozen=True)
class Reading:
    """What the reader made of one passage."""

    windows: tuple[Window, ...]

    @property
    def null(self) -> float:
        """The "no answer" score: the lowest over the windows (as SQuAD 2.0 readers take it)."""
        return min(float(w.start[0] + w.end[0]) for w in self.windows)

    @property
    def has_answer(self) -> float:
        """Probability that the passage answers the question (the has-answer head, best window)."""
        return max(w.has for w in self.windows)

    def best_span(self, lo: int = 0, hi: int = 1 << 30) -> Span | None:
        """The best span within characters ``lo..hi`` of the passage, over every window."""
        spans = [s for s in (w.best(lo, hi) for w in self.windows) if s is not None]
        return max(spans, key=lambda s: s.score) if spans else None


class Reader:
    """The shipped reader model (or one in ``folder``), loaded once."""

    def __init__(self, folder: Path | None = None, threads: int | None = None) -> None:
        folder = Path(folder or os.environ.get("QA_READER") or FOLDER)
        model = folder / "model.onnx"
        if not model.is_file() or not (folder / "tokenizer.json").is_file():
            raise ModelError(f"no reader model in {folder} (model.onnx and tokenizer.json)")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            self.meta = meta
            self.max_length = int(meta.get("max_length", 256))
            self.stride = int(meta.get("stride", 96))
            self.title_sep = meta.get("title_sep", " . ")
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self.tokenizer.no_padding()
            self.tokenizer.enable_truncation(self.max_length, stride=self.stride, strategy="only_second")
            self.question_tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self.question_tokenizer.no_padding()
            self.question_tokenizer.no_truncation()
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
            opts.inter_op_num_threads = 1
            self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load the reader model in {folder}: {exc}") from exc
        except Exception as exc:  # onnxruntime's own errors (a corrupt file) have no common base class
            raise ModelError(f"cannot load the reader model in {folder}: {exc}") from exc
        self.folder = folder
        self.threshold = float(meta.get("threshold", 0.0))  # answerable when best span - null > this (closed setting)
        self.outputs = [o.name for o in self.session.get_outputs()]

    def cut_question(self, question: str) -> str:
        """The question, cut to its first MAX_QUESTION_TOKENS tokens (a quarter of a window at most)."""
        question = question.strip()
        limit = min(MAX_QUESTION_TOKENS, self.max_length // 4)
        offsets = self.question_tokenizer.encode(question, add_special_tokens=False).offsets
        return question[: offsets[limit - 1][1]] if len(offsets) > limit else question

    def read(self, question: str, passages: Sequence[tuple[str, str]]) -> list[Reading]:
        """One ``Reading`` per ``(title, text)`` passage, all windows in one batch."""
        if not passages:
            return []
        question = self.cut_question(question)
        encs, owner, shift = [], [], []
        for i, (title, text) in enumerate(passages):
            prefix = f"{title}{self.title_sep}" if title else ""
            first = self.tokenizer.encode(question, prefix + text)
            for enc in (first, *first.overflowing):
                encs.append(enc)
                owner.append(i)
            shift.append(len(prefix))
        n = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), n), np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for r, e in enumerate(encs):
            ids[r, : len(e.ids)] = e.ids
            types[r, : len(e.ids)] = e.type_ids
            mask[r, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        out = dict(zip(self.outputs, self.session.run(None, feeds)))
        start, end = out["start_logits"], out["end_logits"]
        has = out.get("has_answer", np.zeros(len(encs)))
        windows: list[list[Window]] = [[] for _ in passages]
        for r, e in enumerate(encs):
            i, k = owner[r], len(e.ids)
            offsets = np.full((k, 2), -1, np.int64)
            for t, (seq, (a, b)) in enumerate(zip(e.sequence_ids, e.offsets)):
                if seq == 1 and a >= shift[i]:
                    offsets[t] = (a - shift[i], b - shift[i])
            windows[i].append(Window(start[r, :k].astype(np.float32), end[r, :k].astype(np.float32), offsets,
                                     float(np.ravel(has)[r])))
        return [Reading(tuple(w)) for w in windows]


def available(folder: Path | None = None) -> bool:
    """Whether a reader model is installed (the product answers by its rules without one).
    ``QA_READER`` names another model folder; ``QA_READER=0`` turns the reader off."""
    folder = Path(folder or os.environ.get("QA_READER") or FOLDER)
    return (folder / "model.onnx").is_file() and (folder / "tokenizer.json").is_file()
