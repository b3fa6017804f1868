"""Rebuild SQuAD JSON files from the pages of the SQuAD explorer site.

The official SQuAD JSON files are too large to come through our fetch tool, but the explorer's
static HTML pages (public repository rajpurkar/SQuAD-explorer) do:

  * SQuAD 2.0 dev   - explore/v2.0/dev/*.html   on branch gh-pages (question ids included)
  * SQuAD 1.1 train - explore/1.1/train/*.html  at commit 13f82e3 (2016-08-24); these pages
                      carry no question ids, so ids are made from a hash of title/paragraph/question.

The pages give the answer TEXTS only, no offsets.  Offsets are recovered by search:
  1. exact occurrences of the answer text in the paragraph;
  2. if none: a case-insensitive search; if still none the answer is "not found";
  3. one occurrence -> taken;
  4. several -> each occurrence is scored by how many of the question's content words occur in
     the sentence around it (plus a smaller weight for a +-80 char window); the best is taken
     when it beats the runner-up strictly, otherwise the answer is "ambiguous".
Train questions whose answer is not found or ambiguous are DROPPED (counted and printed).
Dev questions are all kept (the counts must match the official ones; the official evaluation
does not use offsets): an ambiguous dev answer keeps the first occurrence, a missing one gets
answer_start -1 (counted).

Usage:
  python training/squad_from_explorer.py /work/.mirror/rajpurkar+SQuAD-explorer/repo \
      --out /work/data/squad

The first argument is a git directory (bare or not) or a checkout of the explorer repository.
Data licence: SQuAD is CC BY-SA 4.0 - keep the output out of this repository.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import re
import subprocess
import sys
from collections import Counter
from urllib.parse import unquote

TRAIN11_COMMIT = "13f82e3"
DEV20_REF = "gh-pages"

PUBLISHED = {
    "train-v1.1": {"articles": 442, "paragraphs": 18896, "questions": 87599},
    "dev-v2.0": {"articles": 35, "paragraphs": 1204, "questions": 11873, "unanswerable": 5945},
}

STOP = set(
    "a an the of in on at to for from by with and or but is are was were be been being do does did "
    "what which who whom whose when where why how that this these those it its as into than then "
    "there their they he she his her him them we you i not no can could would should will may "
    "might has have had about after before during over under up out many much most more one".split()
)
WORD = re.compile(r"\w+", re.UNICODE)


class GitSource:
    """Reads files from a git directory (bare mirror) or a working checkout's .git."""

    def __init__(self, path: str):
        if os.path.isdir(os.path.join(path, ".git")):
            path = os.path.join(path, ".git")
        self.git_dir = path

    def _git(self, *args: str) -> bytes:
        cmd = ["git", "-c", "core.quotePath=false", f"--git-dir={self.git_dir}", *args]
        return subprocess.run(cmd, check=True, capture_output=True).stdout

    def ls(self, ref: str, folder: str) -> list[str]:
        out = self._git("ls-tree", "-r", "-z", "--name-only", ref, "--", folder)
        return [p for p in out.decode("utf-8").split("\0") if p]

    def show(self, ref: str, path: str) -> str:
        return self._git("show", f"{ref}:{path}").decode("utf-8")


# ---------------------------------------------------------------- parsing the pages
PARA_SPLIT = '<div class="para-wrap">'
PRE = re.compile(r"<pre>(.*?)</pre>", re.S)
QA_SPLIT = '<div class="qa-wrap"'
QA_ID = re.compile(r'^\s*data-id="([^"]*)"')
QUESTION = re.compile(r'<strong class="question">(.*?)</strong>', re.S)
ANSWER = re.compile(r'<span class="answer">(.*?)</span>', re.S)
TITLE = re.compile(r'<h1 id="title">(.*?)</h1>', re.S)


def parse_page(text: str) -> dict:
    m = TITLE.search(text)
    title = html.unescape(m.group(1)).strip() if m else None
    paragraphs = []
    for chunk in text.split(PARA_SPLIT)[1:]:
        pm = PRE.search(chunk)
        if not pm:
            continue
        context = html.unescape(pm.group(1))
        qas = []
        for body in chunk.split(QA_SPLIT)[1:]:
            im = QA_ID.match(body)
            qid = im.group(1) if im else None
            qm = QUESTION.search(body)
            question = html.unescape(qm.group(1)) if qm else ""
            answers = [html.unescape(a) for a in ANSWER.findall(body)]
            no_answer = 'class="no-answer"' in body
            qas.append({"id": qid, "question": question, "answers": answers, "no_answer": no_answer})
        paragraphs.append({"context": context, "qas": qas})
    return {"title": title, "paragraphs": paragraphs}


def article_order(src: GitSource, ref: str, folder: str, files: list[str]) -> list[str]:
    """Files in the order of the folder's index.html (the dataset's order), others appended."""
    by_key = {unquote(os.path.basename(f)): f for f in files}
    order: list[str] = []
    try:
        index = src.show(ref, f"{folder}/index.html")
        for href in re.findall(r'href="([^"?]*\.html)', index):
            key = unquote(os.path.basename(html.unescape(href)))
            if key in by_key and by_key[key] not in order:
                order.append(by_key[key])
    except subprocess.CalledProcessError:
        pass
    order += sorted(f for f in files if f not in order)
    return order


# ---------------------------------------------------------------- offsets
def content_words(s: str) -> set[str]:
    return {w for w in WORD.findall(s.lower()) if w not in STOP and len(w) > 1}


def sentence_bounds(context: str, pos: int) -> tuple[int, int]:
    start = max(context.rfind(". ", 0, pos), context.rfind("? ", 0, pos), context.rfind("! ", 0, pos))
    start = 0 if start < 0 else start + 2
    ends = [e for e in (context.find(". ", pos), context.find("? ", pos), context.find("! ", pos)) if e >= 0]
    end = min(ends) + 1 if ends else len(context)
    return start, end


def find_offset(context: str, answer: str, question: str) -> tuple[int | None, str]:
    """Returns (offset, status); status in unique / disambiguated / ambiguous / case / notfound."""
    if not answer:
        return None, "notfound"
    hits = [m.start() for m in re.finditer(re.escape(answer), context)]
    status = None
    if not hits:
        hits = [m.start() for m in re.finditer(re.escape(answer), context, re.I)]
        status = "case"
        if not hits:
            return None, "notfound"
    if len(hits) == 1:
        return hits[0], status or "unique"
    qwords = content_words(question)
    scores = []
    for h in hits:
        s0, s1 = sentence_bounds(context, h)
        sent = content_words(context[s0:h] + " " + context[h + len(answer):s1])
        win = content_words(context[max(0, h - 80):h] + " " + context[h + len(answer):h + len(answer) + 80])
        scores.append(len(qwords & sent) + 0.5 * len(qwords & win))
    ranked = sorted(range(len(hits)), key=lambda i: -scores[i])
    if scores[ranked[0]] > scores[ranked[1]]:
        return hits[ranked[0]], "disambiguated"
    return hits[0], "ambiguous"


def qid_for(title: str, pi: int, qi: int, question: str) -> str:
    h = hashlib.sha1(f"{title}|{pi}|{qi}|{question}".encode()).hexdigest()
    return "x11" + h[:21]


# ---------------------------------------------------------------- build
def build(src: GitSource, ref: str, folder: str, version: str, keep_ambiguous: bool):
    files = [f for f in src.ls(ref, folder) if f.endswith(".html") and not f.endswith("/index.html")]
    files = article_order(src, ref, folder, files)
    stats = Counter()
    data = []
    for f in files:
        page = parse_page(src.show(ref, f))
        title = page["title"] or unquote(os.path.basename(f)[:-5])
        paras = []
        for pi, p in enumerate(page["paragraphs"]):
            qas = []
            for qi, q in enumerate(p["qas"]):
                stats["questions_on_pages"] += 1
                qid = q["id"] or qid_for(title, pi, qi, q["question"])
                if q["no_answer"] and not q["answers"]:
                    stats["unanswerable"] += 1
                    qas.append({"question": q["question"], "id": qid, "answers": [], "is_impossible": True})
                    continue
                answers, drop = [], False
                for a in q["answers"]:
                    a_text = a.strip()
                    off, status = find_offset(p["context"], a_text, q["question"])
                    stats["answer_" + status] += 1
                    if status in ("notfound", "ambiguous") and not keep_ambiguous:
                        drop = True
                        break
                    if off is None:
                        off = -1
                    # keep the text as it appears in the paragraph (matters for case matches)
                    answers.append({"text": p["context"][off:off + len(a_text)] if off >= 0 else a_text,
                                    "answer_start": off})
                if drop or not answers:
                    stats["dropped_questions"] += 1
                    continue
                item = {"question": q["question"], "id": qid, "answers": answers}
                if version == "v2.0":
                    item["is_impossible"] = False
                qas.append(item)
            stats["paragraphs"] += 1
            if qas:
                paras.append({"context": p["context"], "qas": qas})
        stats["articles"] += 1
        data.append({"title": title, "paragraphs": paras})
    stats["questions"] = sum(len(p["qas"]) for a in data for p in a["paragraphs"])
    stats["paragraphs_kept"] = sum(len(a["paragraphs"]) for a in data)
    return {"version": version, "data": data}, stats


def report(name: str, stats: Counter) -> None:
    print(f"== {name}")
    for k in sorted(stats):
        print(f"   {k:24s} {stats[k]:8d}")
    pub = PUBLISHED.get(name)
    if pub:
        print("   published: " + ", ".join(f"{k} {v:,}" for k, v in pub.items()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", help="git dir or checkout of rajpurkar/SQuAD-explorer")
    ap.add_argument("--out", default="/work/data/squad")
    ap.add_argument("--train-ref", default=TRAIN11_COMMIT)
    ap.add_argument("--dev-ref", default=DEV20_REF)
    args = ap.parse_args(argv)
    src = GitSource(args.repo)
    os.makedirs(args.out, exist_ok=True)

    dev, dstats = build(src, args.dev_ref, "explore/v2.0/dev", "v2.0", keep_ambiguous=True)
    report("dev-v2.0", dstats)
    train, tstats = build(src, args.train_ref, "explore/1.1/train", "1.1", keep_ambiguous=False)
    report("train-v1.1", tstats)

    # SQuAD 2.0 TRAIN pages: none exist in this repository's history (checked: no path
    # explore/v2.0/train in any commit); looked for here so that a later mirror that has them
    # is picked up.
    for ref in ("gh-pages", "master"):
        try:
            if src.ls(ref, "explore/v2.0/train"):
                part, pstats = build(src, ref, "explore/v2.0/train", "v2.0", keep_ambiguous=False)
                report("train-v2.0-part", pstats)
                with open(os.path.join(args.out, "train-v2.0-part.json"), "w", encoding="utf-8") as fh:
                    json.dump(part, fh, ensure_ascii=False)
                break
        except subprocess.CalledProcessError:
            continue
    else:
        print("== train-v2.0: no explore/v2.0/train pages in this repository")

    for name, obj in (("dev-v2.0.json", dev), ("train-v1.1.json", train)):
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as fh:
            json.dump(obj, fh, ensure_ascii=False)
        print("wrote", os.path.join(args.out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
