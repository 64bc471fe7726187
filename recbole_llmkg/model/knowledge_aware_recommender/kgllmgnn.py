r"""KGLLMGNN: a knowledge-graph GNN whose item nodes start from language-model text embeddings.

Relation-aware attentive propagation over the collaborative knowledge graph, with layer outputs
concatenated and a BPR + KG-embedding objective, follows
Wang et al., "KGAT: Knowledge Graph Attention Network for Recommendation" (KDD 2019), with
relation-modulated messages as in Wang et al., "Learning Intents behind Interactions with
Knowledge Graph for Recommendation" (KGIN, WWW 2021). Item nodes are initialised from frozen
text embeddings through an adapter, as in this project's seed design (``L = L_R + lambda L_K``).
"""

from __future__ import annotations

import torch
from recbole.model.abstract_recommender import KnowledgeRecommender
from recbole.model.init import xavier_normal_initialization
from recbole.model.loss import BPRLoss, EmbLoss
from recbole.utils import InputType

from recbole_llmkg.data import LLMKGDataset
from recbole_llmkg.model.layers import KGEmbeddingLoss, RelationGraph, project_rows
from recbole_llmkg.model.layers.sampling import (
    NeighbourSampler,
    check_fanouts,
)
from recbole_llmkg.model.text_features import TextFeaturesMixin
from recbole_llmkg.trainer import KGJointOrAlternateTrainer

KG_TRAINING_MODES = ("joint", "alternate")


class KGLLMGNN(TextFeaturesMixin, KnowledgeRecommender):
    r"""Attentive GNN over users, items (text + ID), KG entities and relations.

    Node table: users (ID), items (``fuse(ID, alpha * A(T_i))``), other entities (ID). ``n_layers``
    rounds of relation-aware attentive message passing; a node's representation is the
    concatenation of its layer outputs; score = inner product. Loss: BPR + ``kg_loss_weight`` x
    TransE/TransR on KG triples, either in every batch (``kg_training: joint``; the KG batch comes
    from RecBole's KnowledgeBasedDataLoader) or in a separate KG pass after each recommendation
    pass (``alternate``, via ``calculate_kg_loss`` and :class:`~recbole_llmkg.trainer.
    KGJointOrAlternateTrainer`).

    Propagation runs over the graph grouped by (target, relation)
    (:class:`~recbole_llmkg.model.layers.RelationGraph`, CSR kernels). A training step
    propagates over the sampled L-hop computation graph of its users and items
    (``train_sampling: sampled``, fan-outs ``train_fanouts``) or over the whole graph
    (``full``); an evaluation pass propagates the whole graph once, layer by layer in chunks of
    about ``inference_chunk_edges`` edges, and its result is cached.
    """

    input_type = InputType.PAIRWISE
    dataset_class = LLMKGDataset
    trainer_class = KGJointOrAlternateTrainer

    def __init__(self, config, dataset):
        super().__init__(config, dataset)

        # load parameters info
        self.embedding_size = config["embedding_size"]  # (int) size of node and relation embeddings
        self.n_layers = config["n_layers"]  # (int) number of propagation layers
        self.attention = config["attention"]  # (bool) edge-softmax attention, else mean aggregation
        self.edge_dropout = config["edge_dropout"]  # (float) share of CKG edges dropped per step
        self.mess_dropout = config["mess_dropout"]  # (float) dropout on layer outputs
        self.relation_text_init = config["relation_text_init"]  # (bool) init relations from names
        self.reg_weight = config["reg_weight"]  # (float) L2 weight on batch ego embeddings
        self.kg_loss = config["kg_loss"]  # (str) transe | transr
        self.kg_loss_weight = config["kg_loss_weight"]  # (float) weight of the KG loss (joint)
        self.kg_training = config["kg_training"]  # (str) joint | alternate
        # (bool) False: propagate over user-item edges only, no KG loss (the "KG off" ablation)
        self.use_kg = config["use_kg"] is not False
        self.train_sampling = config["train_sampling"]  # (str) full | sampled training graph
        self.inference_chunk_edges = config["inference_chunk_edges"]  # (int) edges per chunk
        self.init_text_features(config, dataset)  # adapter / fusion keys, frozen item text

        # the collaborative KG (reverse edges per the dataset key ckg_reverse_edges), grouped by
        # (target, relation) once; recomputed from the dataset, so not checkpointed
        edge_index, edge_type = dataset.ckg_edges(knowledge=self.use_kg)
        self.n_ckg_relations = dataset.ckg_num_relations()
        self.n_nodes = self.n_users + self.n_entities
        self.graph = RelationGraph.build(edge_index.to(self.device), edge_type.to(self.device),
                                         self.n_nodes)
        self.sampler = None
        if self.train_sampling == "sampled":
            self.edge_type = edge_type.to(self.device)
            fanouts = check_fanouts(config["train_fanouts"], self.n_layers)
            self.sampler = NeighbourSampler(edge_index.to(self.device), self.n_nodes, fanouts)

        # define layers and loss
        from recbole_llmkg.model.layers.propagation import RelationPropagation  # loads PyG

        self.user_embedding = torch.nn.Embedding(self.n_users, self.embedding_size)
        self.entity_embedding = torch.nn.Embedding(self.n_entities, self.embedding_size)
        self.relation_embedding = torch.nn.Embedding(self.n_ckg_relations, self.embedding_size)
        self.build_item_text_layers(self.embedding_size)
        self.propagation = RelationPropagation(
            self.n_layers, self.embedding_size, self.mess_dropout, self.attention
        )
        self.kg_embedding_loss = KGEmbeddingLoss(
            self.kg_loss, self.n_relations, self.embedding_size, self.reg_weight
        )
        self.bpr_loss = BPRLoss()
        self.reg_loss = EmbLoss()

        # parameters initialization
        self.apply(xavier_normal_initialization)
        if self.relation_text_init:
            self._init_relations_from_text(dataset.relation_text_embeddings())

    @torch.no_grad()
    def _init_relations_from_text(self, relation_text: torch.Tensor) -> None:
        """Relation rows (and their reverses) from the principal components of the name text."""
        weight = self.relation_embedding.weight
        init = project_rows(relation_text.to(weight.device), self.embedding_size,
                            weight.std().item())
        repeats = -(-self.n_ckg_relations // init.shape[0])
        weight.copy_(init.repeat(repeats, 1)[: self.n_ckg_relations])

    # ------------------------------------------------------------------ embeddings
    def ego_entities(self, entities: torch.Tensor | None = None) -> torch.Tensor:
        """Layer-0 embeddings of entities (all, or the given ids); items get their text part."""
        if entities is None:
            items = self.fuse_item(self.entity_embedding.weight[: self.n_items])
            return torch.cat([items, self.entity_embedding.weight[self.n_items:]], dim=0)
        ego = self.entity_embedding(entities)
        is_item = entities < self.n_items
        if is_item.any():
            ego = ego.clone()
            ego[is_item] = self.fuse_item(ego[is_item], entities[is_item])
        return ego

    def ego_nodes(self, nodes: torch.Tensor) -> torch.Tensor:
        """Layer-0 embeddings of CKG nodes (users first, then entities) by global id."""
        is_user = nodes < self.n_users
        ego = self.user_embedding.weight.new_empty(nodes.shape[0], self.embedding_size)
        ego = ego.index_put((torch.nonzero(is_user).squeeze(1),),
                            self.user_embedding(nodes[is_user]))
        return ego.index_put((torch.nonzero(~is_user).squeeze(1),),
                             self.ego_entities(nodes[~is_user] - self.n_users))

    def forward(self, graph: RelationGraph | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Propagate over the CKG (or over ``graph``, e.g. the CKG without some edges, as the
        explanation check uses); returns the concatenated layer outputs of users and items.
        Out of training the propagation runs without gradients, in chunks of target nodes."""
        ego = torch.cat([self.user_embedding.weight, self.ego_entities()], dim=0)
        graph = self.graph if graph is None else graph
        keep = self.n_users + self.n_items
        relation = self.relation_embedding.weight
        if self.training:
            graph = graph.drop_edges(self.edge_dropout, self.training)
            layers = self.propagation(ego, graph, relation, keep_nodes=keep)
        else:
            layers = self.propagation.forward_chunked(ego, graph, relation, keep,
                                                      self.inference_chunk_edges)
        final = torch.cat(layers, dim=1)
        return final[: self.n_users], final[self.n_users:]

    def forward_sampled(self, nodes: torch.Tensor) -> torch.Tensor:
        """Concatenated layer outputs ``[len(nodes), d (L + 1)]`` of the distinct CKG nodes
        ``nodes``, propagated over their sampled computation graph (one draw per call)."""
        computation = self.sampler.sample(nodes)
        graph = RelationGraph.build(
            torch.stack([computation.source, computation.target]),
            self.edge_type.index_select(0, computation.edges), computation.nodes.shape[0],
        ).drop_edges(self.edge_dropout, self.training)
        layers = self.propagation.forward_sampled(
            self.ego_nodes(computation.nodes), graph, self.relation_embedding.weight, computation
        )
        return torch.cat(layers, dim=1)

    @torch.no_grad()
    def propagation_edge_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(source [E], target [E], weights [n_layers, E])``: every CKG edge (node ids: users
        first, then entities) and its attention in each layer, as the model propagates at
        evaluation (no edge dropout). What explanations rank KG paths by."""
        ego = torch.cat([self.user_embedding.weight, self.ego_entities()], dim=0)
        weights = self.propagation.edge_weights(ego, self.graph, self.relation_embedding.weight)
        return self.graph.source, self.graph.edge_target, torch.stack(weights)

    # ------------------------------------------------------------------ training
    def calculate_loss(self, interaction):
        self.clear_evaluation_cache()

        user = interaction[self.USER_ID]
        pos_item = interaction[self.ITEM_ID]
        neg_item = interaction[self.NEG_ITEM_ID]

        if self.sampler is None:
            user_all, item_all = self.forward()
            u_e = user_all.index_select(0, user)
            pos_e, neg_e = item_all.index_select(0, pos_item), item_all.index_select(0, neg_item)
        else:  # only the batch's computation graph: users, then items (node ids after users)
            nodes, position = torch.unique(
                torch.cat([user, pos_item + self.n_users, neg_item + self.n_users]),
                return_inverse=True)
            final = self.forward_sampled(nodes).index_select(0, position)
            u_e, pos_e, neg_e = final.split(user.shape[0])
        rec_loss = self.bpr_loss((u_e * pos_e).sum(dim=1), (u_e * neg_e).sum(dim=1))
        reg_loss = self.reg_loss(
            self.user_embedding(user),
            self.entity_embedding(pos_item),
            self.entity_embedding(neg_item),
        )
        loss = rec_loss + self.reg_weight * reg_loss
        joint = self.kg_training == "joint" and self.kg_loss_weight > 0 and self.use_kg
        if joint and self.HEAD_ENTITY_ID in interaction:
            loss = loss + self.kg_loss_weight * self.calculate_kg_loss(interaction)
        return loss

    def calculate_kg_loss(self, interaction):
        """TransE / TransR loss on a batch of ``(head, relation, tail, negative tail)`` triples."""
        head = interaction[self.HEAD_ENTITY_ID]
        relation = interaction[self.RELATION_ID]
        tail = interaction[self.TAIL_ENTITY_ID]
        neg_tail = interaction[self.NEG_TAIL_ENTITY_ID]
        ego = self.ego_entities(torch.cat([head, tail, neg_tail]))
        h_e, t_e, n_e = ego.split(head.shape[0])
        return self.kg_embedding_loss(h_e, self.relation_embedding(relation), t_e, n_e, relation)

    # ------------------------------------------------------------------ evaluation
    def predict(self, interaction):
        user = interaction[self.USER_ID]
        item = interaction[self.ITEM_ID]
        user_all, item_all = self.forward()
        return (user_all[user] * item_all[item]).sum(dim=1)

    def compute_evaluation_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward()

    def full_sort_predict(self, interaction):
        return self.full_sort_scores(interaction[self.USER_ID])
