"""The ``qa`` command line: ``main`` (the parser and the commands), ``news`` (``qa fetch``,
``qa feeds``, ``qa update``), ``chat`` (the interactive and ``--json`` loop of ``qa chat``) and
``render`` (terminal output with rich). The top stage: nothing else in ``qa`` imports it.
"""

__all__ = ["main"]


def __getattr__(name: str):
    if name == "main":  # ``from qa.cli import main`` without importing the commands for ``qa.cli.render``
        from qa.cli.main import main

        return main
    raise AttributeError(name)
