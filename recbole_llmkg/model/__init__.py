"""Plugin models, one module per model, grouped like RecBole's sub-packages.

``from recbole_llmkg.model import LLMAugRec, KGLLMGNN, KASimCF`` gives every plugin model class.
They load on first access (PEP 562): importing a shared layer such as
``recbole_llmkg.model.layers.text`` does not import every model (and PyG with them).
"""

from __future__ import annotations

from recbole_llmkg.lazy_exports import lazy_exports

# model class -> sub-package that exports it (test_imports checks it against the registry)
_MODELS = {
    "GFCF": "general_recommender",
    "KASimCF": "general_recommender",
    "KGKNN": "general_recommender",
    "L3AE": "general_recommender",
    "LLMAugRec": "general_recommender",
    "TextKGKNN": "general_recommender",
    "TextKNN": "general_recommender",
    "KGAT": "knowledge_aware_recommender",
    "KGIN": "knowledge_aware_recommender",
    "KGLLMGNN": "knowledge_aware_recommender",
    "MCCLK": "knowledge_aware_recommender",
}
__all__ = sorted(_MODELS)


__getattr__, __dir__ = lazy_exports(
    globals(), {name: f"{__name__}.{sub}" for name, sub in _MODELS.items()})
