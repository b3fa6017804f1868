"""From a ``Query`` to ranked passages, and the ``Engine`` that runs a question's whole path.

``retrieve`` (modes and paths: dense, BM25, hybrid, rerank), ``fusion`` (the one fusion
function), ``scorers`` (the rerank as a table of named scorers and weights) and ``engine``
(``Engine``: opens an index once, answers many questions; both front ends use it and nothing else).
"""
