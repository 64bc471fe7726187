"""KGIN without torch_scatter: RecBole 1.2.1's KGIN with its aggregator on a PyG layer.

What is replaced: only the relational path-aware aggregator (``recbole...kgin.Aggregator``),
whose ``forward`` imports ``torch_scatter.scatter_mean``; torch-scatter has no wheels for today's
torch, so RecBole's KGIN crashed after the first batch. Our :class:`KGINAggregator` computes the
same maths, its entity part with the plugin's
:class:`~recbole_llmkg.model.layers.propagation.RelationMeanConv` (PyG message passing).

Everything else (graph construction, GraphConv, losses, RecBole's ``KGIN.yaml`` defaults, its
``KGTrainer``) is RecBole 1.2.1's. The aggregator holds no parameters, so ``state_dict`` keys are
identical to RecBole's and checkpoints load in either direction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from recbole.model.knowledge_aware_recommender import kgin as recbole_kgin


class KGINAggregator(recbole_kgin.Aggregator):
    """KGIN's aggregator (one hop) on plain torch.

    Entities: mean over out-edges ``(head, r, tail)`` of ``e_tail * e_r`` (a
    :class:`RelationMeanConv` over the edges read tail -> head). Users: interaction-weighted sum
    of item embeddings, scaled by ``1 +`` the user's intent-weighted relation mix.
    """

    def __init__(self):
        super().__init__()
        from recbole_llmkg.model.layers.propagation import RelationMeanConv  # loads PyG

        self.entity_conv = RelationMeanConv()

    def forward(
        self,
        entity_emb,
        user_emb,
        latent_emb,
        relation_emb,
        edge_index,
        edge_type,
        interact_mat,
        disen_weight_att,
    ):
        head, tail = edge_index
        entity_agg = self.entity_conv(entity_emb, torch.stack([tail, head]), relation_emb,
                                      edge_type)

        # Each user's attention over the latent intents, each intent a softmax mix of relations.
        intent_att = F.softmax(user_emb @ latent_emb.t(), dim=1)  # [n_users, n_factors]
        intent_emb = F.softmax(disen_weight_att, dim=-1) @ relation_emb  # [n_factors, dim]
        user_agg = torch.sparse.mm(interact_mat, entity_emb)  # [n_users, dim]
        user_agg = user_agg * (intent_att @ intent_emb) + user_agg
        return entity_agg, user_agg


class KGIN(recbole_kgin.KGIN):
    """RecBole's KGIN whose graph convolution uses :class:`KGINAggregator`."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        convs = self.gcn.convs
        for i in range(len(convs)):
            convs[i] = KGINAggregator()
