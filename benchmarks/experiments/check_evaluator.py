"""Check that common.ndcg_per_user reproduces RecBole's valid/test NDCG@10 for EASE on the
board's split (seed 2020), so closed-form screening numbers are board numbers.

    PYTHONPATH=$PWD python benchmarks/experiments/check_evaluator.py

Result: the check stated at the top of results/explore/ml-100k.md (printed; no file).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402
from closed_forms import ease_scores  # noqa: E402
from recbole_llmkg.benchmark.seed_run import run_seed  # noqa: E402

from recbole_llmkg.benchmark.splits import write_standard_split  # noqa: E402

split = write_standard_split(common.SOURCE, "ml-100k", 2020, common.WORK / "splits")
cfg = {**split.config(), "metrics": ["NDCG"], "topk": [10], "valid_metric": "NDCG@10",
       "eval_batch_size": 262144, "show_progress": False, "reg_weight": 250.0}
rec = run_seed({"model": "EASE", "dataset": "ml-100k", "seed": 2020, "config": cfg})
print("RecBole EASE:", rec["status"], rec.get("error"), rec.get("valid_result"),
      rec.get("test_result"))
d = common.split(2020)
s = ease_scores(d.train, 250.0)
print("numpy EASE valid", common.valid_ndcg(s, d), "test", common.test_ndcg_per_user(s, d).mean())
