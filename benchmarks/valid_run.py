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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: import this checkout, not an installed copy
    sys.path.insert(0, str(REPO))


def validation_config(model: str, data_path: str, pairs: Iterable[str], seed: int = 2020,
                      checkpoint_dir: str = "saved/valid_run") -> tuple[Any, dict[str, Any]]:
    """The config of a validation run on the split files under ``data_path`` (early stopping on
    valid NDCG@10, epochs 300, stopping_step 10) with ``key=value`` overrides typed as on the
    command line; returns ``(config, overrides)``. Shared with ``cold_valid.py``."""
    from recbole_llmkg import Config
    from recbole_llmkg.benchmark.spec import parse_overrides

    overrides = parse_overrides(f"--{pair}" for pair in pairs)
    config = Config(model, "ml-100k", cmd_args=[], config_dict={
        "use_gpu": False, "seed": seed, "state": "ERROR", "show_progress": False,
        "data_path": data_path, "benchmark_filename": ["train", "valid", "test"], "epochs": 300,
        "stopping_step": 10, "metrics": ["NDCG"], "topk": [10], "valid_metric": "NDCG@10",
        "eval_batch_size": 262144, "checkpoint_dir": checkpoint_dir, **overrides})
    return config, overrides


def main(argv: list[str]) -> int:
    import torch

    torch.set_num_threads(1)
    from recbole_llmkg.quick_start import prepare

    model, split, *pairs = argv
    config, overrides = validation_config(model, split, pairs)
    parts = prepare(config)
    start = time.time()
    best, _ = parts.trainer.fit(parts.train_data, parts.valid_data, saved=False,
                                show_progress=False)
    print(f"{model} {overrides}: valid NDCG@10 {best:.4f}, wall {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
