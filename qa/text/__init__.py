"""Language rules every stage shares, with no I/O and no index: sentence splitting (``sentences``),
the terms BM25 and coverage compare (``terms``: tokens, stems, stop words, IDF), who-says-what rules
(``attribution``), matching a person's name as written (``names``), markup to plain text (``markup``),
and the shared word lists (``words``: speech verbs, role words, months, function words).

The lowest stage: it imports nothing else of ``qa``.
"""
