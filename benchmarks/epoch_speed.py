"""Seconds per training epoch and per full-ranking evaluation pass, one torch thread.

    python benchmarks/epoch_speed.py                       # ml-100k, the five models below
    python benchmarks/epoch_speed.py -d tiny -m BPR KGIN   # any dataset / models
    python benchmarks/epoch_speed.py -m KGIN KGLLMGNN KGLLMGNN:text_rank=64 --repeat 3
                                                           # a model with overrides; 3 rounds

``NAME:key=value,key=value`` runs a model with config overrides (values as Python literals).
With ``--repeat N`` the models run in N interleaved rounds (A B A B ...) and each number is the
median over rounds, so a burst of load on a shared machine hits every model alike.
Each model runs in its own subprocess (``--one``) with ``torch.set_num_threads(1)``: one warm-up
epoch, then ``--epochs`` timed epochs (median reported), then one full-ranking evaluation of the
validation split, timed from empty caches (the pass propagates the graph once). Printed: a table
(wall seconds, and this process's CPU seconds, which other load on a shared machine disturbs
less) and the ratios KGLLMGNN/KGIN and LLMAugRec/BPR. Compare numbers from one sitting only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODELS = ("BPR", "LightGCN", "KGIN", "LLMAugRec", "KGLLMGNN")
RATIOS = (("KGLLMGNN", "KGIN"), ("LLMAugRec", "BPR"))
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: import this checkout, not an installed copy
    sys.path.insert(0, str(ROOT))


def parse_model(spec: str) -> tuple[str, dict[str, object]]:
    """``KGLLMGNN:text_rank=64,n_layers=1`` -> ("KGLLMGNN", {"text_rank": 64, "n_layers": 1}),
    values typed as the command line types them."""
    from recbole_llmkg.benchmark.spec import parse_overrides

    name, _, rest = spec.partition(":")
    return name, parse_overrides(f"--{item}" for item in rest.split(",") if item)


def child_env() -> dict[str, str]:
    """The environment of a measuring child: this checkout first on ``PYTHONPATH`` (a script's
    ``sys.path[0]`` is ``benchmarks/``, so without it the child imports whichever
    ``recbole_llmkg`` is installed, e.g. another checkout's, and times that code) and one
    BLAS / OpenMP thread."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def measure(spec: str, dataset: str, epochs: int, seed: int) -> dict[str, float]:
    """Train ``1 + epochs`` epochs and evaluate once; returns the timings of this process."""
    import torch

    model, overrides = parse_model(spec)

    torch.set_num_threads(1)
    from recbole.data import data_preparation
    from recbole.utils import init_seed

    from recbole_llmkg import Config, create_dataset, get_trainer

    config = Config(model, dataset, config_dict={
        "use_gpu": False, "seed": seed, "state": "ERROR", "eval_batch_size": 262144,
        "checkpoint_dir": "/tmp/epoch_speed_saved", "show_progress": False, **overrides,
    }, cmd_args=[])
    init_seed(config["seed"], config["reproducibility"])
    train, valid, _ = data_preparation(config, create_dataset(config))
    init_seed(config["seed"], config["reproducibility"])
    net = config.model_class(config, train._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    wall, cpu = [], []
    for epoch in range(1 + epochs):
        net.train()
        start, start_cpu = time.perf_counter(), time.process_time()
        trainer._train_epoch(train, epoch)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    start, start_cpu = time.perf_counter(), time.process_time()
    result = trainer.evaluate(valid, load_best_model=False)
    return {"epoch_s": statistics.median(wall[1:]), "epoch_cpu_s": statistics.median(cpu[1:]),
            "eval_s": time.perf_counter() - start, "eval_cpu_s": time.process_time() - start_cpu,
            "valid_ndcg10": float(result.get("ndcg@10", float("nan")))}


#: the scale issue's (#28) per-epoch and per-evaluation targets on ml-100k: (model, baseline,
#: "epoch" or "eval", the largest ratio allowed)
TARGETS = (("KGLLMGNN", "KGIN", "epoch", 1.0), ("KGLLMGNN", "KGIN", "eval", 2.0),
           ("LLMAugRec", "BPR", "epoch", 2.0))


def table(rows: dict[str, dict[str, float]], repeat: int, epochs: int) -> list[str]:
    """The printed table, the ratios and the targets they meet (CPU seconds decide)."""
    width = max(10, *(len(model) for model in rows))
    lines = [f"{'model':<{width}} {'s/epoch':>8} {'cpu s/epoch':>11} {'eval s':>7} "
             f"{'eval cpu s':>10} {'valid NDCG@10*':>15}   (median of {repeat} rounds)"]
    for model, r in rows.items():
        lines.append(f"{model:<{width}} {r['epoch_s']:8.3f} {r['epoch_cpu_s']:11.3f} "
                     f"{r['eval_s']:7.3f} {r['eval_cpu_s']:10.3f} {r['valid_ndcg10']:15.4f}")
    lines.append(f"(* after {1 + epochs} epochs; a sanity check, not a result)")
    for a, b in RATIOS:
        if a in rows and b in rows:
            ra, rb = rows[a], rows[b]
            lines.append(f"{a}/{b}: epoch {ra['epoch_s'] / rb['epoch_s']:.2f}x "
                         f"(cpu {ra['epoch_cpu_s'] / rb['epoch_cpu_s']:.2f}x), "
                         f"eval {ra['eval_s'] / rb['eval_s']:.2f}x "
                         f"(cpu {ra['eval_cpu_s'] / rb['eval_cpu_s']:.2f}x)")
    for model, base, kind, limit in TARGETS:
        if model in rows and base in rows:
            key = "epoch_cpu_s" if kind == "epoch" else "eval_cpu_s"
            ratio = rows[model][key] / rows[base][key]
            lines.append(f"target {model} <= {limit:g}x {base} per {kind} (cpu): "
                         f"{ratio:.2f}x, {'met' if ratio <= limit else 'missed'}")
    return lines


def write_report(path: Path, lines: list[str], argv: list[str]) -> None:
    """``lines`` as a markdown file with the command that made them (written atomically)."""
    from recbole_llmkg.files import write_text_atomic

    command = " ".join(["python benchmarks/epoch_speed.py", *argv])
    body = ["# Seconds per epoch and per evaluation pass, ml-100k, one torch thread", "",
            "Written by `make bench` (each model in its own process, interleaved rounds, "
            "medians; CPU seconds are the comparable numbers on a shared machine):", "",
            f"    {command}", "", "```", *lines, "```", ""]
    write_text_atomic(path, "\n".join(body))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-d", "--dataset", default="ml-100k")
    parser.add_argument("-m", "--models", nargs="+", default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds (medians)")
    parser.add_argument("--out", type=Path, help="also write the table as markdown here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode: one model, JSON out
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.dataset, args.epochs, args.seed)))
        return 0

    runs: dict[str, list[dict[str, float]]] = {model: [] for model in args.models}
    for _ in range(args.repeat):
        for model in args.models:
            out = subprocess.run(
                [sys.executable, __file__, "--one", model, "-d", args.dataset,
                 "--epochs", str(args.epochs), "--seed", str(args.seed)],
                cwd=ROOT, capture_output=True, text=True, check=False, env=child_env(),
            )
            if out.returncode:
                print(f"{model} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            runs[model].append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = {model: {key: statistics.median(r[key] for r in found) for key in found[0]}
            for model, found in runs.items() if found}
    lines = table(rows, args.repeat, args.epochs)
    print("\n".join(lines), flush=True)
    if args.out:
        write_report(args.out, lines, sys.argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
