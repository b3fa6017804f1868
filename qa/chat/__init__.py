"""Conversations: ``followup`` (recognise a follow-up and rewrite it as a whole question),
``entities`` (the people, places and dates a turn involves) and ``conversation`` (the turns so
far, answered through the ``Engine``). The terminal loop of ``qa chat`` lives in ``qa.cli``.
"""
