"""RecBole's built-in models train and evaluate through the plugin's entry point on ``tiny``.

Covers general models (Pop, ItemKNN, EASE, BPR, NeuMF, MultiVAE, LightGCN, NGCF) and knowledge-
aware ones (CKE, CFKG, KGCN, KGNNLS, KTUP, RippleNet, MKR) as RecBole ships them, plus KGIN, MCCLK
and KGAT, which run through the plugin's drop-in repairs (no torch_scatter, no DGL).

None needs a config tweak for tiny (50 users, 80 items): ItemKNN's default ``k: 100`` exceeds the
item count but RecBole clamps it, and NeuMF's defaults already skip pretraining. Add per-model
overrides to ``TWEAKS`` if a model ever does.
"""

from __future__ import annotations

import pytest

MODELS = [
    "Pop", "ItemKNN", "EASE", "BPR", "NeuMF", "MultiVAE", "LightGCN", "NGCF",
    "CKE", "CFKG", "KGCN", "KGNNLS", "KTUP", "RippleNet", "MKR", "KGIN", "MCCLK", "KGAT",
]
TWEAKS: dict[str, dict] = {}


@pytest.mark.parametrize("model", MODELS)
def test_builtin_model_trains_and_evaluates(model, run_tiny, check_metrics):
    result = run_tiny(model, epochs=1, **TWEAKS.get(model, {}))
    test_result = result["test_result"]
    assert {"recall@10", "mrr@10", "ndcg@10", "hit@10", "precision@10"} <= set(test_result)
    check_metrics(test_result)
    check_metrics(result["best_valid_result"])
