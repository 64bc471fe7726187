"""Trainers: RecBole's, with safe checkpoints and run statistics mixed in.

:func:`with_safe_checkpoints` wraps whichever trainer RecBole would pick, so that

* checkpoints are written to a temp file and renamed (a crash never leaves a half-written one),
* the best-model reload works on torch >= 2.6 (``weights_only`` lifted for that one file only,
  see :func:`recbole_llmkg.compat.trusted_checkpoint`),
* the seconds of every training epoch and evaluation, and the best epoch, are recorded for the
  leaderboard.

Plugin models that need their own training loop define ``<Model>Trainer`` in
:mod:`recbole_llmkg.model.trainers`; :func:`recbole_llmkg.utils.get_trainer` finds it there.
"""

from __future__ import annotations

import os
import time
from functools import cache

import torch
from recbole.trainer import Trainer
from recbole.utils import set_color
from torch.nn.parallel import DistributedDataParallel

from recbole_llmkg.compat import trusted_checkpoint


class SafeCheckpointMixin:
    """Atomic checkpoint writes, torch>=2.6-safe reloads, and timing of epochs and evaluation."""

    def __init__(self, config, model):
        # RecBole wraps the model in DistributedDataParallel with device_ids=[local_rank], which
        # torch refuses for a CPU model; a multi-process CPU run is wrapped here without them.
        cpu_ddp = not config["single_spec"] and config["device"].type == "cpu"
        config["single_spec"] = config["single_spec"] or cpu_ddp
        try:
            super().__init__(config, model)
        finally:
            config["single_spec"] = config["single_spec"] and not cpu_ddp
        if cpu_ddp:
            self.distributed_model = DistributedDataParallel(self.model)
        if not config["single_spec"]:
            # every process names the checkpoint by its own clock; use rank 0's (the writer's)
            names = [self.saved_model_file]
            torch.distributed.broadcast_object_list(names, src=0)
            self.saved_model_file = names[0]
        self.epoch_seconds: list[float] = []
        self.eval_seconds: list[float] = []
        self.valid_scores: list[float] = []

    def _train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        start = time.perf_counter()
        loss = super()._train_epoch(train_data, epoch_idx, *args, **kwargs)
        self.epoch_seconds.append(time.perf_counter() - start)
        return loss

    def _valid_epoch(self, valid_data, *args, **kwargs):
        score, result = super()._valid_epoch(valid_data, *args, **kwargs)
        self.valid_scores.append(float(score))
        return score, result

    @property
    def best_epoch(self) -> int | None:
        """Epoch (0-based) of the best validation score, as RecBole's early stopping keeps it."""
        if not self.valid_scores:
            return None
        bigger = self.config["valid_metric_bigger"]
        best = max(self.valid_scores) if bigger else min(self.valid_scores)
        position = self.valid_scores.index(best)  # RecBole keeps the first of equal scores
        return (position + 1) * self.config["eval_step"] - 1

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        target = kwargs.pop("saved_model_file", self.saved_model_file)
        temp = f"{target}.tmp"
        try:
            super()._save_checkpoint(epoch, verbose=False, saved_model_file=temp, **kwargs)
        except BaseException:
            if os.path.exists(temp):
                os.remove(temp)
            raise
        if os.path.exists(temp):  # RecBole skips the write on non-zero ranks
            os.replace(temp, target)
            if verbose:
                self.logger.info(set_color("Saving current", "blue") + f": {target}")

    def resume_checkpoint(self, resume_file):
        with trusted_checkpoint(resume_file):
            super().resume_checkpoint(resume_file)

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        start = time.perf_counter()
        if not self.config["single_spec"] and load_best_model:
            torch.distributed.barrier()  # rank 0 has written the checkpoint the others read
        checkpoint = model_file or self.saved_model_file
        if load_best_model and eval_data and not os.path.isfile(checkpoint):
            raise FileNotFoundError(
                f"No checkpoint at '{checkpoint}' to reload the best model from: train with "
                "saved=True first, or evaluate with load_best_model=False."
            )
        with trusted_checkpoint(checkpoint):
            result = super().evaluate(eval_data, load_best_model, model_file, show_progress)
        self.eval_seconds.append(time.perf_counter() - start)
        return result


@cache
def with_safe_checkpoints(trainer_class: type) -> type:
    """``trainer_class`` with :class:`SafeCheckpointMixin` mixed in (same name, cached)."""
    if issubclass(trainer_class, SafeCheckpointMixin) or not issubclass(trainer_class, Trainer):
        return trainer_class
    return type(trainer_class.__name__, (SafeCheckpointMixin, trainer_class), {})
