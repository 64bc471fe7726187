"""KGMixin: the knowledge graph as tensors, for models on :class:`LLMKGDataset`.

RecBole's KnowledgeBasedDataset merges item and entity ids (item ``i`` is entity ``i``) and
appends ``[UI-Relation]`` as the last relation id. On top of that this mixin gives the
collaborative knowledge graph (users + entities) as a PyG-style ``edge_index``/``edge_type`` pair,
the raw triples for TransE/TransR losses, relation-name text embeddings, and sparse TF-IDF
knowledge profiles. Everything that depends on interactions reads ``self.inter_feat``, so calling
it on the training split uses training interactions only. All vectorised: no loops over edges.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbole_llmkg.data.knowledge import item_entity_profile, to_torch_sparse, user_entity_profile
from recbole_llmkg.data.link import (
    link_file,
    log_link_file,
    report_unlinked,
    resolve_link_duplicates,
)
from recbole_llmkg.data.text import column
from recbole_llmkg.data.triples import repeated_triples
from recbole_llmkg.errors import DataError
from recbole_llmkg.llm.templates import relation_text

logger = logging.getLogger(__name__)


class KGMixin:
    """CKG edges, triples, relation texts and knowledge profiles over RecBole's merged ids."""

    def _load_link(self, token, dataset_path):
        """RecBole's item/entity maps, after the plugin's rule for duplicated rows."""
        link_path = str(link_file(self.config, dataset_path, token))
        if not os.path.isfile(link_path):
            raise DataError(f"Link file '{link_path}' not found; KG models need it.")
        log_link_file(Path(link_path), token)
        frame = self._load_feat(link_path, "link")
        self._check_link(frame)
        items = frame[self.iid_field].to_numpy()
        entities = frame[self.entity_field].to_numpy()
        keep = resolve_link_duplicates(
            link_path, items, entities, self._checked_files[link_path].line_numbers
        )
        items, entities = items[keep], entities[keep]
        self._link_lines = dict(zip(items, self._checked_files[link_path].line_numbers[keep],
                                    strict=True))
        return dict(zip(items, entities, strict=True)), dict(zip(entities, items, strict=True))

    def _load_kg(self, token, dataset_path):
        """RecBole's triples, each repeated triple once (:mod:`~recbole_llmkg.data.triples`)."""
        frame = super()._load_kg(token, dataset_path)
        kg_path = os.path.join(dataset_path, f"{token}.kg")
        keep = repeated_triples(
            kg_path, *(frame[f].to_numpy() for f in (
                self.head_entity_field, self.relation_field, self.tail_entity_field)),
            self._checked_files[kg_path].line_numbers,
        )
        return frame if keep.all() else frame[keep].reset_index(drop=True)

    def _filter_link(self):
        """RecBole drops .link rows of unknown items (and unknown entities) silently: count them."""
        items = np.array(list(self.item2entity), dtype=object)
        entities = np.array(list(self.item2entity.values()), dtype=object)
        report_unlinked(
            link_file(self.config, self.dataset_path, self.dataset_name), items, entities,
            pd.Series(items).map(self._link_lines).fillna(0).astype(int).to_numpy(),
            pd.Series(items).isin(self._get_rec_item_token()).to_numpy(),
            pd.Series(entities).isin(self._get_entity_token()).to_numpy(),
        )
        before = len(self.inter_feat)
        super()._filter_link()
        dropped = before - len(self.inter_feat)
        if dropped:
            logger.info(
                "%d interactions with items that have no .link row were dropped "
                "(RecBole's KnowledgeBasedDataset keeps linked items only).",
                dropped,
            )

    # -- graph --------------------------------------------------------------------------------
    def _reverse(self, reverse: bool | None) -> bool:
        return bool(self._setting("ckg_reverse_edges")) if reverse is None else bool(reverse)

    def kg_triples(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(head, relation, tail)`` LongTensors of the KG triples (entity and relation ids)."""
        device = self._device()
        return tuple(
            torch.as_tensor(column(self.kg_feat, f).astype(np.int64), device=device)
            for f in (self.head_entity_field, self.relation_field, self.tail_entity_field)
        )

    def ckg_num_nodes(self) -> int:
        """Users ``0..user_num-1`` then entities ``user_num + entity_id``."""
        return int(self.user_num + self.entity_num)

    def ckg_num_relations(self, reverse: bool | None = None) -> int:
        """Relation ids used by :meth:`ckg_edges`: doubled when reverse edges are added."""
        return int(self.relation_num * (2 if self._reverse(reverse) else 1))

    def ckg_edges(self, reverse: bool | None = None,
                  knowledge: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Collaborative KG as ``(edge_index [2, E], edge_type [E])`` over users + entities.

        user -> item edges (training interactions of this split) have the ``[UI-Relation]`` id
        (``relation_num - 1``); head -> tail KG edges keep their relation ids (left out with
        ``knowledge=False``: the interaction graph alone). With ``reverse`` (default: config
        ``ckg_reverse_edges``) the tail -> head copies follow, their relation ids offset by
        ``relation_num``.
        """
        users = column(self.inter_feat, self.uid_field).astype(np.int64)
        items = column(self.inter_feat, self.iid_field).astype(np.int64) + self.user_num
        kept = slice(None) if knowledge else slice(0)
        head = column(self.kg_feat, self.head_entity_field)[kept].astype(np.int64) + self.user_num
        tail = column(self.kg_feat, self.tail_entity_field)[kept].astype(np.int64) + self.user_num
        rel = column(self.kg_feat, self.relation_field)[kept].astype(np.int64)
        ui_rel = self.relation_num - 1
        assert self.field2id_token[self.relation_field][ui_rel] == "[UI-Relation]"
        src = np.concatenate([users, head])
        dst = np.concatenate([items, tail])
        etype = np.concatenate([np.full(len(users), ui_rel, dtype=np.int64), rel])
        if self._reverse(reverse):
            src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
            etype = np.concatenate([etype, etype + self.relation_num])
        device = self._device()
        edge_index = torch.from_numpy(np.stack([src, dst])).to(device)
        return edge_index, torch.from_numpy(etype).to(device)

    # -- text of relations --------------------------------------------------------------------
    def relation_texts(self) -> list[str]:
        """Readable relation names; index = relation id (0 = padding)."""
        return [relation_text(str(name)) for name in self.field2id_token[self.relation_field]]

    def relation_text_embeddings(self) -> torch.Tensor:
        """``[relation_num, d]`` embeddings of the relation names (row 0 zeros)."""
        memo = self._text_memo.get("relation_emb")
        if memo is None:
            memo = self._text_memo["relation_emb"] = self._encode(
                "relation", self.relation_texts()
            )
        return memo.to(self._device())

    # -- knowledge profiles -------------------------------------------------------------------
    def _item_profile_scipy(self):
        memo = self._text_memo.get("item_profile")
        if memo is None:
            memo = self._text_memo["item_profile"] = item_entity_profile(
                column(self.kg_feat, self.head_entity_field),
                column(self.kg_feat, self.tail_entity_field),
                self.item_num,
                self.entity_num,
            )
        return memo

    def item_knowledge_profile(self) -> torch.Tensor:
        """Sparse ``[item_num, entity_num]`` TF-IDF of one-hop entities, rows L2-normalised."""
        return to_torch_sparse(self._item_profile_scipy(), self._device())

    def user_knowledge_profile(self) -> torch.Tensor:
        """Sparse ``[user_num, entity_num]``: sum of the profiles of this split's items per user."""
        memo = self._text_memo.get("user_profile")
        if memo is None or memo[0] is not self.inter_feat:
            profile = user_entity_profile(
                column(self.inter_feat, self.uid_field),
                column(self.inter_feat, self.iid_field),
                self.user_num,
                self._item_profile_scipy(),
            )
            memo = self._text_memo["user_profile"] = (self.inter_feat, profile)
        return to_torch_sparse(memo[1], self._device())
