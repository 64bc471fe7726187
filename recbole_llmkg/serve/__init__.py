"""Serve a trained model: top-k for users, new users (fold-in), requests in words, reasons."""

from recbole_llmkg.serve.recommender import Recommender

__all__ = ["Recommender"]
