"""General (collaborative-filtering) plugin models."""
