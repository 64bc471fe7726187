"""Best valid NDCG@10 of one model on a board split, with config overrides (never reads test).

    python benchmarks/valid_run.py LLMAugRec results/ml-100k/data/ml-100k-standard-seed2020-<key> \
        text_rank=64 adapter_hidden_size=64

Trains with early stopping on valid (epochs 300, stopping_step 10, one torch thread) and prints
the best valid NDCG@10 and the wall time: the numbers of ``results/bench/text_rank.md``.
The split folder is one the board wrote (``results/<board>/data/``).
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    import torch

    torch.set_num_threads(1)
    from recbole_llmkg import Config
    from recbole_llmkg.benchmark.spec import parse_overrides
    from recbole_llmkg.quick_start import prepare

    model, split, *pairs = argv
    overrides = parse_overrides(f"--{pair}" for pair in pairs)  # typed as on the command line
    config = Config(model, "ml-100k", cmd_args=[], config_dict={
        "use_gpu": False, "seed": 2020, "state": "ERROR", "show_progress": False,
        "data_path": split, "benchmark_filename": ["train", "valid", "test"], "epochs": 300,
        "stopping_step": 10, "metrics": ["NDCG"], "topk": [10], "valid_metric": "NDCG@10",
        "eval_batch_size": 262144, "checkpoint_dir": "saved/valid_run", **overrides})
    parts = prepare(config)
    start = time.time()
    best, _ = parts.trainer.fit(parts.train_data, parts.valid_data, saved=False,
                                show_progress=False)
    print(f"{model} {overrides}: valid NDCG@10 {best:.4f}, wall {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
