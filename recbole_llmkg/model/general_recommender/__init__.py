"""General (collaborative-filtering) plugin models.

Imported here as RecBole's own sub-packages do, so ``from
recbole_llmkg.model.general_recommender import LLMAugRec`` works; the registry still finds a
model by its file alone (``test_imports`` checks that every one is listed here too).
"""

from recbole_llmkg.model.general_recommender.content_knn import KGKNN, TextKGKNN, TextKNN
from recbole_llmkg.model.general_recommender.gfcf import GFCF
from recbole_llmkg.model.general_recommender.kasimcf import KASimCF
from recbole_llmkg.model.general_recommender.l3ae import L3AE
from recbole_llmkg.model.general_recommender.llmaugrec import LLMAugRec

__all__ = ["GFCF", "KASimCF", "KGKNN", "L3AE", "LLMAugRec", "TextKGKNN", "TextKNN"]
