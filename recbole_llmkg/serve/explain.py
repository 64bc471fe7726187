"""Knowledge-graph paths between a user's history items and a recommended item.

A path is ``history item -[r1]- entity -[r2]- recommended item``, read from the dataset's ``.kg``
triples (after RecBole links items to entities, item ``i`` is entity ``i``). Entities keep their
``.kg`` ids (ml-100k's are Freebase ids with no names); relations keep their ``.kg`` names. Paths
are ranked by the history item's explanation weight times, for a model that propagates with
attention (KGLLMGNN), the attention the path's two edges get (history item -> entity in the
first layer, entity -> recommended item in the last): what the model itself weighs; otherwise
times the shared entity's specificity (``log(items / items linked to it)``, so a country or
language shared by most films comes last). One path per (history item, entity).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from recbole_llmkg.data.text import column


class KGPaths:
    """Item-entity links of a knowledge-based dataset, ready for path look-ups."""

    def __init__(self, dataset) -> None:
        head = column(dataset.kg_feat, dataset.head_entity_field).astype(np.int64)
        relation = column(dataset.kg_feat, dataset.relation_field).astype(np.int64)
        tail = column(dataset.kg_feat, dataset.tail_entity_field).astype(np.int64)
        n_items = dataset.item_num
        is_head, is_tail = head < n_items, tail < n_items
        self.links = pd.DataFrame({
            "item": np.r_[head[is_head], tail[is_tail]],
            "relation": np.r_[relation[is_head], relation[is_tail]],
            "entity": np.r_[tail[is_head], head[is_tail]],
        })
        self.links = self.links[self.links["item"] != self.links["entity"]]
        self.degree = self.links.groupby("entity")["item"].nunique()
        self.n_items = int(self.links["item"].nunique())
        self.relation_names = np.asarray(dataset.field2id_token[dataset.relation_field])
        self.entity_names = np.asarray(dataset.field2id_token[dataset.entity_field])

    @classmethod
    def of(cls, dataset) -> KGPaths | None:
        """Paths for a dataset with a knowledge graph; ``None`` otherwise."""
        return cls(dataset) if getattr(dataset, "kg_feat", None) is not None else None

    def paths(self, history: np.ndarray, weight: np.ndarray, target: int, limit: int,
              attention: EdgeAttention | None = None) -> pd.DataFrame:
        """Up to ``limit`` paths from ``history`` items (with their explanation ``weight``) to
        ``target``; columns ``source, relation_out, entity, relation_in, weight, degree,
        attention`` (NaN without a model's ``attention``)."""
        links = self.links
        to_target = links[links["item"] == target]
        start = links[links["item"].isin(history)]
        joined = start.merge(to_target, on="entity", suffixes=("_out", "_in"))
        joined = joined[joined["item_out"] != target]
        if joined.empty:
            return joined
        order = pd.Series(weight, index=history)
        degree = self.degree.reindex(joined["entity"]).to_numpy()
        source_weight = order.reindex(joined["item_out"]).to_numpy()
        if attention is not None:
            path_attention = attention.along(joined["item_out"].to_numpy(),
                                             joined["entity"].to_numpy(), target)
            rank_key = source_weight * path_attention
        else:
            # specificity: an entity linked to every item (a country, a language) explains nothing
            path_attention = np.full(len(joined), np.nan)
            rank_key = source_weight * np.log(self.n_items / degree)
        joined = joined.assign(
            weight=source_weight, degree=degree, attention=path_attention, rank_key=rank_key
        ).sort_values(["rank_key", "degree"], ascending=[False, True], kind="stable")
        # a KG listing both directions of a relation gives the same path twice: keep the first
        joined = joined.drop_duplicates(["item_out", "entity"]).head(limit)
        return pd.DataFrame({
            "source": joined["item_out"].to_numpy(),
            "relation_out": self.relation_names[joined["relation_out"].to_numpy()],
            "entity": self.entity_names[joined["entity"].to_numpy()],
            "relation_in": self.relation_names[joined["relation_in"].to_numpy()],
            "weight": joined["weight"].to_numpy(),
            "degree": joined["degree"].to_numpy(),
            "attention": joined["attention"].to_numpy(),
        })


class EdgeAttention:
    """A propagating model's per-layer edge weights between entities (items are entities
    ``0..n_items-1``), for ranking KG paths by what the model attends to."""

    def __init__(self, source: np.ndarray, target: np.ndarray, weights: np.ndarray,
                 n_users: int) -> None:
        between = (source >= n_users) & (target >= n_users)  # users' edges explain no KG path
        source, target = source[between] - n_users, target[between] - n_users
        self.n_entities = int(max(source.max(initial=0), target.max(initial=0))) + 1
        key = source.astype(np.int64) * self.n_entities + target
        order = np.argsort(key, kind="stable")
        self.keys, starts = np.unique(key[order], return_index=True)
        # an entity pair linked by several relations: the largest weight of its edges
        self.table = np.maximum.reduceat(weights[:, between][:, order], starts, axis=1)

    @classmethod
    def of(cls, model) -> EdgeAttention | None:
        """From a model with ``propagation_edge_weights()`` (KGLLMGNN); ``None`` otherwise."""
        if not hasattr(model, "propagation_edge_weights"):
            return None
        source, target, weights = model.propagation_edge_weights()
        return cls(source.cpu().numpy(), target.cpu().numpy(), weights.cpu().numpy(),
                   int(model.n_users))

    def edge(self, layer: int, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Weight of the edge ``source -> target`` in ``layer``; 0 where there is none."""
        wanted = source.astype(np.int64) * self.n_entities + target
        at = np.clip(np.searchsorted(self.keys, wanted), 0, max(len(self.keys) - 1, 0))
        found = (self.keys[at] == wanted) if len(self.keys) else np.zeros(len(wanted), bool)
        return np.where(found, self.table[layer][at] if len(self.keys) else 0.0, 0.0)

    def along(self, sources: np.ndarray, entities: np.ndarray, target: int) -> np.ndarray:
        """``a(source -> entity)`` in the first layer times ``a(entity -> target)`` in the last:
        the attention a path's two edges get."""
        first = self.edge(0, sources, entities)
        last = self.edge(self.table.shape[0] - 1, entities, np.full(len(entities), target))
        return first * last


def knowledge_quote(text: str | None, limit: int = 240) -> str | None:
    """What ``--explain`` quotes of an item's LLM-written knowledge: its first sentences, whole,
    up to ``limit`` characters (cut at a word with "..." when the first sentence is longer);
    ``None`` without knowledge."""
    if not text:
        return None
    quote = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        if len(quote) + len(sentence) + 1 > limit:
            break
        quote = f"{quote} {sentence}".strip()
    if not quote:
        quote = text[:limit].rsplit(" ", 1)[0] + " ..."
    return quote
