r"""LLMAugRec: ID embeddings fused with language-model text embeddings.

Follows the seed design of this project (score ``Y = U V^T + b``, language-model part weighted by
``alpha``), in the line of text-augmented collaborative filtering such as
Hou et al., "Towards Universal Sequence Representation Learning for Recommender Systems"
(UniSRec, KDD 2022; frozen text encoder plus a trainable adapter) and
Yuan et al., "Where to Go Next for Recommender Systems? ID- vs. Modality-based Recommender
Models Revisited" (SIGIR 2023; IDs versus text as item representation). With ``n_layers > 0``
both towers are smoothed over the user-item training graph as in He et al., "LightGCN" (SIGIR
2020): the text enters every item's layer-0 (ego) embedding, so it reaches users and similar
items through the graph (+2.1% valid NDCG@10 over the same LightGCN without text on ml-100k, five
seeds: ``results/explore/ml-100k.md`` section 3).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.model.init import xavier_normal_initialization
from recbole.model.loss import BPRLoss, EmbLoss
from recbole.utils import InputType

from recbole_llmkg.data import LLMTextDataset
from recbole_llmkg.data.settings import encoder_settings
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.llm.encoder import TextEncoder
from recbole_llmkg.model.layers import (
    IDTextFusion,
    TextAdapter,
    drop_rows,
    history_sum,
    principal_basis,
    to_principal,
)
from recbole_llmkg.model.layers.sampling import check_fanouts
from recbole_llmkg.model.text_features import TextFeaturesMixin

USER_TEXT_SOURCES = ("none", "profile", "history", "both")
LOSS_TYPES = ("BPR", "BCE")


class LLMAugRec(TextFeaturesMixin, GeneralRecommender):
    r"""Two-tower recommender whose user and item towers fuse IDs with adapted text embeddings.

    Item: ``v_i = fuse(ID_i, alpha * A_item(T_i))``; user: ``u = fuse(ID_u, alpha * A_user(T_u))``
    where ``T_u`` is the profile text embedding, the mean text embedding of the user's training
    items, or both. Score ``<u, v_i> + b_i``. IDs of items are dropped at random in training, and
    items with no training interaction are always scored from text alone. Trained pairwise
    (``loss_type: BPR``) or with binary cross-entropy on the positive and the sampled negative
    (``loss_type: BCE``); both read the same (user, positive, negative) batches.

    ``n_layers: 0``: a training step runs the item tower over the distinct items of its batch
    only. ``n_layers > 0``: the ego towers above are the layer-0 embeddings of LightGCN smoothing
    (:class:`~recbole_llmkg.model.layers.bipartite.BipartiteSmoothing`) and every step propagates
    the sampled computation graph of its batch (``train_sampling: sampled``, fan-outs
    ``train_fanouts``) or the whole graph (``full``); a user's final vector is its ego share
    plus one term per history item, which is what explanations read and how a new user is
    folded in. Either way the towers over every user and item run once per evaluation pass and
    are cached.
    """

    input_type = InputType.PAIRWISE
    dataset_class = LLMTextDataset

    def __init__(self, config, dataset):
        super().__init__(config, dataset)

        # load parameters info
        self.embedding_size = config["embedding_size"]  # (int) size of ID and fused embeddings
        self.user_text = config["user_text"]  # (str) none | profile | history | both
        self.id_dropout = config["id_dropout"]  # (float) prob. of dropping an item's ID in training
        self.use_bias = config["use_bias"]  # (bool) learn per-item biases
        self.loss_type = config["loss_type"]  # (str) BPR | BCE
        self.reg_weight = config["reg_weight"]  # (float) L2 weight on batch embeddings
        self.llm_freeze = config["llm_freeze"]  # (bool) precomputed text embeddings vs fine-tuning
        self.llm_finetune_items = config["llm_finetune_items"]  # (int) items re-encoded per step
        self.n_layers = config["n_layers"]  # (int) LightGCN layers over the training graph
        self.train_sampling = config["train_sampling"]  # (str) full | sampled training graph
        self.init_text_features(config, dataset)  # adapter / fusion keys, frozen item text

        # values are checked by the Config (value_rules in properties/model/LLMAugRec.yaml)

        # frozen user text features (not parameters; recomputed from the dataset)
        interactions = dataset.inter_matrix(form="csr").astype(np.float32)
        item_text = self.item_text
        profile, hist_sum, hist_count = None, None, None
        profile_mean, profile_basis = None, None
        if self.user_text in ("profile", "both"):
            profile = dataset.user_text_embeddings().float()
            if self.text_rank and self.text_rank < profile.shape[1]:  # profiles: their own basis
                profile_mean, profile_basis = principal_basis(profile, self.text_rank)
        # kept so that a new user's profile (serving) reaches the same space
        self.register_buffer("profile_mean", profile_mean, persistent=False)
        self.register_buffer("profile_basis", profile_basis, persistent=False)
        if profile is not None:
            profile = self.reduce_profile(profile)
        if self.user_text in ("history", "both"):
            hist_sum, hist_count = history_sum(interactions, item_text)
        self.register_buffer("user_profile_text", profile, persistent=False)
        self.register_buffer("history_text_sum", hist_sum, persistent=False)
        self.register_buffer("history_count", hist_count, persistent=False)
        counts = torch.from_numpy(np.asarray((interactions > 0).sum(axis=0)).ravel())
        self.register_buffer("warm_item", (counts > 0).float().unsqueeze(1).to(self.device),
                             persistent=False)

        # define layers and loss
        self.user_embedding = torch.nn.Embedding(self.n_users, self.embedding_size)
        self.item_embedding = torch.nn.Embedding(self.n_items, self.embedding_size)
        self.item_bias = torch.nn.Embedding(self.n_items, 1) if self.use_bias else None
        self.build_item_text_layers(self.embedding_size)
        user_text_dim = sum(t.shape[1] for t in (profile, hist_sum) if t is not None)
        if user_text_dim:
            self.user_adapter = TextAdapter(user_text_dim, self.embedding_size,
                                            self.adapter_hidden_size, self.adapter_dropout)
            self.user_fusion = IDTextFusion(self.embedding_size, self.fusion, self.llm_alpha)
        self.smoothing = None
        if self.n_layers:
            from recbole_llmkg.model.layers.bipartite import BipartiteSmoothing

            fanouts = None
            if self.train_sampling == "sampled":
                fanouts = check_fanouts(config["train_fanouts"], self.n_layers)
            self.smoothing = BipartiteSmoothing(interactions, self.n_layers, self.device, fanouts)
        self._graph_cache = None  # graph mode: the evaluation pass's users, items, messages
        self.bpr_loss = BPRLoss()
        self.reg_loss = EmbLoss()

        # parameters initialization
        self.apply(xavier_normal_initialization)
        if self.item_bias is not None:
            torch.nn.init.zeros_(self.item_bias.weight)

        # optional end-to-end fine-tuning of the text encoder (built after the initialisation
        # above so its pretrained weights are kept; its module is registered, so the optimiser
        # trains it and checkpoints hold it)
        self.text_model = None
        if not self.llm_freeze and getattr(dataset, "text_view_count", 1) > 1:
            raise ConfigError("llm_freeze: False fine-tunes the encoder on one text per item, but "
                              "item_text_view: separate gives two; use item_text_view: combined "
                              "(one text) or llm_freeze: True.")
        if not self.llm_freeze:
            encoder = TextEncoder(**encoder_settings(config), device=self.device)
            self.text_model = encoder.model
            encoder.model = None  # owned by this module from here on
            self._encoder = encoder
            self._item_texts = dataset.item_texts()

    # ------------------------------------------------------------------ towers
    def _encode_items(self, items: torch.Tensor, grad: bool) -> torch.Tensor:
        """Encode the texts of ``items`` with the fine-tuned encoder (``llm_freeze: False``)."""
        self._encoder.model = self.text_model
        try:
            texts = [self._item_texts[i] for i in items.tolist()]
            return self.reduce_text(self._encoder.encode(texts, grad=grad).to(self.item_text.dtype))
        finally:
            self._encoder.model = None

    def item_text_features(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """Text features of all items, or of ``items``.

        Frozen: the precomputed embeddings. Fine-tuning: in training, ``llm_finetune_items``
        random warm items are re-encoded with gradients (the rest keep their last encoding); in
        evaluation every item is re-encoded, which also refreshes the stored encodings.
        """
        if self.text_model is None:
            return super().item_text_features(items)
        if not self.training:
            every = torch.arange(1, self.n_items, device=self.item_text.device)
            self.item_text[1:] = self._encode_items(every, grad=False)
            return super().item_text_features(items)
        warm = torch.nonzero(self.warm_item.squeeze(1)).squeeze(1)
        chosen = warm[torch.randperm(len(warm), device=warm.device)[: self.llm_finetune_items]]
        table = self.item_text.index_copy(0, chosen, self._encode_items(chosen, grad=True))
        return table if items is None else table[items]

    def reduce_profile(self, profile: torch.Tensor) -> torch.Tensor:
        """Profile text embeddings (``[n, 384]`` from the encoder) in the user tower's profile
        space: their coordinates on the training profiles' ``text_rank`` principal directions,
        or unchanged when ``text_rank`` is 0."""
        return to_principal(profile, self.profile_mean, self.profile_basis)

    def item_id_mask(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """``[n, 1]`` for all items or ``items``: 1 where an item's ID part (embedding and bias)
        is used.

        0 for cold items (no training interaction), for every item with ``item_ids: False``, and,
        in training, for a random ``id_dropout`` share of the items: the dropped ones are scored
        exactly as a cold item is at test time.
        """
        return drop_rows(self.item_id_available(items), self.id_dropout, self.training)

    def item_id_available(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """``[n, 1]``: 1 for items with an ID part at all (a training interaction, and
        ``item_ids`` on); :meth:`item_id_mask` without the training-time dropout."""
        warm = self.warm_item if items is None else self.warm_item[items]
        return warm if self.item_ids else torch.zeros_like(warm)

    def item_ego(
        self, items: torch.Tensor | None = None, id_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[n_items, d]`` (or the rows of ``items``): ID (masked by :meth:`item_id_mask`)
        fused with text: the item tower before any graph smoothing."""
        id_mask = self.item_id_mask(items) if id_mask is None else id_mask
        ids = self.item_embedding.weight if items is None else self.item_embedding(items)
        return self.fuse_item(ids * id_mask, items)

    def item_representation(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """``[n_items, d]`` (or the rows of ``items``): the vectors items are scored with (the
        ego tower, smoothed over the graph when ``n_layers > 0``)."""
        if self.smoothing is None:
            return self.item_ego(items)
        item_e = self._smoothed()[1]
        return item_e if items is None else item_e[items]

    def user_text_features(
        self, users: torch.Tensor | None, exclude: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """Profile text and/or mean text of the training history of ``users`` (``None``: all).

        ``exclude`` (the positive items of a training batch) is left out of each user's history
        mean, so the model cannot score a positive by matching the item against itself.
        """
        def rows(table: torch.Tensor) -> torch.Tensor:
            return table if users is None else table[users]

        parts = []
        if self.user_profile_text is not None:
            parts.append(rows(self.user_profile_text))
        if self.history_text_sum is not None:
            total, count = rows(self.history_text_sum), rows(self.history_count)
            if exclude is not None:
                total, count = total - self.item_text[exclude], count - 1
            parts.append(total / count.clamp_min(1.0))
        return torch.cat(parts, dim=1) if parts else None

    def user_ego(
        self, users: torch.Tensor | None = None, exclude: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[n_users, d]`` (or the rows of ``users``): ID fused with the user's text, the user
        tower before any graph smoothing (``exclude``: one item per row left out of its history
        text)."""
        ids = self.user_embedding.weight if users is None else self.user_embedding(users)
        text = self.user_text_features(users, exclude)
        if text is None:
            return ids
        return self.user_fusion(ids, self.user_adapter(text))

    def user_representation(
        self, users: torch.Tensor | None = None, exclude: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[n_users, d]`` (or the rows of ``users``): the vectors users are scored with.

        ``exclude`` leaves one history item per row out: of the history text and, with graph
        smoothing, also that item's term ``a_uj m_j`` (the user's other terms and the rest of
        the graph held fixed; see :mod:`recbole_llmkg.model.layers.bipartite`).
        """
        if self.smoothing is None:
            return self.user_ego(users, exclude)
        user_e, _, messages = self._smoothed()
        rows = user_e if users is None else user_e[users]
        if exclude is None:
            return rows
        if users is None:
            users = torch.arange(self.n_users, device=rows.device)
        text_change = self.user_ego(users, exclude) - self.user_ego(users)
        return (rows - self.smoothing.history_terms(users, exclude, messages)
                + self.smoothing.ego_share() * text_change)

    # ------------------------------------------------------------------ graph smoothing
    def _propagate(self, id_mask: torch.Tensor | None = None, messages: bool = True
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Final user and item vectors and the item messages ``m_j`` over the whole graph (the
        user towers read the full history text: one propagation serves every pair; a training
        step skips the messages, which only explanations and fold-in read)."""
        return self.smoothing(self.user_ego(), self.item_ego(None, id_mask), messages)

    def _propagate_sampled(self, nodes: torch.Tensor, id_mask: torch.Tensor) -> torch.Tensor:
        """Final vectors of graph nodes ``nodes`` (users, then items offset by ``n_users``;
        repeats allowed) over their sampled computation graph; ``id_mask`` ``[n_items, 1]``."""
        seeds, position = torch.unique(nodes, return_inverse=True)
        computation = self.smoothing.sample(seeds)
        is_user = computation.nodes < self.n_users
        users = computation.nodes[is_user]
        items = computation.nodes[~is_user] - self.n_users
        ego = self.user_embedding.weight.new_empty(computation.nodes.shape[0],
                                                   self.embedding_size)
        ego = ego.index_put((torch.nonzero(is_user).squeeze(1),), self.user_ego(users))
        ego = ego.index_put((torch.nonzero(~is_user).squeeze(1),),
                            self.item_ego(items, id_mask[items]))
        return self.smoothing.forward_sampled(computation, ego).index_select(0, position)

    def _smoothed(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`_propagate`, recomputed in training and cached for evaluation and serving."""
        if self.training:
            return self._propagate()
        if self._graph_cache is None:
            self._graph_cache = self._propagate()
        return self._graph_cache

    def fold_in_user(self, ego: torch.Tensor, liked: torch.Tensor) -> torch.Tensor:
        """``[d]``: a user outside the training data, from its ego vector (text, no ID) and the
        liked items: as its training graph would give it, ``ego / (K+1) + sum_j a_uj m_j`` with
        ``a_uj = 1 / sqrt(|liked| d_j)`` (the rest of the graph held fixed); the ego vector
        itself without graph smoothing."""
        if self.smoothing is None:
            return ego.view(-1)
        out = self.smoothing.ego_share() * ego.view(-1)
        if len(liked):
            liked = liked.to(out.device)
            weights = self.smoothing.item_norm[liked] / len(liked) ** 0.5
            out = out + weights @ self._smoothed()[2][liked]
        return out

    def item_bias_vector(
        self, items: torch.Tensor | None = None, id_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[n_items]`` (or ``[len(items)]``) learned biases, zero where the ID part is masked."""
        n = self.n_items if items is None else items.shape[0]
        if self.item_bias is None:
            return torch.zeros(n, device=self.item_embedding.weight.device)
        if id_mask is None:
            id_mask = self.item_id_available(items)
        bias = self.item_bias.weight if items is None else self.item_bias(items)
        return (bias * id_mask).squeeze(1)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_representation(), self.item_representation()

    # ------------------------------------------------------------------ training
    def calculate_loss(self, interaction):
        self.clear_evaluation_cache()

        user = interaction[self.USER_ID]
        pos_item = interaction[self.ITEM_ID]
        neg_item = interaction[self.NEG_ITEM_ID]

        if self.smoothing is None:
            u_e = self.user_ego(user, exclude=pos_item)
            # the item tower over the batch's distinct items (one ID-dropout draw per item)
            items, position = torch.unique(torch.cat([pos_item, neg_item]), return_inverse=True)
            id_mask = self.item_id_mask(items)
            item_e = self.item_ego(items, id_mask).index_select(0, position)
            bias = self.item_bias_vector(items, id_mask).index_select(0, position)
        elif self.smoothing.sampler is None:  # the whole graph (one ID-dropout draw per item)
            id_mask = self.item_id_mask()
            user_all, item_all, _ = self._propagate(id_mask, messages=False)
            u_e = user_all.index_select(0, user)
            position = torch.cat([pos_item, neg_item])
            item_e = item_all.index_select(0, position)
            bias = self.item_bias_vector(None, id_mask).index_select(0, position)
        else:  # the batch's sampled computation graph (one ID-dropout draw per item)
            id_mask = self.item_id_mask()
            position = torch.cat([pos_item, neg_item])
            final = self._propagate_sampled(torch.cat([user, position + self.n_users]), id_mask)
            u_e, item_e = final.split([user.shape[0], position.shape[0]])
            bias = self.item_bias_vector(position, id_mask[position])
        pos_e, neg_e = item_e.split(pos_item.shape[0])
        pos_b, neg_b = bias.split(pos_item.shape[0])
        pos_scores = (u_e * pos_e).sum(dim=1) + pos_b
        neg_scores = (u_e * neg_e).sum(dim=1) + neg_b
        if self.loss_type == "BPR":
            loss = self.bpr_loss(pos_scores, neg_scores)
        else:
            loss = F.binary_cross_entropy_with_logits(
                torch.cat([pos_scores, neg_scores]),
                torch.cat([torch.ones_like(pos_scores), torch.zeros_like(neg_scores)]),
            )
        reg = self.reg_loss(
            self.user_embedding(user), self.item_embedding(pos_item), self.item_embedding(neg_item)
        )
        return loss + self.reg_weight * reg

    # ------------------------------------------------------------------ evaluation
    def predict(self, interaction):
        user = interaction[self.USER_ID]
        item = interaction[self.ITEM_ID]
        u_e = self.user_representation(user)
        i_e = self.item_representation(item)
        return (u_e * i_e).sum(dim=1) + self.item_bias_vector(item)

    def compute_evaluation_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Users ``[u, 1]`` and items ``[v, b]``: ``<[u, 1], [v, b]> = <u, v> + b``."""
        self._graph_cache = None  # the evaluation cache is being rebuilt: the graph's too
        user_e = self.user_representation()
        item_e = torch.cat([self.item_representation(), self.item_bias_vector().unsqueeze(1)], 1)
        return torch.cat([user_e, torch.ones_like(user_e[:, :1])], dim=1), item_e

    def full_sort_predict(self, interaction):
        return self.full_sort_scores(interaction[self.USER_ID])

    def clear_evaluation_cache(self) -> None:
        super().clear_evaluation_cache()
        self._graph_cache = None

    def load_other_parameter(self, para):
        super().load_other_parameter(para)
        self._graph_cache = None  # the loaded weights are not those it was computed from
