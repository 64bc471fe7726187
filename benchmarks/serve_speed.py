"""Serving speed on ml-100k: warm single-user latency and all users to JSONL, per model; and
how faithful the explanations are (score drop when removing the top vs a random history item).

    PYTHONPATH=. python benchmarks/serve_speed.py [--models KASimCF LLMAugRec KGLLMGNN]
        [--workdir /tmp/serve_bench]

Trains each model once (few epochs, one thread; checkpoints listed in <workdir>/checkpoints.json
and reused on the next run). Targets: warm latency < 50 ms, all 943 users < 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["KASimCF", "LLMAugRec", "KGLLMGNN"])
    parser.add_argument("--workdir", default="/tmp/serve_bench")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--faithfulness-users", type=int, default=300)
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # RecBole's Config reads sys.argv for overrides

    import torch

    from benchmarks.serve_common import checkpoints
    from recbole_llmkg.errors import ServeError
    from recbole_llmkg.serve import Recommender
    from recbole_llmkg.serve.faithfulness import faithfulness
    from recbole_llmkg.serve.recommender import to_jsonl

    torch.set_num_threads(1)
    work = Path(args.workdir)
    paths = checkpoints(args.models, work / "checkpoints.json")
    print("| model | load s | first call ms | warm single-user ms (median) "
          "| all users to JSONL s |")
    print("|---|---|---|---|---|")
    faithful = []
    for model, path in paths.items():
        start = time.perf_counter()
        rec = Recommender.load(path)
        load = time.perf_counter() - start
        start = time.perf_counter()
        rec.recommend(["196"], k=10)
        first = time.perf_counter() - start
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            rec.recommend(["196"], k=10)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        out = work / f"{model}-all-users.jsonl"
        out.write_text(to_jsonl(rec.recommend(rec.all_user_ids, k=10)) + "\n")
        everyone = time.perf_counter() - start
        print(f"| {model} | {load:.1f} | {first * 1e3:.1f} | "
              f"{statistics.median(times) * 1e3:.2f} | {everyone:.2f} |", flush=True)
        try:
            result = faithfulness(rec, rec.all_user_ids[: args.faithfulness_users], k=10)
        except ServeError as error:
            faithful.append(f"| {model} | not checked: {error} | | | |")
            continue
        faithful.append(f"| {model} | {result.users} | {result.drop_top:.4f} | "
                        f"{result.drop_random:.4f} | {result.top_larger_share:.3f} |")
    print("\nExplanation faithfulness (top-10 of each user; score drop when the item is left out "
          "of the user's history):")
    print("| model | users | drop, top explaining item | drop, random history item "
          "| share of items where top > random |")
    print("|---|---|---|---|---|")
    print("\n".join(faithful))


if __name__ == "__main__":
    main()
