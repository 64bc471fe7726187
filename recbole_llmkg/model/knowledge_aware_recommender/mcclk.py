"""MCCLK without torch_scatter: RecBole 1.2.1's MCCLK with a scatter-free aggregator.

What is replaced: only the aggregator (``recbole...mcclk.Aggregator``), whose ``forward`` imports
``torch_scatter.scatter_softmax`` and ``scatter_mean``; torch-scatter has no wheels for today's
torch, so RecBole's MCCLK crashed after the first batch. Our :class:`MCCLKAggregator` computes
the same maths with the plugin's segment reductions (:mod:`recbole_llmkg.model.layers.segment`,
PyTorch Geometric's pure-torch ``softmax`` and ``scatter``), both in the
structural-view convolutions (``gcn.convs``) and in the optional separate item-graph builder
(``gcn.bg_convs``, ``build_graph_separately: True``).

Everything else (graph construction, contrastive losses, RecBole's ``MCCLK.yaml`` defaults,
``Trainer``) is RecBole 1.2.1's. Aggregators hold no parameters, so ``state_dict`` keys are
identical to RecBole's and checkpoints load in either direction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from recbole.model.knowledge_aware_recommender import mcclk as recbole_mcclk

from recbole_llmkg.model.layers.segment import scatter_mean, scatter_softmax


class MCCLKAggregator(recbole_mcclk.Aggregator):
    """MCCLK's aggregator (one hop) on plain torch.

    Entities: mean over out-edges ``(head, r, tail)`` of ``e_tail * e_r``, each message first
    weighted by the softmax (over the head's out-edges) of RecBole's ``calculate_sim_hrt`` score
    when ``attention`` is on. Users (unless ``item_only``): interaction-weighted sum of item
    embeddings, scaled by ``1 +`` the user's softmax mix of relation embeddings.
    """

    def forward(self, entity_emb, user_emb, relation_emb, edge_index, edge_type, inter_matrix):
        n_entities = entity_emb.shape[0]
        head, tail = edge_index
        edge_relation_emb = relation_emb[edge_type]
        messages = entity_emb[tail] * edge_relation_emb

        if self.attention:
            # One score per edge; RecBole broadcasts it over the embedding columns before the
            # softmax, which gives the same weight in every column.
            score = self.calculate_sim_hrt(entity_emb[head], entity_emb[tail], edge_relation_emb)
            weight = scatter_softmax(score, head, num_nodes=n_entities)  # [n_edges, 1]
            messages = weight * messages

        entity_agg = scatter_mean(messages, head, dim_size=n_entities)
        if self.item_only:
            return entity_agg

        relation_att = F.softmax(user_emb @ relation_emb.t(), dim=-1)  # [n_users, n_relations]
        user_agg = torch.sparse.mm(inter_matrix, entity_emb)  # [n_users, dim]
        user_agg = user_agg + (relation_att @ relation_emb) * user_agg
        return entity_agg, user_agg

    @classmethod
    def like(cls, aggregator: recbole_mcclk.Aggregator) -> MCCLKAggregator:
        """A scatter-free aggregator with the same ``item_only`` / ``attention`` settings."""
        return cls(item_only=aggregator.item_only, attention=aggregator.attention)


class MCCLK(recbole_mcclk.MCCLK):
    """RecBole's MCCLK whose graph convolutions use :class:`MCCLKAggregator`."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        for name in ("convs", "bg_convs"):
            convs = getattr(self.gcn, name, None)
            for i in range(len(convs) if convs is not None else 0):
                convs[i] = MCCLKAggregator.like(convs[i])
