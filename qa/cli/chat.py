"""``qa chat``: a conversation in the terminal, or one Answer JSON per line of standard input.

Interactive: line editing and history through readline, the answers rendered as ``qa ask``
renders them, ``/new`` starts over, ``/quit`` (or end of input) leaves. With ``--json``: one
question per input line, one Answer JSON per output line, each turn resolved against the lines
before it (blank lines are skipped; a line ``/new`` starts over and ``/quit`` ends, printing
nothing; a question that cannot be asked, empty after its markup is removed or too long, gets an
abstained Answer saying why, and the session goes on).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any, TextIO

from qa.chat.conversation import Conversation
from qa.errors import QuestionError
from qa.types import Answer

NEW, QUIT, HELP = "/new", ("/quit", "/exit"), ("/help", "/?")
HELP_TEXT = ("Ask about the articles; a follow-up (\"and Kono?\", \"why?\", \"when was that?\") continues from "
             "the question before. /new starts over, /quit leaves (Ctrl-D too).")


def run_json(engine: Any, lines: TextIO, out: TextIO) -> int:
    """Answer each line of ``lines`` as the next turn; print each Answer as one JSON line."""
    conv = Conversation(engine)
    for line in lines:
        question = line.strip()
        if not question:
            continue
        if question == NEW:
            conv.reset()
            continue
        if question in QUIT:
            break
        try:
            answer = conv.ask(question)
        except QuestionError as exc:
            answer = Answer(question=question[:200], answer=f"Not asked: {exc}.", abstained=True)
        print(json.dumps(asdict(answer), ensure_ascii=False), file=out, flush=True)
    return 0


def _read_line(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


def run_interactive(engine: Any, console) -> int:
    """The terminal session: a prompt, answers, ``/new`` and ``/quit``."""
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:  # not on every platform
        pass
    from qa.cli.render import print_answer

    conv = Conversation(engine)
    console.print("Ask about the articles; follow-up questions continue the conversation. "
                  "/new starts over, /quit leaves.", style="dim")
    while True:
        try:
            line = _read_line("\n? ")
        except KeyboardInterrupt:  # Ctrl-C clears the line, as in a shell
            console.print()
            continue
        if line is None:
            console.print()
            return 0
        question = line.strip()
        if not question:
            continue
        if question in QUIT:
            return 0
        if question == NEW:
            conv.reset()
            console.print("New conversation.", style="dim")
            continue
        if question in HELP:
            console.print(HELP_TEXT, style="dim")
            continue
        try:
            answer = conv.ask(question)
        except QuestionError as exc:
            console.print(str(exc), style="yellow")
            continue
        print_answer(console, answer)


def run(engine: Any, as_json: bool, console) -> int:
    """``qa chat [--json]``."""
    return run_json(engine, sys.stdin, sys.stdout) if as_json else run_interactive(engine, console)
