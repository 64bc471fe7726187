"""The validation score of every epoch of a run, and whether its best epoch hit the cap.

Tuning trials and seed runs both pass it to ``Trainer.fit(callback_fn=...)``, so the best epoch
and the "at cap" flag on the board mean the same thing for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CAP_SHARE = 0.9  # a best epoch at or beyond this share of `epochs` is flagged "at cap"


@dataclass
class ValidationCurve:
    """The valid score after every evaluation, kept by ``Trainer.fit(callback_fn=...)``.

    The best epoch follows RecBole's early stopping, which also takes a tie as an improvement
    (so it is the epoch whose checkpoint ``fit`` keeps); ``bigger`` is the config's
    ``valid_metric_bigger``.
    """

    scores: dict[int, float] = field(default_factory=dict)
    bigger: bool = True
    best_score: float | None = None
    best_epoch: int | None = None

    def __call__(self, epoch: int, score: float) -> None:
        score = float(score)
        self.scores[int(epoch)] = score
        best = self.best_score
        if best is None or (score >= best if self.bigger else score <= best):
            self.best_score, self.best_epoch = score, int(epoch)

    def at_cap(self, epochs: int) -> bool:
        """Best epoch within the last 10% of ``epochs``: the run may have been cut short."""
        return bool(epochs > 1 and self.best_epoch is not None
                    and self.best_epoch + 1 >= CAP_SHARE * epochs)
