"""End-to-end check in RecBole: the plugin's own KASimCF (closed_form) on the board split, with
the bundled .link vs the relinked one (same .inter, so the same split fingerprint).
Valid NDCG@10 only, seed 2020 (and more seeds as arguments).

    PYTHONPATH=$PWD python benchmarks/experiments/kasimcf_relinked.py [seed ...]

Prints results/explore/kasimcf_relinked_valid.txt (cited in results/explore/ml-100k.md, section 2).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402
from recbole_llmkg.benchmark.seed_run import run_seed  # noqa: E402

from recbole_llmkg.benchmark.splits import write_standard_split  # noqa: E402

RELINKED = Path(__file__).resolve().parents[2] / "datasets" / "corrections" / "ml-100k.link"
PARAMS = {"sim_mode": "closed_form", "reg_weight": 300.0, "pop_reg_weight": 0.5,
          "text_weight": 10.0, "knowledge_weight": 100.0}


def relinked_source() -> Path:
    """A copy of the bundled dataset folder whose .link is the relinked one (links elsewhere)."""
    folder = common.WORK / "source-relinked" / "ml-100k"
    folder.mkdir(parents=True, exist_ok=True)
    for ext in ("inter", "item", "user", "kg"):
        target = folder / f"ml-100k.{ext}"
        if not target.exists():
            target.symlink_to(common.SOURCE / f"ml-100k.{ext}")
    link = folder / "ml-100k.link"
    if not link.exists():
        link.symlink_to(RELINKED)
    return folder


def main() -> None:
    seeds = [int(s) for s in sys.argv[1:]] or [2020]
    sources = {"bundled .link": common.SOURCE, "relinked .link": relinked_source()}
    print("| KASimCF closed_form " + str(PARAMS) + " | seed | valid NDCG@10 | split |")
    print("|---|---|---|---|")
    for seed in seeds:
        for name, source in sources.items():
            root = common.WORK / ("splits" if name.startswith("bundled") else "splits-relinked")
            split = write_standard_split(source, "ml-100k", seed, root)
            cfg = {**split.config(), **PARAMS, "metrics": ["NDCG"], "topk": [10],
                   "valid_metric": "NDCG@10", "eval_batch_size": 262144,
                   "show_progress": False}
            for view in ("knowledge only", "text + knowledge"):
                run_cfg = dict(cfg, text_weight=0.0) if view == "knowledge only" else cfg
                rec = run_seed({"model": "KASimCF", "dataset": "ml-100k", "seed": seed,
                                "config": run_cfg})
                value = rec["valid_result"]["ndcg@10"] if rec["status"] == "ok" else rec["error"]
                print(f"| {name}, {view} | {seed} | {value} | {split.fingerprint[:12]} |",
                      flush=True)


if __name__ == "__main__":
    main()
