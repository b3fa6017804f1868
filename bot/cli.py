"""``qa bot``: the command the ``qa`` CLI finds through the ``qa.commands`` entry point.

``qa`` knows nothing of the bot: it calls ``register`` with its subcommand parsers, as it does for
any package that declares the entry point (see pyproject.toml). Nothing heavy is imported here.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``qa bot`` to the ``qa`` command line."""
    b = sub.add_parser("bot", help="run the Telegram bot")
    b.add_argument("--webhook", metavar="URL", help="use a webhook at URL instead of long polling")
    b.add_argument("--listen", default="0.0.0.0")
    b.add_argument("--port", type=int, default=8443)
    b.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from bot.main import run

    return run(index_dir=args.index_dir, webhook=args.webhook, listen=args.listen, port=args.port)
