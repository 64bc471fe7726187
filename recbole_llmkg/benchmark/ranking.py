"""Full-ranking test evaluation run by the benchmark itself, optionally over candidate items.

A protocol may rank only some items at test (``cold_item`` with ``candidates: cold``). Rather
than patch the trainer, the benchmark runs the evaluation loop of RecBole's
``Trainer.evaluate`` itself: the trainer's scoring step (``_full_sort_batch_eval``: the model's
scores with the user's history masked), then the candidate mask on those scores, then the
trainer's own ``eval_collector`` and ``evaluator``. With no mask the numbers are those of
``trainer.evaluate`` (the same steps in the same order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from recbole_llmkg.benchmark.per_user import scored_batches

ScoreTransform = Callable[[torch.Tensor], torch.Tensor]


class CandidateMask:
    """Full ranking over a subset of items: the others are scored -inf, ties broken at random.

    Ties matter: a model that gives every candidate the same score (Pop, ItemKNN, EASE have no
    signal for unseen items) would otherwise be ranked by ``torch.topk``'s tie order, i.e.
    RecBole's internal item ids, which follow first appearance in the ``.inter`` file and so
    correlate with popularity. Scores become float64 plus a seeded relative jitter below 1/8 of
    a float32 step, which reorders tied scores only.
    """

    def __init__(self, items: Any, seed: int = 0) -> None:
        self.items = torch.as_tensor(items, dtype=torch.long).reshape(-1)
        self.seed = seed

    def scorer(self) -> ScoreTransform:
        """A score transform with a fresh tie generator: two passes over the same loader (the
        metrics, then the per-user values) break ties the same way."""
        generator = torch.Generator().manual_seed(self.seed)
        return lambda scores: mask_to_candidates(scores, self.items, generator)


def mask_to_candidates(
    scores: torch.Tensor, candidates: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """``scores`` [users, items] in float64, tie-breaking jitter added, -inf off ``candidates``."""
    scores = scores.double()
    jitter = torch.rand(scores.shape, generator=generator, dtype=torch.float64).to(scores.device)
    finite = torch.isfinite(scores)
    scores = torch.where(finite, scores + jitter * (scores.abs() * 2.0**-26 + 2.0**-80), scores)
    blocked = torch.ones(scores.shape[1], dtype=torch.bool, device=scores.device)
    blocked[candidates.to(scores.device)] = False
    scores[:, blocked] = -torch.inf
    return scores


@torch.no_grad()
def evaluate_ranking(trainer: Any, eval_data: Any,
                     transform: ScoreTransform | None = None) -> dict[str, float]:
    """RecBole's metrics of ``trainer.model`` as it is now on a full-ranking loader, with
    ``transform`` (e.g. :meth:`CandidateMask.scorer`) applied to each batch's scores.

    Load the checkpoint to test first (``trainer.load_best_model()``).
    """
    collector = trainer.eval_collector
    for interaction, scores, positive_u, positive_i in scored_batches(trainer, eval_data):
        if transform is not None:
            scores = transform(scores)
        collector.eval_batch_collect(scores, interaction, positive_u, positive_i)
    collector.model_collect(trainer.model)
    result = trainer.evaluator.evaluate(collector.get_data_struct())
    return {str(key): float(value) for key, value in result.items()}
