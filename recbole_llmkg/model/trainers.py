"""Trainers for plugin models that need more than RecBole's default loop.

``recbole_llmkg.trainer`` exposes these under ``<Model>Trainer`` names; the plugin's
``get_trainer`` then picks them (with safe checkpoints mixed in).
"""

from __future__ import annotations

from recbole.trainer import KGTrainer
from recbole.utils import KGDataLoaderState


class KGLLMGNNTrainer(KGTrainer):
    """KGTrainer driven by the model's ``kg_training`` key.

    * ``joint``: every step sees a recommendation batch merged with a KG batch (RecBole's
      ``RSKG`` loader state); the model adds ``kg_loss_weight`` x KG loss inside
      ``calculate_loss``.
    * ``alternate``: each epoch runs a recommendation pass (``RS``) and then a KG pass (``KG``)
      with ``model.calculate_kg_loss``, as KGAT does; the epoch loss is the pair
      ``(rec_loss, kg_loss)``.
    """

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if self.config["kg_training"] != "alternate":
            if not self.config["single_spec"]:
                train_data.knowledge_shuffle(epoch_idx)
            train_data.set_mode(KGDataLoaderState.RSKG)
            return super(KGTrainer, self)._train_epoch(
                train_data, epoch_idx, show_progress=show_progress
            )
        if not self.config["single_spec"]:
            train_data.knowledge_shuffle(epoch_idx)
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
