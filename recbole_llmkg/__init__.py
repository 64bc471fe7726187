"""recbole_llmkg: language-model and knowledge-graph recommenders for RecBole 1.2.1.

The package import is light (no torch, no RecBole): the public names below load their module
on first use (PEP 562), so ``recbole-llmkg --help`` answers at once. The host-stack fixes of
:mod:`recbole_llmkg.compat` are applied when the core modules (config, trainer) are imported.
"""

from __future__ import annotations

from recbole_llmkg.lazy_exports import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "Config": "recbole_llmkg.config",
    "create_dataset": "recbole_llmkg.registry",
    "resolve_model": "recbole_llmkg.registry",
    "get_model": "recbole_llmkg.registry",
    "get_trainer": "recbole_llmkg.registry",
    "run_recbole_llmkg": "recbole_llmkg.quick_start",
    "trainer_for": "recbole_llmkg.registry",
    "Recommender": "recbole_llmkg.serve",
}
__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
