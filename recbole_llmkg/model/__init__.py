"""Plugin models, one module per model, grouped like RecBole's (found by class name)."""
