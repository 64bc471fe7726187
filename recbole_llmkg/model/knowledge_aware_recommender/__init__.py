"""Knowledge-aware plugin models: KGLLMGNN, and drop-in repairs of RecBole's KGAT, KGIN, MCCLK.

Imported here as RecBole's own sub-packages do (see ``general_recommender/__init__.py``).
"""

from recbole_llmkg.model.knowledge_aware_recommender.kgat import KGAT
from recbole_llmkg.model.knowledge_aware_recommender.kgin import KGIN
from recbole_llmkg.model.knowledge_aware_recommender.kgllmgnn import KGLLMGNN
from recbole_llmkg.model.knowledge_aware_recommender.mcclk import MCCLK

__all__ = ["KGAT", "KGIN", "KGLLMGNN", "MCCLK"]
