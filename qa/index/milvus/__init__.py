"""The Milvus backend: the same index as the files, in a Milvus collection (the ``[scale]`` extra).

``target`` (where: URI, token, collection; from ``--milvus`` / ``QA_MILVUS_URI``), ``connect``
(the client, and every failure as one line naming the URI), ``expr`` (filter expressions),
``schema`` (the passages collection and the key-value one beside it), ``meta`` (versions, the live
pointer, statistics and documents as blobs), ``sparse`` (BM25 as sparse vectors, rescored exactly
as the files score it), ``reader`` (``MilvusReader``: what the query path reads) and ``writer``
(a build: insert by document, mark what it replaces, publish, prune).

Only this package imports pymilvus, and only when the backend is chosen: ``qa ask`` on the files
never loads it.
"""
