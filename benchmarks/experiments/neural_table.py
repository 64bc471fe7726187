"""Table of the neural runs in results/explore/neural/: valid NDCG@10 per variant over the
seeds each has, and paired tests against LightGCN on the seeds both have.

    PYTHONPATH=$PWD python benchmarks/experiments/neural_table.py [--test VARIANT ...]

``--test``: also the test NDCG@10 of the named finalists (chosen on valid) against LightGCN.

Prints results/explore/neural_valid.txt from results/explore/neural/ (cited in
results/explore/ml-100k.md, section 3).
"""

import json
import sys
from pathlib import Path

import numpy as np

from recbole_llmkg.benchmark.significance import paired_t_p, wilcoxon_p

FOLDER = Path(__file__).resolve().parents[2] / "results" / "explore" / "neural"


def main() -> None:
    runs: dict[str, dict[int, dict]] = {}
    for path in sorted(FOLDER.glob("*.json")):
        rec = json.loads(path.read_text())
        runs.setdefault(rec["variant"], {})[rec["seed"]] = rec
    ref = runs.get("lightgcn", {})
    print("| variant | seeds | valid NDCG@10 | vs LightGCN (same seeds) | p users / seeds | "
          "best epochs | s per run |\n|---|---|---|---|---|---|---|")
    for variant, by_seed in runs.items():
        seeds = sorted(by_seed)
        means = [by_seed[s]["valid_ndcg10"] for s in seeds]
        shared = [s for s in seeds if s in ref]
        cmp = ""
        if shared and variant != "lightgcn":
            a = [by_seed[s]["valid_ndcg10"] for s in shared]
            b = [ref[s]["valid_ndcg10"] for s in shared]
            pu = wilcoxon_p(np.concatenate([by_seed[s]["per_user_valid"] for s in shared]),
                            np.concatenate([ref[s]["per_user_valid"] for s in shared]))
            cmp = (f"{100 * (np.mean(a) / np.mean(b) - 1):+.2f}% ({len(shared)}) | "
                   f"{pu:.2g} / {paired_t_p(a, b):.2g}")
        else:
            cmp = " | "
        sd = f" ± {np.std(means, ddof=1):.4f}" if len(means) > 1 else ""
        print(f"| {variant} | {','.join(map(str, seeds))} | {np.mean(means):.4f}{sd} | {cmp} | "
              f"{'/'.join(str(by_seed[s]['best_epoch']) for s in seeds)} | "
              f"{np.mean([by_seed[s]['seconds'] for s in seeds]):.0f} |")
    if "--test" in sys.argv:
        print("\n| finalist | seeds | test NDCG@10 | vs LightGCN | p users / seeds |"
              "\n|---|---|---|---|---|")
        for variant in sys.argv[sys.argv.index("--test") + 1:]:
            by_seed = runs[variant]
            shared = sorted(s for s in by_seed if s in ref)
            a = [float(np.mean(by_seed[s]["per_user_test"])) for s in shared]
            b = [float(np.mean(ref[s]["per_user_test"])) for s in shared]
            pu = wilcoxon_p(np.concatenate([by_seed[s]["per_user_test"] for s in shared]),
                            np.concatenate([ref[s]["per_user_test"] for s in shared]))
            print(f"| {variant} | {len(shared)} | {np.mean(a):.4f} (LightGCN {np.mean(b):.4f}) | "
                  f"{100 * (np.mean(a) / np.mean(b) - 1):+.2f}% | {pu:.2g} / "
                  f"{paired_t_p(a, b):.2g} |")


if __name__ == "__main__":
    main()
