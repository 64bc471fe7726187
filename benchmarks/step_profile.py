"""Where one training step of a model spends its time, on a board split, one torch thread.

    python benchmarks/step_profile.py RippleNet results/ml-100k/data/ml-100k-standard-seed2020-<key>
    python benchmarks/step_profile.py MCCLK <split folder> --steps 2 --top 10

Builds the model as the board does (``valid_run.validation_config``: the split files, RecBole's
defaults plus ``key=value`` overrides), takes the first training batch and profiles
``calculate_loss`` plus ``backward`` with cProfile: it prints the batch size, the batches per
epoch, the seconds per step and the functions with the most own time. The first step also pays
one-off costs (lazy imports, allocations); ``--steps 2`` profiles the second one. The numbers of
``results/explore/untuned_slow_models.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: import this checkout, not an installed copy
    sys.path.insert(0, str(REPO))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("split", help="a split folder the board wrote (results/<board>/data/...)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    parser.add_argument("--steps", type=int, default=1, help="profile the last of N steps")
    parser.add_argument("--top", type=int, default=8, help="functions to print")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")

    import torch

    torch.set_num_threads(1)
    from recbole.utils import KGDataLoaderState
    from valid_run import validation_config  # its sibling script (this folder is on sys.path)

    from recbole_llmkg.quick_start import build_model, prepare_data

    config, _ = validation_config(args.model, args.split, args.overrides,
                                  checkpoint_dir="/tmp/step_profile")
    _, train, _, _ = prepare_data(config)
    model = build_model(config, train)
    if hasattr(train, "set_mode"):  # knowledge loaders: the recommendation batches
        train.set_mode(KGDataLoaderState.RS)
    batches = iter(train)

    def step(batch: object) -> None:
        loss = model.calculate_loss(batch)
        (sum(loss) if isinstance(loss, tuple) else loss).backward()
        model.zero_grad(set_to_none=True)

    for _ in range(args.steps - 1):  # unprofiled warm-up steps
        step(next(batches))
    batch = next(batches)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(step, batch)
    seconds = time.perf_counter() - start
    print(f"{args.model}: batch {len(batch)}, {len(train)} batches/epoch, step {args.steps}: "
          f"{seconds:.2f} s")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
