"""``qa eval --statements``: who speaks in each sentence, measured against labelled pairs.

Every sentence of every labelled article (split as the index splits it, sections in order) is
given to an attribution method, which names its speakers. A labelled sentence is matched to the
splitter's sentences by containment after whitespace normalisation. Precision and recall count
(sentence, speaker) pairs; labels are taken as complete, so a speaker credited in an unlabelled
sentence is a false positive (the error list marks those, to tell a label gap from a rule error).

Both methods choose among the same candidates: the names the label file uses (its speakers and its
``"mentions"``), for every article. The rules (``qa/text/attribution.py``) credit a candidate with the
sentences ``statement_flags`` marks for it; the parse (``qa/index/speakers.py``) with the sentences whose
speakers include a name it matches (:func:`name_matches`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import UserError
from qa.index.chunking import document_sentences, normalize_ws
from qa.index.speakers import name_matches
from qa.ingest.corpus import iter_files, load_file
from qa.text.attribution import quote_opening, statement_flags

# (the article's sentences, candidate names) -> the candidates speaking in each sentence
Method = Callable[[list[str], list[str]], list[set[str]]]


def rules_method(texts: list[str], candidates: list[str]) -> list[set[str]]:
    """Today's rules: a candidate speaks in the sentences ``statement_flags`` marks for it."""
    out: list[set[str]] = [set() for _ in texts]
    for cand in candidates:
        for i, flag in enumerate(statement_flags(texts, cand)):
            if flag:
                out[i].add(cand)
    return out


def rules_with_quotes_method(texts: list[str], candidates: list[str]) -> list[set[str]]:
    """The rules as ``pick_statements`` applies them: a cut quote also belongs to the attributed
    sentence that closes it (``quote_opening``)."""
    out: list[set[str]] = [set() for _ in texts]
    for cand in candidates:
        flags = statement_flags(texts, cand)
        for i in range(len(texts) - 1, 0, -1):
            if flags[i] and not flags[i - 1]:
                for j in quote_opening(texts, i):
                    flags[j] = True
        for i, flag in enumerate(flags):
            if flag:
                out[i].add(cand)
    return out


def parse_method(texts: list[str], candidates: list[str]) -> list[set[str]]:
    """The parse-backed attribution (``qa.index.speakers.speakers_of``), its names mapped to candidates."""
    from qa.index.speakers import speakers_of  # (loads spaCy)

    return [{c for c in candidates if any(name_matches(n, c) for n in names)} for names in speakers_of(texts)]


METHODS: dict[str, Method] = {"rules": rules_method, "rules+quotes": rules_with_quotes_method,
                              "parse": parse_method}


@dataclass
class Counts:
    """True positives, false positives and false negatives of (sentence, speaker) pairs."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class StatementReport:
    """One method's figures on a statement set."""

    method: str
    overall: Counts = field(default_factory=Counts)
    by_speaker: dict[str, Counts] = field(default_factory=dict)
    negatives: int = 0
    negatives_credited: int = 0  # labelled "speaker": null pairs the method credits anyway
    errors: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # labels no splitter sentence matches
    seconds: float = 0.0


def load_statements(path: Path) -> list[dict]:
    """Read a statement set: ``{"doc_id", "sentence", "speaker": str | null, "mentions"?}`` lines."""
    from qa.eval.questions import read_jsonl

    rows = []
    for n, row in read_jsonl(path):
        if not row.get("doc_id") or not row.get("sentence"):
            raise UserError(f"{path}:{n}: a statement needs \"doc_id\" and \"sentence\"")
        rows.append(row)
    return rows


def article_sentences(path: Path) -> list[str]:
    """An article's sentences as the index splits them (sections in order, whitespace collapsed)."""
    doc = load_file(path)
    return [normalize_ws(doc.text[a:b]) for section in document_sentences(doc) for a, b in section]


def match_sentence(label: str, texts: list[str]) -> list[int]:
    """The splitter's sentences a labelled sentence is: one containing it, else the ones it contains."""
    want = normalize_ws(label)
    inside = [i for i, t in enumerate(texts) if want in t]
    if inside:
        return inside[:1]
    return [i for i, t in enumerate(texts) if len(t) >= 20 and t in want]


def candidates_of(rows: list[dict]) -> list[str]:
    """The names a statement set uses (speakers and mentions), in a stable order."""
    names = {r["speaker"] for r in rows if r.get("speaker")} | {r["mentions"] for r in rows if r.get("mentions")}
    return sorted(names)


def evaluate_statements(rows: list[dict], seeds: Path, method: str = "rules") -> StatementReport:
    """Score one attribution method (a key of :data:`METHODS`) against the labelled rows."""
    files = {p.stem: p for p in iter_files(seeds)}
    candidates = candidates_of(rows)
    report = StatementReport(method=method)
    gold: set[tuple[str, int, str]] = set()
    negative: set[tuple[str, int, str]] = set()
    texts_of: dict[str, list[str]] = {}
    for r in rows:
        if r["doc_id"] not in files:
            raise UserError(f"no article {r['doc_id']} in {seeds}")
        texts = texts_of.setdefault(r["doc_id"], article_sentences(files[r["doc_id"]]))
        found = match_sentence(r["sentence"], texts)
        if not found:
            report.unmatched.append(f"{r['doc_id']}: {r['sentence'][:80]}")
        for i in found:
            if r.get("speaker"):
                gold.add((r["doc_id"], i, r["speaker"]))
            elif r.get("mentions"):
                negative.add((r["doc_id"], i, r["mentions"]))
    labelled = {(d, i) for d, i, _ in gold | negative}
    t0 = time.perf_counter()
    got: set[tuple[str, int, str]] = set()
    for doc_id, texts in texts_of.items():
        for i, names in enumerate(METHODS[method](texts, candidates)):
            got |= {(doc_id, i, n) for n in names}
    report.seconds = time.perf_counter() - t0
    for key in sorted(gold | got):
        doc_id, i, name = key
        c = report.by_speaker.setdefault(name, Counts())
        text = texts_of[doc_id][i]
        if key in gold and key in got:
            report.overall.tp += 1
            c.tp += 1
        elif key in got:
            report.overall.fp += 1
            c.fp += 1
            where = "" if (doc_id, i) in labelled else " (unlabelled sentence)"
            report.errors.append(f"FP {name}{where}: {doc_id[:3]}#{i} {text[:110]}")
        else:
            report.overall.fn += 1
            c.fn += 1
            report.errors.append(f"FN {name}: {doc_id[:3]}#{i} {text[:110]}")
    report.negatives = len(negative)
    report.negatives_credited = len(negative & got)
    return report


def run_statements(path: Path, seeds: Path, methods: list[str], as_json: bool = False) -> int:
    """``qa eval --statements FILE``: print each method's figures."""
    rows = load_statements(path)
    reports = [evaluate_statements(rows, seeds, m) for m in methods]
    if as_json:
        import json

        print(json.dumps([_as_dict(r) for r in reports], ensure_ascii=False))
        return 0
    pos = sum(1 for r in rows if r.get("speaker"))
    print(f"{path.name}: {pos} labelled pairs, {len(rows) - pos} negatives; "
          f"candidates: {', '.join(candidates_of(rows))}")
    for r in reports:
        o = r.overall
        print(f"\n{r.method}: precision {o.precision:.3f}  recall {o.recall:.3f}  F1 {o.f1:.3f}  "
              f"(tp {o.tp}, fp {o.fp}, fn {o.fn}; negatives credited {r.negatives_credited}/{r.negatives}; "
              f"{r.seconds:.2f} s)")
        for name, c in sorted(r.by_speaker.items(), key=lambda kv: -(kv[1].tp + kv[1].fn)):
            print(f"  {name:<24}{c.precision:>7.3f}{c.recall:>7.3f}   tp {c.tp:>2} fp {c.fp:>2} fn {c.fn:>2}")
        for e in r.errors:
            print(f"  - {e}")
        for u in r.unmatched:
            print(f"  ! label matches no sentence: {u}")
    return 0


def _as_dict(r: StatementReport) -> dict:
    def counts(c: Counts) -> dict:
        return {"tp": c.tp, "fp": c.fp, "fn": c.fn, "precision": round(c.precision, 4),
                "recall": round(c.recall, 4), "f1": round(c.f1, 4)}

    return {"method": r.method, "overall": counts(r.overall),
            "by_speaker": {k: counts(v) for k, v in sorted(r.by_speaker.items())},
            "negatives": r.negatives, "negatives_credited": r.negatives_credited, "errors": r.errors,
            "unmatched": r.unmatched, "seconds": round(r.seconds, 3)}
