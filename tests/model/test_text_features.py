"""TextFeaturesMixin: item text path and evaluation cache shared by LLMAugRec and KGLLMGNN."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from recbole_llmkg.model.general_recommender.llmaugrec import LLMAugRec
from recbole_llmkg.model.knowledge_aware_recommender.kgllmgnn import KGLLMGNN
from recbole_llmkg.model.text_features import TextFeaturesMixin

CONFIG = {"adapter_hidden_size": 0, "adapter_dropout": 0.0, "fusion": "add", "llm_alpha": 0.5,
          "text_rank": 0, "item_ids": True}


class ToyTextModel(TextFeaturesMixin, nn.Module):
    """Items = ID + text; users = ID; counts how often the evaluation matrices are built."""

    def __init__(self, text: torch.Tensor, **config):
        super().__init__()
        self.init_text_features({**CONFIG, **config},
                                SimpleNamespace(item_text_embeddings=lambda: text))
        self.item_id = nn.Embedding(text.shape[0], 3)
        self.user_id = nn.Embedding(2, 3)
        self.build_item_text_layers(3)
        self.builds = 0

    def compute_evaluation_embeddings(self):
        self.builds += 1
        return self.user_id.weight, self.fuse_item(self.item_id.weight)


def test_item_text_path_reads_the_frozen_features_through_the_adapter():
    torch.manual_seed(0)
    text = torch.randn(5, 4, dtype=torch.float64)
    model = ToyTextModel(text)
    assert model.text_dim == 4 and model.item_text.dtype == torch.float32
    assert "item_text" not in model.state_dict()  # recomputed from the dataset, not saved
    items = torch.tensor([3, 1])
    assert torch.equal(model.item_text_features(items), text.float()[items])
    adapted = model.item_adapter(text.float())
    assert torch.allclose(model.item_text_embedding(), adapted)
    assert torch.allclose(model.item_text_embedding(items), adapted[items])
    ids = torch.randn(2, 3)
    assert torch.allclose(model.fuse_item(ids, items), ids + 0.5 * adapted[items])


def test_item_ids_off_leaves_the_text_part_only():
    torch.manual_seed(0)
    text = torch.randn(5, 4)
    model = ToyTextModel(text, item_ids=False)
    ids = torch.randn(2, 3)
    items = torch.tensor([3, 1])
    assert torch.allclose(model.fuse_item(ids, items), 0.5 * model.item_adapter(text[items]))


def test_text_rank_keeps_the_principal_components_of_the_item_text():
    torch.manual_seed(0)
    # 40 items whose text varies mostly along 3 directions (plus small noise in 16 dims)
    text = torch.randn(40, 3) @ torch.randn(3, 16) * 5 + 0.01 * torch.randn(40, 16)
    model = ToyTextModel(text, text_rank=3)
    assert model.text_dim == 3 and model.item_adapter.net[-1].in_features == 3
    centred = text - text.mean(0)
    # a rotation of the centred text: pairwise distances are kept (the noise aside)
    assert torch.allclose(torch.cdist(model.item_text, model.item_text),
                          torch.cdist(centred, centred), atol=0.1)
    variances = model.item_text.var(0)
    assert torch.all(variances[:-1] >= variances[1:])  # ordered by variance
    assert torch.allclose(model.reduce_text(text[:4]), model.item_text[:4], atol=1e-4)
    assert ToyTextModel(text, text_rank=99).text_dim == 16  # more than there is: unchanged


def test_evaluation_cache_is_built_once_per_pass_and_cleared_by_training():
    torch.manual_seed(0)
    model = ToyTextModel(torch.randn(5, 4))
    assert model.other_parameter_name == ["restore_user_e", "restore_item_e"]
    users = torch.tensor([1, 0])
    first = model.full_sort_scores(users)
    user_e, item_e = model.compute_evaluation_embeddings()
    assert torch.allclose(first, (user_e[users] @ item_e.T).view(-1))
    model.full_sort_scores(torch.tensor([0]))
    assert model.builds == 2  # the pass above plus the direct call: the cache served the rest
    model.clear_evaluation_cache()
    assert model.restore_user_e is None and model.restore_item_e is None
    model.full_sort_scores(users)
    assert model.builds == 3


def test_both_text_models_share_the_mixin():
    for cls in (LLMAugRec, KGLLMGNN):
        assert issubclass(cls, TextFeaturesMixin)
        assert cls.item_text_embedding is TextFeaturesMixin.item_text_embedding
        assert cls.full_sort_scores is TextFeaturesMixin.full_sort_scores
