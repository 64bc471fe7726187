"""Cold-item quality on validation only: a pseudo-cold split cut from a board split's train part.

    python benchmarks/cold_valid.py LLMAugRec [key=value ...] [--split DIR] [--fraction 0.1]

The board's cold_item protocol has no cold item in valid, so nothing about cold items can be
chosen there without reading test. This script takes the board's cold_item split (seed 2020 by
default), **drops its test file**, and holds out a seeded ``--fraction`` of the items that
appear in its train part: all their train and valid rows become the pseudo-cold targets; the
model trains on the rest and early-stops on the remaining (warm) valid rows. It then reports,
as the board does for cold_item: NDCG@10 ranking only the pseudo-cold items (``candidates:
cold``), and ``cold_share@10``, the share of top-10 slots pseudo-cold items take when every item
competes. One torch thread; the split is written under a fresh temporary folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

BOARD_DATA = Path("results/ml-100k/data")


def pseudo_cold_split(split: Path, out: Path, fraction: float, seed: int) -> list[str]:
    """Write the pseudo-cold split of ``split`` (a board split folder) under ``out``; return the
    pseudo-cold item tokens. The original test file is never read."""
    import numpy as np
    import pandas as pd

    (source,) = [p for p in split.iterdir() if p.is_dir()]
    name = source.name
    target = out / name
    target.mkdir(parents=True)
    read = {part: pd.read_csv(source / f"{name}.{part}.inter", sep="\t", dtype=str)
            for part in ("train", "valid")}
    item = read["train"].columns[1]
    items = np.sort(read["train"][item].unique())
    rng = np.random.default_rng(seed)
    cold = set(rng.choice(items, size=max(1, int(round(fraction * len(items)))), replace=False))
    parts = {
        "train": read["train"][~read["train"][item].isin(cold)],
        "valid": read["valid"][~read["valid"][item].isin(cold)],
        "test": pd.concat([frame[frame[item].isin(cold)] for frame in read.values()]),
    }
    for part, frame in parts.items():
        frame.to_csv(target / f"{name}.{part}.inter", sep="\t", index=False)
    # the whole-data file RecBole's checks expect: this split's rows only, no real test row
    pd.concat(parts.values()).to_csv(target / f"{name}.inter", sep="\t", index=False)
    for side in source.iterdir():  # .item, .user, .kg, .link: every model reads them whole
        if side.suffix in (".item", ".user", ".kg", ".link"):
            shutil.copy(side, target / side.name)
    return sorted(cold)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    parser.add_argument("--split", type=Path, help="board cold_item split folder (default: "
                        "results/ml-100k/data/ml-100k-cold_item0.1-seed2020-*)")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args(argv)
    split = args.split or sorted(BOARD_DATA.glob(f"ml-100k-cold_item0.1-seed{args.seed}-*"))[0]

    import torch

    torch.set_num_threads(1)
    from valid_run import validation_config  # its sibling script (this folder is on sys.path)

    from recbole_llmkg.benchmark.per_user import share_in_topk
    from recbole_llmkg.benchmark.ranking import CandidateMask, evaluate_ranking
    from recbole_llmkg.quick_start import prepare

    with tempfile.TemporaryDirectory() as work:
        cold = pseudo_cold_split(split, Path(work), args.fraction, args.seed)
        config, overrides = validation_config(args.model, work, args.overrides, args.seed,
                                              str(Path(work) / "saved"))
        parts = prepare(config)
        start = time.time()
        parts.trainer.fit(parts.train_data, parts.valid_data, saved=True, show_progress=False)
        dataset = parts.test_data._dataset
        ids = torch.as_tensor(dataset.token2id(dataset.iid_field, cold), dtype=torch.long)
        parts.trainer.load_best_model()
        result = evaluate_ranking(parts.trainer, parts.test_data,
                                  CandidateMask(ids, seed=args.seed).scorer())
        share = share_in_topk(parts.trainer, parts.test_data, ids, 10)
    print(f"{args.model} {overrides}: pseudo-cold NDCG@10 {result['ndcg@10']:.4f} (candidates: "
          f"{len(cold)} pseudo-cold items), cold_share@10 {share:.3f}, "
          f"wall {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
