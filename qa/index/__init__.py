"""The index: documents to passages, annotations, vectors and BM25 in a versioned folder, and back.

Building: ``chunking`` (sentence-aware passages with offsets), ``annotate`` with ``nlp`` and
``speakers`` (spaCy entities and speakers, index time only), ``bm25`` (the lexical index) and
``build`` (plan, embed, write, publish a version). Storing: ``store`` (versions, atomic switch,
lock, the SQLite schema). Reading: ``reader`` (``IndexReader``: lists, passages, statistics) and
``passages`` (the rows retrieval hands on, and the folding of overlaps).

Knows nothing of questions or answers.
"""
