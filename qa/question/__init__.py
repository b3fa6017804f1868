"""A question, parsed once: ``query`` (``Query``: cleaned text, language, speaker frame, "now",
terms) and ``kind`` (what kind of answer it asks for: who, where, when, number, ...).

Everything after this stage reads the ``Query``; nothing here reads the index.
"""
