"""General (collaborative-filtering) plugin models.

Imported here as RecBole's own sub-packages do, so ``from
recbole_llmkg.model.general_recommender import LLMAugRec`` works; the registry still finds a
model by its file alone (``test_imports`` checks that every one is listed here too).
"""

from recbole_llmkg.model.general_recommender.content_knn import KGKNN, TextKNN
from recbole_llmkg.model.general_recommender.kasimcf import KASimCF
from recbole_llmkg.model.general_recommender.llmaugrec import LLMAugRec

__all__ = ["KASimCF", "KGKNN", "LLMAugRec", "TextKNN"]
