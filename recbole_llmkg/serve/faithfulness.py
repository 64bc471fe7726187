"""Are explanations faithful? Remove the top explaining history item, or a random one, from the
user's input, re-score, and compare how much the explained item's score falls.

Removal is the model's own computation with one history item left out: ``(x_u - x_uj e_j) W`` for
item-weight models, the user tower without ``j`` in its history mean for two-tower models, and for
graph models that propagate over a relation graph (KGLLMGNN) a fresh propagation over the graph
without the user-item edges of ``j`` (weights unchanged). Other embedding models (BPR, ...)
would need retraining, so they are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from recbole_llmkg.errors import ServeError
from recbole_llmkg.serve.families import (
    EmbeddingFamily,
    ItemWeightFamily,
    ScoreOnlyFamily,
    TwoTowerFamily,
)


def propagates_over_graph(model) -> bool:
    """A graph model whose ``forward(graph=...)`` propagates over its relation graph (KGLLMGNN)."""
    from recbole_llmkg.model.layers import RelationGraph

    return isinstance(getattr(model, "graph", None), RelationGraph)


def graph_without(model, user: int, item: int):
    """The model's graph without the edges between ``user`` and ``item`` (both directions)."""
    graph = model.graph
    node = model.n_users + item
    source, target = graph.source, graph.edge_target
    keep = ~(((source == user) & (target == node)) | ((source == node) & (target == user)))
    return graph.subgraph(keep)


@torch.no_grad()
def scores_without(family: ScoreOnlyFamily, user: int, removed: np.ndarray) -> torch.Tensor:
    """``[len(removed), n_items]``: the user's scores with each history item left out in turn."""
    removed_t = torch.as_tensor(removed, dtype=torch.long)
    if isinstance(family, ItemWeightFamily):
        history = family.history_items(user)
        row = torch.zeros(family.n_items, device=family.weights.device)
        row[torch.as_tensor(history)] = torch.as_tensor(
            family.history[user, history].toarray().ravel(), device=row.device)
        rows = row.repeat(len(removed), 1)
        rows[torch.arange(len(removed)), removed_t] = 0.0
        return rows @ family.weights
    if isinstance(family, TwoTowerFamily):
        model = family.model
        items, bias = family._items()
        users = torch.full((len(removed),), user, dtype=torch.long, device=items.device)
        reps = model.user_representation(users, exclude=removed_t.to(items.device))
        return reps @ items.T + bias
    if isinstance(family, EmbeddingFamily) and propagates_over_graph(family.model):
        model, rows = family.model, []
        for item in removed.tolist():  # one propagation per left-out item: a measurement
            users, items = model.forward(graph=graph_without(model, user, item))
            rows.append(items[: family.n_items] @ users[user])
        return torch.stack(rows)
    raise ServeError(
        f"No faithfulness check for {type(family.model).__name__} ({family.kind}): removing a "
        "history item from it would need retraining."
    )


@dataclass
class Faithfulness:
    """Mean score drop of the explained item when removing the top or a random history item."""

    users: int
    drop_top: float
    drop_random: float
    top_larger_share: float  # share of (user, item) cases where the top drop is larger


def faithfulness(rec, users: list[str], k: int = 10, seed: int = 2020) -> Faithfulness:
    """Over ``users`` (external ids, each with >= 2 training items), for their top-``k``."""
    rng = np.random.default_rng(seed)
    top_drops, random_drops, counted = [], [], 0
    for user_id in users:  # one explanation per user: the check, not a serving hot path
        user = int(rec.user_index([user_id])[0])
        history = rec.family.history_items(user)
        if len(history) < 2:
            continue
        items = rec.item_index(rec.recommend([user_id], k)["item"])
        hist, share = rec.family.contributions(user, items)
        share = share.cpu().numpy()
        top = hist[share.argmax(axis=0)]
        random = rng.choice(hist, size=len(items))
        full = rec.family.scores(torch.tensor([user]))[0, items]
        removed, where = np.unique(np.r_[top, random], return_inverse=True)
        without = scores_without(rec.family, user, removed)  # each left-out item scored once
        where = torch.as_tensor(where)
        without_top = without[where[: len(items)], items]
        without_random = without[where[len(items):], items]
        top_drops.append((full - without_top).cpu().numpy())
        random_drops.append((full - without_random).cpu().numpy())
        counted += 1
    if not counted:
        raise ServeError("No user with two or more training items to check explanations on.")
    top_all, random_all = np.concatenate(top_drops), np.concatenate(random_drops)
    return Faithfulness(counted, float(top_all.mean()), float(random_all.mean()),
                        float((top_all > random_all).mean()))
