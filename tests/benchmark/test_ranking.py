"""The benchmark's own test evaluation: RecBole's numbers unmasked, candidates only when masked."""

from __future__ import annotations

import torch
from recbole.data import data_preparation
from recbole.model.general_recommender import BPR
from recbole.utils import init_seed

from recbole_llmkg import Config, create_dataset, trainer_for
from recbole_llmkg.benchmark.per_user import per_user_metrics
from recbole_llmkg.benchmark.ranking import CandidateMask, evaluate_ranking, mask_to_candidates
from recbole_llmkg.trainer import PluginTrainerMixin


def test_candidate_mask_blocks_others_and_breaks_only_ties():
    raw = torch.tensor([[0.5, 3.0, 1.0, 1.0 + 2**-20, 7.0, 2.0], [0.0] * 6])
    candidates = torch.tensor([1, 2, 3, 5])
    scores = mask_to_candidates(raw.clone(), candidates, torch.Generator().manual_seed(0))
    blocked = torch.tensor([0, 4])
    assert torch.isinf(scores[:, blocked]).all() and (scores[:, blocked] < 0).all()
    # distinct scores keep their order, even one float32 step apart
    assert scores[0, [1, 5, 3, 2]].argsort(descending=True).tolist() == [0, 1, 2, 3]
    # tied scores are made distinct, reproducibly for the same seed
    assert len(set(scores[1, candidates].tolist())) == 4
    again = mask_to_candidates(raw.clone(), candidates, torch.Generator().manual_seed(0))
    assert torch.equal(again, scores)
    # scores RecBole already masked (-inf: history, padding) stay masked, never NaN
    masked = raw.clone()
    masked[0, 1] = -torch.inf
    out = mask_to_candidates(masked, candidates, torch.Generator().manual_seed(0))
    assert out[0, 1] == -torch.inf and not torch.isnan(out).any()
    # each scorer starts its own tie generator: two passes break ties alike
    mask = CandidateMask(candidates, seed=3)
    assert torch.equal(mask.scorer()(raw.clone()), mask.scorer()(raw.clone()))


def test_core_trainers_carry_no_candidate_mask():
    trainer_class = trainer_for(BPR)
    assert issubclass(trainer_class, PluginTrainerMixin)
    assert not hasattr(trainer_class, "restrict_candidates")


def test_evaluation_equals_recbole_unmasked_and_ranks_only_candidates_masked(tiny_config):
    config = Config("BPR", "tiny", config_dict=tiny_config(metrics=["Hit", "NDCG"], topk=[1, 5],
                                                           valid_metric="Hit@1"), cmd_args=[])
    init_seed(config["seed"], config["reproducibility"])
    train, valid, test = data_preparation(config, create_dataset(config))
    trainer = trainer_for(BPR)(config, BPR(config, train._dataset))
    trainer.eval_collector.data_collect(train)
    recbole = trainer.evaluate(test, load_best_model=False)
    assert evaluate_ranking(trainer, test) == {k: float(v) for k, v in recbole.items()}
    items = test._dataset.inter_feat[config["ITEM_ID_FIELD"]]
    positive = int(items.mode().values)  # the item most test users have
    unseen = next(i for i in range(1, train._dataset.item_num) if i not in set(items.tolist()))
    # one candidate: every user's top-1 is that item, whatever the (untrained) model scores
    only_positive = CandidateMask([positive], seed=0)
    assert evaluate_ranking(trainer, test, only_positive.scorer())["hit@1"] > 0
    per_user = per_user_metrics(trainer, test, topk=[1], transform=only_positive.scorer())
    assert per_user.values["hit@1"].mean() > 0
    assert evaluate_ranking(trainer, test, CandidateMask([unseen]).scorer())["hit@1"] == 0
    assert trainer.evaluate(test, load_best_model=False) == recbole  # the trainer is untouched
