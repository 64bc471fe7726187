"""Two CPU processes of data-parallel training (gloo) against one process.

What must hold exactly (up to float rounding): DistributedDataParallel keeps the two replicas
identical (gradients are all-reduced), and the distributed evaluation (each process ranks half
the users, metrics averaged weighted by users) equals evaluating the same model in one process.
What cannot hold bit for bit: training itself. With ``train_batch_size`` above the training set
each epoch is one step in both runs, on the same interactions and the same global batch, but each
process draws its own negative items (RecBole seeds process r with ``seed + r``), so the two runs
see different negatives; the metrics then agree only within sampling noise (stated below).
"""

from __future__ import annotations

import hashlib

import torch
import torch.multiprocessing as mp

from recbole_llmkg.distributed import free_port, rank_config_dict, run_rank

#: tiny's test NDCG@10 moves by up to ~0.05 between negative-sampling seeds (50 users)
TRAINING_TOLERANCE = 0.06
#: per-process metrics are rounded to metric_decimal_place (6) before they are averaged
EVALUATION_TOLERANCE = 1e-5


def base_config(tmp: str) -> dict:
    return {
        "epochs": 2, "use_gpu": False, "device": "cpu", "state": "ERROR",
        "checkpoint_dir": f"{tmp}/saved", "show_progress": False, "metric_decimal_place": 6,
        "train_batch_size": 4096, "adapter_dropout": 0.0, "id_dropout": 0.0,
        "eval_batch_size": 4096,
    }


def _rank(rank: int, queue, config_dict: dict) -> None:
    torch.set_num_threads(1)
    parts, result = run_rank(rank, "LLMAugRec", "tiny", None, config_dict, saved=True)
    # a digest, not the tensor: the queue's pipe is read only after both processes end
    params = torch.cat([p.detach().flatten() for p in parts.model.parameters()]).numpy()
    params = hashlib.sha256(params.tobytes()).hexdigest()
    queue.put((rank, result["test_result"], params, parts.trainer.saved_model_file))


def test_two_cpu_processes_train_in_sync_and_match_one_process(tmp_path):
    from conftest import build_run  # not at module level: the spawned processes import this file

    from recbole_llmkg import run_recbole_llmkg

    config = rank_config_dict(0, base_config(str(tmp_path)), nproc=2, port=free_port())
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_rank, args=(queue, config), nprocs=2, join=True)
    ranks = dict((r, rest) for r, *rest in (queue.get(), queue.get()))
    (metrics, params0, checkpoint), (metrics1, params1, _) = ranks[0], ranks[1]
    assert params0 == params1  # the replicas never diverged (same bytes)
    assert metrics == metrics1  # every process returns the reduced metrics

    # the distributed evaluation equals one process evaluating the same checkpoint
    _, _, trainer, (_, _, test_data) = build_run("LLMAugRec", tmp_path,
                                                 **base_config(str(tmp_path)))
    reloaded = trainer.evaluate(test_data, load_best_model=True, model_file=checkpoint)
    for key, value in metrics.items():
        assert abs(reloaded[key] - value) <= EVALUATION_TOLERANCE, key

    # one process with the same global batch trains to the same quality within sampling noise
    alone = run_recbole_llmkg("LLMAugRec", "tiny", config_dict=base_config(str(tmp_path)),
                              cmd_args=[], saved=False)["test_result"]
    assert abs(alone["ndcg@10"] - metrics["ndcg@10"]) <= TRAINING_TOLERANCE
    assert metrics["ndcg@10"] > 0


def test_nccl_on_cpu_is_refused_with_the_fix(tmp_path):
    import pytest

    from recbole_llmkg import Config
    from recbole_llmkg.errors import ConfigError

    config = rank_config_dict(0, {**base_config(str(tmp_path)), "ddp_backend": "nccl"}, 2,
                              port=free_port())
    with pytest.raises(ConfigError, match="ddp_backend: gloo"):
        Config("LLMAugRec", "tiny", config_dict=config, cmd_args=[])
