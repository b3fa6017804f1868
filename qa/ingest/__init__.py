"""Articles in: bytes or web pages to cleaned ``Document`` s with their metadata.

``decoding`` (bytes to text, refusing binary and empty files), ``cleaning`` (boilerplate out,
offsets kept), ``corpus`` (load a file or a BEIR corpus: title, outlet, date, language; where the
project's seeds are), ``extract`` (HTML through trafilatura), ``fetcher`` (a safe, polite HTTP
client), ``news_store`` (the folder fetched articles are kept in) and ``dedup`` (syndicated copies).

Knows nothing of passages, the index or questions.
"""
