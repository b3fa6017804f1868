"""``qa eval``: the figures. ``questions`` (retrieval and answers on a question set; dialogues),
``statements`` (who speaks in each sentence, against labelled pairs) and ``beir`` (nDCG@10,
Recall@100, MRR@10 on a BEIR dataset).
"""
