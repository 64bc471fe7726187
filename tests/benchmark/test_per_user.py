"""Per-user metrics: their mean is RecBole's aggregate; users keyed by external id; pairing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import build_run

from recbole_llmkg.benchmark.per_user import PerUserMetrics, per_user_metrics, topk_metrics
from recbole_llmkg.errors import ConfigError

METRICS = ["Recall", "MRR", "NDCG", "Hit", "Precision"]


@pytest.mark.parametrize("model", ["BPR", "EASE", "CKE"])
def test_mean_of_per_user_equals_recbole_evaluate(model, tmp_path):
    config, _, trainer, (train, valid, test) = build_run(
        model, tmp_path, metrics=METRICS, topk=[5, 10], metric_decimal_place=12)
    trainer.fit(train, valid, saved=True, show_progress=False)
    expected = trainer.evaluate(test, load_best_model=True)
    per_user = per_user_metrics(trainer, test, topk=[5, 10])
    means = per_user.mean()
    assert set(means) == set(expected)
    for name, value in expected.items():
        assert means[name] == pytest.approx(float(value), abs=1e-6), name
    dataset = test._dataset
    test_users = set(dataset.id2token(dataset.uid_field, dataset.inter_feat[dataset.uid_field]))
    assert set(per_user.users) == test_users and len(per_user.users) == len(test_users)


def test_topk_metrics_on_a_hand_computed_ranking():
    # user 0: hits at ranks 2 and 3 of 3 relevant; user 1: no hit in the list, 1 relevant
    pos_idx = torch.tensor([[0, 1, 1], [0, 0, 0]])
    pos_len = torch.tensor([3, 1])
    out = topk_metrics(pos_idx, pos_len, [2, 3])
    log2 = np.log2
    ndcg3 = (1 / log2(3) + 1 / log2(4)) / (1 + 1 / log2(3) + 1 / log2(4))
    assert out["ndcg@3"].tolist() == pytest.approx([ndcg3, 0.0])
    assert out["ndcg@2"].tolist() == pytest.approx([(1 / log2(3)) / (1 + 1 / log2(3)), 0.0])
    assert out["recall@3"].tolist() == pytest.approx([2 / 3, 0.0])
    assert out["mrr@2"].tolist() == pytest.approx([0.5, 0.0])
    assert out["hit@2"].tolist() == [1.0, 0.0]
    assert out["precision@3"].tolist() == pytest.approx([2 / 3, 0.0])


def test_paired_aligns_users_and_refuses_other_users():
    a = PerUserMetrics(np.array(["u1", "u2", "u3"], dtype=object),
                       {"ndcg@10": np.array([0.1, 0.2, 0.3])})
    b = PerUserMetrics(np.array(["u3", "u1", "u2"], dtype=object),
                       {"ndcg@10": np.array([0.9, 0.7, 0.8])})
    x, y = a.paired(b, "ndcg@10")
    assert x.tolist() == [0.1, 0.2, 0.3] and y.tolist() == [0.7, 0.8, 0.9]
    assert PerUserMetrics.from_dict(a.to_dict()).paired(a, "ndcg@10")[0].tolist() == x.tolist()
    c = PerUserMetrics(np.array(["u1", "u2", "u4"], dtype=object),
                       {"ndcg@10": np.zeros(3)})
    with pytest.raises(ConfigError, match="different users"):
        a.paired(c, "ndcg@10")
