"""The index: documents to passages, annotations, vectors and BM25 in a versioned folder, and back.

Building: ``chunking`` (sentence-aware passages with offsets), ``annotate`` with ``nlp`` and
``speakers`` (spaCy entities and speakers, index time only), ``bm25`` (the lexical index) and
``build`` (plan, embed, write, publish a version). Storing: ``store`` (versions, atomic switch,
lock, the SQLite schema). Reading: ``reader`` (``IndexReader``: lists, passages, statistics) and
``passages`` (the rows retrieval hands on, and the folding of overlaps), ``where`` (a date and
outlet filter the index applies as it searches).

Beyond one machine (the ``[scale]`` extra, docs/scale.md): ``backend`` (the seam: the folder by
default, or Milvus with ``QA_MILVUS_URI``; it alone chooses), ``milvus/`` (the same index in a
Milvus collection: reader, writer, versions) and ``ray_build`` (``qa index --ray``: embedding and
annotation as Ray Data pipelines).

Knows nothing of questions or answers.
"""
