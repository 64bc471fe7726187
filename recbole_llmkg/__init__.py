"""recbole_llmkg: language-model and knowledge-graph recommenders for RecBole 1.2.1."""

from recbole_llmkg import compat

compat.apply()

from recbole_llmkg.config import Config  # noqa: E402
from recbole_llmkg.quick_start import run_recbole_llmkg  # noqa: E402
from recbole_llmkg.utils import create_dataset, get_model, get_trainer, trainer_for  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "Config",
    "create_dataset",
    "get_model",
    "get_trainer",
    "run_recbole_llmkg",
    "trainer_for",
]
