"""Per-user ranking metrics of a trained model, so two runs on one split can be paired.

RecBole's evaluator only returns means. Significance tests need each user's value: this module
scores a full-ranking loader through the trainer's own batch evaluation (the same scores,
history masking and ``torch.topk`` as ``Trainer.evaluate``) and computes NDCG, Recall, MRR, Hit
and Precision at each cut-off with RecBole's definitions, vectorised over the batch. The mean of
each array equals RecBole's aggregate (before its rounding to ``metric_decimal_place``).
Users are keyed by their external id (the ``.inter`` token), which is stable across models and
dataset classes on one split, whereas internal ids are not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from recbole_llmkg.errors import ConfigError

METRICS = ("ndcg", "recall", "mrr", "hit", "precision")


@dataclass
class PerUserMetrics:
    """One value per user and metric; ``users[i]`` is the external id of row ``i``."""

    users: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def mean(self) -> dict[str, float]:
        """The aggregate RecBole reports: the mean over users of each metric."""
        return {name: float(v.mean()) for name, v in self.values.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"users": [...], "values": {metric: [...]}}``."""
        return {"users": [str(u) for u in self.users],
                "values": {k: v.tolist() for k, v in self.values.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerUserMetrics:
        return cls(np.asarray(data["users"], dtype=object),
                   {k: np.asarray(v, dtype=np.float64) for k, v in data["values"].items()})

    def paired(self, other: PerUserMetrics, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """``(self, other)`` values of ``metric`` over the same users in the same order.

        Raises when the user sets differ: runs on one split evaluate the same users.
        """
        for name, run in (("first", self), ("second", other)):
            if metric not in run.values:
                raise ConfigError(f"Per-user metric '{metric}' missing in the {name} run "
                                  f"(it has: {', '.join(sorted(run.values))}).")
        if set(self.users) != set(other.users) or len(self.users) != len(other.users):
            raise ConfigError(f"Per-user metrics cover different users ({len(self.users)} vs "
                              f"{len(other.users)}): the runs were not evaluated on one split.")
        order_a = np.argsort(self.users.astype(str), kind="stable")
        order_b = np.argsort(other.users.astype(str), kind="stable")
        return self.values[metric][order_a], other.values[metric][order_b]


def topk_metrics(pos_idx: torch.Tensor, pos_len: torch.Tensor, topk: Iterable[int],
                 metrics: Sequence[str] = METRICS) -> dict[str, torch.Tensor]:
    """Per-row metrics from RecBole's ``rec.topk`` data: hit flags of the ranked list
    ``pos_idx [B, K]`` and the number of relevant items ``pos_len [B]``."""
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ConfigError(f"Unknown per-user metric(s) {unknown}; supported: {', '.join(METRICS)}.")
    hits = pos_idx.double()
    pos_len = pos_len.double()
    width = hits.shape[1]
    ranks = torch.arange(1, width + 1, dtype=torch.float64, device=hits.device)
    discount = 1.0 / torch.log2(ranks + 1.0)
    dcg = torch.cumsum(hits * discount, dim=1)
    ideal = torch.cumsum(discount, dim=0)
    cum_hits = torch.cumsum(hits, dim=1)
    first = torch.where(hits > 0, ranks, torch.full_like(ranks, torch.inf)).min(dim=1).values
    out: dict[str, torch.Tensor] = {}
    for k in topk:
        if not 1 <= k <= width:
            raise ConfigError(f"topk {k} is outside 1..{width} (the ranked list length).")
        idcg = ideal[(torch.clamp(pos_len, max=k) - 1).long().clamp(min=0)]
        values = {
            "ndcg": dcg[:, k - 1] / idcg,
            "recall": cum_hits[:, k - 1] / pos_len,
            "mrr": torch.where(first <= k, 1.0 / first, torch.zeros_like(first)),
            "hit": (cum_hits[:, k - 1] > 0).double(),
            "precision": cum_hits[:, k - 1] / k,
        }
        out.update({f"{name}@{k}": values[name] for name in metrics})
    return out


def scored_batches(trainer: Any, eval_data: Any) -> Iterator[tuple[Any, torch.Tensor, Any, Any]]:
    """``(interaction, scores [users, items], positive_u, positive_i)`` per batch of a
    full-ranking loader, from ``trainer._full_sort_batch_eval``: RecBole's own scoring step, so
    training items are masked as ``Trainer.evaluate`` masks them."""
    from recbole.data.dataloader import FullSortEvalDataLoader

    if not isinstance(eval_data, FullSortEvalDataLoader):
        raise ConfigError("Per-user metrics need full ranking: set eval_args.mode to 'full' "
                          f"(got a {type(eval_data).__name__}).")
    dataset = eval_data._dataset
    trainer.model.eval()
    trainer.tot_item_num = dataset.item_num
    if trainer.item_tensor is None:
        trainer.item_tensor = dataset.get_item_feature().to(trainer.device)
    for batch in eval_data:
        yield trainer._full_sort_batch_eval(batch)


@torch.no_grad()
def per_user_metrics(trainer: Any, eval_data: Any, topk: Sequence[int] = (10,),
                     metrics: Sequence[str] = METRICS,
                     transform: Callable[[torch.Tensor], torch.Tensor] | None = None
                     ) -> PerUserMetrics:
    """Per-user metrics of ``trainer.model`` as it is now on a full-ranking loader.

    Call it after ``trainer.load_best_model()`` to score the best checkpoint. Batches go through
    ``trainer._full_sort_batch_eval``, RecBole's own scoring step, then ``transform`` (e.g. a
    candidate mask, :mod:`~recbole_llmkg.benchmark.ranking`).
    """
    dataset = eval_data._dataset
    width = max(topk)
    users, collected = [], []
    for interaction, scores, positive_u, positive_i in scored_batches(trainer, eval_data):
        if transform is not None:
            scores = transform(scores)
        _, topk_idx = torch.topk(scores, width, dim=-1)
        pos_matrix = torch.zeros_like(scores, dtype=torch.int)
        pos_matrix[positive_u, positive_i] = 1
        pos_idx = torch.gather(pos_matrix, dim=1, index=topk_idx)
        values = topk_metrics(pos_idx, pos_matrix.sum(dim=1), topk, metrics)
        collected.append({k: v.cpu().numpy() for k, v in values.items()})
        users.append(interaction[dataset.uid_field].cpu().numpy())
    internal = np.concatenate(users)
    external = np.asarray(dataset.id2token(dataset.uid_field, internal), dtype=object)
    return PerUserMetrics(
        external, {k: np.concatenate([c[k] for c in collected]) for k in collected[0]}
    )


@torch.no_grad()
def share_in_topk(trainer: Any, eval_data: Any, items: torch.Tensor, k: int) -> float:
    """Mean over users of the share of their top-``k`` (ranked the way the trainer evaluates,
    training items masked) that are among ``items``: e.g. how often a cold item makes a top-10
    when every item competes."""
    wanted = torch.zeros(eval_data._dataset.item_num, dtype=torch.bool)
    wanted[torch.as_tensor(items, dtype=torch.long)] = True
    shares = []
    for _, scores, _, _ in scored_batches(trainer, eval_data):
        top = torch.topk(scores, k, dim=-1).indices.cpu()
        shares.append(wanted[top].double().mean(dim=1))
    return float(torch.cat(shares).mean()) if shares else float("nan")
