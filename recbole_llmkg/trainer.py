"""Trainers: RecBole's, with the plugin's safe checkpoints and evaluation options mixed in.

:func:`plugin_trainer` wraps whichever trainer a model declares (``trainer_class``) or RecBole
would pick, so that

* every run writes its own checkpoint (unique name, created exclusively), atomically;
* the best-model reload fully unpickles only the file this trainer wrote; any other file (a
  ``model_file`` or ``resume_checkpoint`` path) goes through the safe loader of
  :mod:`recbole_llmkg.checkpoint`;
* beyond-accuracy metrics work (:class:`recbole_llmkg.compat.RepairedCollector`).

Trainers of plugin models live here too (:class:`KGJointOrAlternateTrainer`).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import torch
from recbole.trainer import KGTrainer, Trainer
from recbole.utils import KGDataLoaderState, set_color
from torch.nn.parallel import DistributedDataParallel

import recbole_llmkg
from recbole_llmkg import compat
from recbole_llmkg.checkpoint import (
    data_fingerprint,
    load_checkpoint,
    load_own_checkpoint,
    new_checkpoint_path,
)
from recbole_llmkg.compat import RepairedCollector
from recbole_llmkg.files import write_atomic
from recbole_llmkg.run_logs import relocate_tensorboard

compat.apply()  # host-stack fixes, before any RecBole code runs


class SafeCheckpointMixin:
    """A unique checkpoint per run, written atomically; only that file is trusted on reload.

    The name is reserved when training with ``saved=True`` starts (or at the first save), so a
    trainer built only to evaluate a given ``model_file`` creates no file.
    """

    def __init__(self, config, model):
        # RecBole makes checkpoint_dir with an exists-check then makedirs: two runs started
        # together race on it, so it is made here first.
        os.makedirs(config["checkpoint_dir"], exist_ok=True)
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
        self._data_fingerprint: dict[str, str] | None = None  # computed at the first save
        self._recbole_default_file = self.saved_model_file  # not unique: replaced when saving
        self._reserved_file: str | None = None
        self._written_files: set[str] = set()

    def _reserve_checkpoint(self) -> None:
        """Give this run its own checkpoint name (created exclusively) before the first save,
        unless the caller chose a file (``saved_model_file`` set, ``resume_checkpoint``)."""
        if self._reserved_file is None and self.saved_model_file == self._recbole_default_file:
            distributed = not self.config["single_spec"]
            writer = not distributed or self.config["local_rank"] == 0
            names = [new_checkpoint_path(self.checkpoint_dir, self.config["model"])
                     if writer else None]
            if distributed:  # rank 0 writes the checkpoint; every rank reads that one file
                torch.distributed.broadcast_object_list(names, src=0)
            self.saved_model_file = names[0]
            self._reserved_file = os.path.abspath(self.saved_model_file)

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return  # RecBole writes on rank 0 only
        if "saved_model_file" not in kwargs:
            self._reserve_checkpoint()
        target = kwargs.pop("saved_model_file", self.saved_model_file)
        state = self.checkpoint_state(epoch)
        write_atomic(target, lambda file: torch.save(state, file))
        self._written_files.add(os.path.abspath(target))
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {target}")

    def checkpoint_state(self, epoch: int) -> dict[str, Any]:
        """RecBole's checkpoint contents (as ``Trainer._save_checkpoint`` builds them).

        Saved with torch's default pickle protocol, not RecBole's 4: torch's weights-only loader
        cannot read protocol 4 (``FRAME`` opcodes), and that loader is how a checkpoint given by
        path is read safely.
        """
        if self._data_fingerprint is None:  # the files do not change during a run
            self._data_fingerprint = data_fingerprint(self.config)
        return {
            "config": self.config,
            "plugin_version": recbole_llmkg.__version__,
            "data_fingerprint": self._data_fingerprint,
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": self.best_valid_score,
            "state_dict": self.model.state_dict(),
            "other_parameter": self.model.other_parameter(),
            "optimizer": self.optimizer.state_dict(),
        }

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False,
            callback_fn=None):
        if saved:
            self._reserve_checkpoint()
        try:
            return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)
        finally:
            reserved = self._reserved_file
            if reserved is not None and reserved not in self._written_files:
                _remove_if_empty(reserved)  # nothing saved: give the name back

    def load_checkpoint_file(self, path: str | os.PathLike) -> dict[str, Any]:
        """The checkpoint at ``path``: fully unpickled if this trainer wrote it, else safely."""
        path = os.fspath(path)
        if os.path.abspath(path) in self._written_files:
            return load_own_checkpoint(path, map_location=self.device)
        never_saved = not os.path.isfile(path) or (
            os.path.abspath(path) == self._reserved_file and os.path.getsize(path) == 0)
        if never_saved:
            raise FileNotFoundError(
                f"No checkpoint at '{path}' to reload the best model from: train with "
                "saved=True first, or evaluate with load_best_model=False."
            )
        return load_checkpoint(path, map_location=self.device)

    def resume_checkpoint(self, resume_file):
        checkpoint = self.load_checkpoint_file(resume_file)
        self.saved_model_file = str(resume_file)
        self.start_epoch = checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        if checkpoint["config"]["model"].lower() != self.config["model"].lower():
            self.logger.warning(
                "Architecture configuration given in config file is different from that of "
                "checkpoint. This may yield an exception while state_dict is being loaded."
            )
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if not self.config["single_spec"] and load_best_model:
            torch.distributed.barrier()  # rank 0 has written the checkpoint the others read
        if load_best_model and eval_data:
            self.load_best_model(model_file)
        return super().evaluate(eval_data, False, model_file, show_progress)

    def load_best_model(self, model_file: str | None = None) -> str:
        """Put the weights of ``model_file`` (default: this run's best epoch) into the model;
        returns the file's path."""
        checkpoint_file = model_file or self.saved_model_file
        checkpoint = self.load_checkpoint_file(checkpoint_file)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.logger.info(f"Loading model structure and parameters from {checkpoint_file}")
        return checkpoint_file


def _remove_if_empty(path: str) -> None:
    try:
        if os.path.getsize(path) == 0:
            os.remove(path)
    except OSError:
        pass


class RepairedCollectorMixin:
    """Collects evaluation data with :class:`~recbole_llmkg.compat.RepairedCollector`."""

    def __init__(self, config, model):
        super().__init__(config, model)
        self.eval_collector = RepairedCollector(config)


class PluginTrainerMixin(SafeCheckpointMixin, RepairedCollectorMixin):
    """Everything the plugin adds to a RecBole trainer."""

    def __init__(self, config, model):
        super().__init__(config, model)
        # RecBole opens TensorBoard under the working directory: move it under the run's folder
        self.tensorboard = relocate_tensorboard(self.tensorboard, config)


@cache
def plugin_trainer(trainer_class: type) -> type:
    """``trainer_class`` with :class:`PluginTrainerMixin` mixed in (same name, cached)."""
    if issubclass(trainer_class, PluginTrainerMixin) or not issubclass(trainer_class, Trainer):
        return trainer_class
    return type(trainer_class.__name__, (PluginTrainerMixin, trainer_class), {})


class KGJointOrAlternateTrainer(KGTrainer):
    """KGTrainer driven by the model's ``kg_training`` key.

    * ``joint``: every step sees a recommendation batch merged with a KG batch (RecBole's
      ``RSKG`` loader state); the model adds ``kg_loss_weight`` x KG loss inside
      ``calculate_loss``.
    * ``alternate``: each epoch runs a recommendation pass (``RS``) and then a KG pass (``KG``)
      with ``model.calculate_kg_loss``, as KGAT does; the epoch loss is the pair
      ``(rec_loss, kg_loss)``.
    """

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if not self.config["single_spec"]:
            train_data.knowledge_shuffle(epoch_idx)
        if self.config["use_kg"] is False:  # the "KG off" ablation: recommendation batches only
            train_data.set_mode(KGDataLoaderState.RS)
            return super(KGTrainer, self)._train_epoch(
                train_data, epoch_idx, show_progress=show_progress
            )
        if self.config["kg_training"] != "alternate":
            train_data.set_mode(KGDataLoaderState.RSKG)
            return super(KGTrainer, self)._train_epoch(
                train_data, epoch_idx, show_progress=show_progress
            )
        train_data.set_mode(KGDataLoaderState.RS)
        rec_loss = super(KGTrainer, self)._train_epoch(
            train_data, epoch_idx, show_progress=show_progress
        )
        train_data.set_mode(KGDataLoaderState.KG)
        kg_loss = super(KGTrainer, self)._train_epoch(
            train_data, epoch_idx, loss_func=self.model.calculate_kg_loss,
            show_progress=show_progress,
        )
        return rec_loss, kg_loss
