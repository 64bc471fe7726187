"""The validation curve that flags runs stopped at their epoch cap."""

from __future__ import annotations

from recbole_llmkg.benchmark.validation_curve import ValidationCurve


def test_curve_follows_recbole_early_stopping_and_flags_the_cap():
    curve = ValidationCurve()
    for epoch, score in enumerate([0.1, 0.3, 0.2, 0.3]):
        curve(epoch, score)
    assert curve.best_epoch == 3 and curve.best_score == 0.3  # a tie counts as improvement
    assert curve.scores == {0: 0.1, 1: 0.3, 2: 0.2, 3: 0.3}
    assert curve.at_cap(4) and curve.at_cap(40) is False
    assert ValidationCurve().at_cap(10) is False
    single = ValidationCurve()
    single(0, 0.5)
    assert single.at_cap(1) is False  # closed-form models run one epoch: never flagged
