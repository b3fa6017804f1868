"""The Telegram front end: the same cited answers as ``qa ask``, in a chat (python-telegram-bot v22).

Modules: ``main`` (``qa bot``: environment, start-up, polling or webhook), ``app``
(``build_application``), ``handlers`` (commands, questions, buttons, errors), ``render``
(Telegram HTML and the 4,096-character splitter), ``feedback`` (👍/👎 in SQLite), ``limits``
(allowlist, per-user rate limit), ``secrets`` (token loading, log redaction), ``sending``
(flood limits and retries of every Bot API call), ``ordering`` (per-chat update order).
See ``bot/README.md``.
"""
