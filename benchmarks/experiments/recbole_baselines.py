"""RecBole's own baselines on the board split with RecBole defaults, no epoch cap that binds
(epochs 500, early stopping on valid NDCG@10 after 10 evaluations without gain). Valid only.

    PYTHONPATH=$PWD python benchmarks/experiments/recbole_baselines.py BPR [LightGCN ...]

Prints the RecBole BPR row of results/explore/ml-100k.md, section 3.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402
from recbole_llmkg.benchmark.seed_run import run_seed  # noqa: E402

from recbole_llmkg.benchmark.splits import write_standard_split  # noqa: E402


def main() -> None:
    split = write_standard_split(common.SOURCE, "ml-100k", 2020, common.WORK / "splits")
    cfg = {**split.config(), "metrics": ["NDCG"], "topk": [10], "valid_metric": "NDCG@10",
           "eval_batch_size": 262144, "show_progress": False, "epochs": 500,
           "stopping_step": 10}
    print("| RecBole model (defaults) | seed | valid NDCG@10 | best epoch | s |")
    print("|---|---|---|---|---|")
    for model in sys.argv[1:]:
        rec = run_seed({"model": model, "dataset": "ml-100k", "seed": 2020, "config": cfg})
        value = rec["best_valid_score"] if rec["status"] == "ok" else rec["error"]
        print(f"| {model} | 2020 | {value} | {rec.get('best_epoch')} | {rec['seconds']:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
