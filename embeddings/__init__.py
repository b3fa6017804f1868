"""Text to vectors (offline models) and vectors to a FAISS index."""
