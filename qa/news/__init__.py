"""Live news: fetch pages and feeds into the news folder and the index (``qa fetch``,
``qa feeds``, ``qa update``, the bot's ``/add``).

``ingest`` (fetch, extract, store, then index) and ``feeds`` (RSS/Atom subscriptions). This stage
orchestrates the ones below it (ingest, index) and holds no parsing or ranking of its own.
"""
