"""What one board run of a model costs on a dataset's seed-2020 standard split, one torch thread.

    python benchmarks/run_cost.py EASE                      # ml-1m, the board's split
    python benchmarks/run_cost.py BPR --epochs 1 -d ml-1m
    python benchmarks/run_cost.py KASimCF text_weight=0.5   # key=value config overrides

Writes (or reuses) the split the board would write (``results/<dataset>/data/``, the same
content-addressed folder), then times, in this process: building the datasets and loaders,
building the model (EASE, ItemKNN and SLIMElastic fit here; text models embed their texts,
cached after the first run), ``--epochs`` training epochs (with more than one, the first is
not counted: it pays one-off costs; ``--batches K``: the first K batches of each, scaled to the
epoch's batch count, for models whose epoch would not fit a short measurement; one-off costs
per epoch are scaled too, so this errs high), and one full-ranking evaluation of the
validation part (``eval_batch_size`` 262144 as on the boards). Prints wall and CPU seconds of
each: the numbers of ``results/ml-1m/cost.md``, where a whole run is estimated as
``start-up + build + init + epochs x (epoch + eval) + 2 x eval``. Run one model per process;
compare one sitting only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class _FirstBatches:
    """A training loader cut to its first ``k`` batches (everything else delegated)."""

    def __init__(self, loader, k: int) -> None:
        self._loader, self._k = loader, k

    def __iter__(self):
        return itertools.islice(iter(self._loader), self._k)

    def __len__(self) -> int:
        return min(self._k, len(self._loader))

    def __getattr__(self, name: str):
        return getattr(self._loader, name)


class _Clock:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    def __call__(self, name: str, fn, *args, **kwargs):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        self.times.setdefault(name, []).append(time.perf_counter() - start)
        self.times.setdefault(f"{name}_cpu", []).append(time.process_time() - start_cpu)
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    parser.add_argument("-d", "--dataset", default="ml-1m")
    parser.add_argument("--epochs", type=int, default=1, help="timed training epochs")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--batches", type=int, default=None,
                        help="time the first K batches of each epoch and scale to the epoch")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from recbole.utils import init_seed

    from recbole_llmkg import Config
    from recbole_llmkg.benchmark.spec import parse_overrides
    from recbole_llmkg.benchmark.splits import write_standard_split
    from recbole_llmkg.quick_start import build_model, prepare_data, trainer_for

    clock = _Clock()
    base = Config("Pop", args.dataset, cmd_args=[], config_dict={"state": "ERROR"})
    split = clock("split", write_standard_split, base["data_path"], args.dataset, args.seed,
                  ROOT / "results" / args.dataset / "data")
    overrides = parse_overrides(f"--{pair}" for pair in args.overrides)
    config = Config(args.model, args.dataset, cmd_args=[], config_dict={
        "use_gpu": False, "seed": args.seed, "state": "ERROR", "show_progress": False,
        "data_path": str(split.data_path), "benchmark_filename": ["train", "valid", "test"],
        "metrics": ["NDCG"], "topk": [10], "valid_metric": "NDCG@10",
        "eval_batch_size": 262144, "checkpoint_dir": "/tmp/run_cost_saved", **overrides})
    init_seed(config["seed"], config["reproducibility"])
    _, train, valid, _ = clock("build", prepare_data, config)
    init_seed(config["seed"], config["reproducibility"])
    model = clock("init", build_model, config, train)
    trainer = trainer_for(config.model_class)(config, model)
    loader = train if args.batches is None else _FirstBatches(train, args.batches)
    for epoch in range(args.epochs):
        model.train()
        clock("epoch", trainer._train_epoch, loader, epoch)
    scale = len(train) / len(loader)
    clock.times["epoch"] = [t * scale for t in clock.times["epoch"]]
    clock.times["epoch_cpu"] = [t * scale for t in clock.times["epoch_cpu"]]
    result = clock("eval", trainer.evaluate, valid, load_best_model=False)
    if args.epochs > 1:  # the first epoch also pays one-off costs (lazy set-up, allocations)
        for name in ("epoch", "epoch_cpu"):
            clock.times[name] = clock.times[name][1:]
    out = {"model": args.model, "overrides": overrides, "dataset": args.dataset,
           "train_interactions": len(train._dataset), "batches_per_epoch": len(train),
           "batches_timed": len(loader),
           **{name: round(sum(v) / len(v), 2) for name, v in clock.times.items()},
           "valid_ndcg10": round(float(result.get("ndcg@10", float("nan"))), 4)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
