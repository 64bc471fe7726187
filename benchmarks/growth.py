"""How cost grows with data: seconds per epoch, evaluation seconds, fit seconds and peak memory.

    python benchmarks/growth.py                               # every model, every size (make bench)
    python benchmarks/growth.py --models KGLLMGNN --sizes s m --rerun   # one model again
    python benchmarks/growth.py --profile BPR l               # where one cell's batches go

Each (model, size) cell runs in its own process with one torch / BLAS thread on a synthetic
dataset from :mod:`recbole_llmkg.benchmark.synthetic` (with 64-d precomputed text vectors, so no
language model runs: text encoding is measured by its own benchmark). A cell times model
construction ("fit" for closed forms), one warm-up epoch of ``--warmup-batches`` batches, then
``--batches`` timed batches scaled to a full epoch (batches are alike, so seconds per batch x
batches per epoch is the epoch), and one full-ranking evaluation of the test users; peak memory
is the cell's ``ru_maxrss``. Results go to ``results/bench/cells/<model>__<size>.json`` as each
cell ends (atomic writes), so a rerun skips finished cells; the table, the CSV with the fitted
log-log slopes and the chart are rebuilt from every cell file at the end. A cell that would not
fit in memory (dense closed forms at 50k items) is recorded as skipped with the reason; one
that runs past ``--cell-timeout`` as timed out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from recbole_llmkg.files import write_text_atomic  # noqa: E402


@dataclass(frozen=True)
class Size:
    users: int
    items: int
    inter_per_user: float
    kg_triples: int | None = None  # thin the generated .kg to this many triples (None: keep)


#: about 10^4, 6 x 10^4, 2.5 x 10^5 and 10^6 interactions; 2k to 50k items; "ml1m" has
#: MovieLens-1M's shape (6,040 users, 3,706 items, ~1M interactions, a KG of ~20k triples): few
#: items, dense users, the next real dataset's cost
SIZES = {
    "xs": Size(1_000, 2_000, 12),
    "s": Size(4_000, 5_000, 18),
    "m": Size(12_000, 12_000, 24),
    "l": Size(25_000, 50_000, 48),
    "ml1m": Size(6_040, 3_706, 360, kg_triples=20_000),
}
#: model name -> (RecBole / plugin model, config overrides)
MODELS = {
    "LLMAugRec": ("LLMAugRec", {}),
    "KGLLMGNN": ("KGLLMGNN", {}),
    # the closed form is capped at 4 GiB here (about 30k items): at 50k items it would need
    # ~10 GiB and ~20 CPU-minutes, so the cell records the refusal instead
    "KASimCF": ("KASimCF", {"closed_form_max_gib": 4}),
    "KASimCF-item": ("KASimCF", {"sim_mode": "item"}),
    "BPR": ("BPR", {}),
    "LightGCN": ("LightGCN", {}),
    "KGIN": ("KGIN", {}),
    "EASE": ("EASE", {}),
}
SCALING = ("xs", "s", "m", "l")  # the sizes the fitted slopes run over
OUT = REPO / "results" / "bench"


def dataset_name(size: str) -> str:
    return f"bench_{size}"


# ------------------------------------------------------------------------------ one cell
class FirstBatches:
    """The first ``n`` batches of a RecBole data loader (every other attribute passes through)."""

    def __init__(self, loader, n: int):
        self.loader, self.n = loader, n

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.n)

    def __len__(self) -> int:
        return min(len(self.loader), self.n)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def ease_bytes(n_items: int) -> int:
    """RecBole's EASE: a dense float32 Gram, its float32 inverse and one more n x n result."""
    return 3 * 4 * n_items * n_items


class Clock:
    """CPU seconds of this process (the comparable number on a shared machine: every cell runs
    one thread) and wall seconds, from one start."""

    def __init__(self):
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def seconds(self) -> tuple[float, float]:
        return time.process_time() - self.cpu, time.perf_counter() - self.wall


def run_cell(model_key: str, size: str, data: Path, args) -> dict:
    """Measure one (model, size) cell in this process; returns its record."""
    import torch

    torch.set_num_threads(1)
    from recbole.data import data_preparation
    from recbole.utils import init_seed

    from recbole_llmkg import Config, create_dataset, get_trainer
    from recbole_llmkg.errors import LLMKGError
    from recbole_llmkg.model.layers.similarity import available_memory_bytes

    model, overrides = MODELS[model_key]
    record: dict = {"model": model_key, "size": size, "status": "ok",
                    "base_gib": round(peak_gib(), 3)}  # after imports, before any data
    clock = Clock()
    config = Config(model, dataset_name(size), cmd_args=[], config_dict={
        "data_path": str(data), "use_gpu": False, "device": "cpu", "state": "ERROR",
        "show_progress": False, "llm_cache_dir": False, "checkpoint_dir": str(data / "saved"),
        "train_batch_size": args.train_batch_size, "eval_batch_size": args.eval_batch_size,
        **overrides,
    })
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, _, test = data_preparation(config, dataset)
    record.update(users=dataset.user_num - 1, items=dataset.item_num - 1,
                  interactions=dataset.inter_num, train_batches=len(train),
                  setup_s=round(clock.seconds()[0], 2))
    if model == "EASE" and ease_bytes(dataset.item_num) > 0.8 * available_memory_bytes():
        need = ease_bytes(dataset.item_num) / 2**30
        return {**record, "status": "skipped",
                "reason": f"dense EASE needs ~{need:.1f} GiB (3 x n_items^2 float32), over 80% "
                          "of available memory"}
    init_seed(config["seed"], config["reproducibility"])
    clock = Clock()
    try:
        net = config.model_class(config, train._dataset).to(config["device"])
    except (LLMKGError, MemoryError) as err:
        return {**record, "status": "skipped", "reason": str(err).split(". Use")[0]}
    record["fit_s"], record["fit_wall_s"] = (round(x, 3) for x in clock.seconds())
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    traditional = net.type.name == "TRADITIONAL"
    if not traditional:
        trainer._train_epoch(FirstBatches(train, args.warmup_batches), 0)
        timed = FirstBatches(train, args.batches)
        profiler = None
        if getattr(args, "profile", None):
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        clock = Clock()
        trainer._train_epoch(timed, 1)
        scale = len(train) / len(timed)
        cpu, wall = clock.seconds()
        if profiler is not None:
            import pstats

            profiler.disable()
            print(f"{model_key} @ {size}: {len(timed)} batches, {cpu:.2f} cpu s "
                  f"({cpu / len(timed) * 1000:.1f} ms/batch, {len(train)} batches/epoch)")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        record.update(timed_batches=len(timed), epoch_s=round(cpu * scale, 3),
                      epoch_wall_s=round(wall * scale, 3), extrapolated=len(timed) < len(train))
    clock = Clock()
    trainer.evaluate(test, load_best_model=False)
    cpu, wall = clock.seconds()
    record.update(eval_s=round(cpu, 3), eval_wall_s=round(wall, 3), peak_gib=round(peak_gib(), 3))
    record["data_gib"] = round(record["peak_gib"] - record["base_gib"], 3)
    return record


# ------------------------------------------------------------------------------ orchestration
def ensure_data(size: str, data: Path, seed: int) -> None:
    from recbole_llmkg.benchmark.synthetic import SyntheticSpec, write_dataset

    name = dataset_name(size)
    if (data / name / f"{name}.useremb").is_file():
        return
    s = SIZES[size]
    write_dataset(SyntheticSpec(users=s.users, items=s.items, seed=seed, name=name, emb_dim=64,
                                interactions_per_user=s.inter_per_user), data)
    if s.kg_triples is not None:
        thin_kg(data / name / f"{name}.kg", s.kg_triples, seed)


def thin_kg(path: Path, n_triples: int, seed: int) -> None:
    """Keep a seeded random ``n_triples`` of the ``.kg`` rows (the synthetic generator writes
    ~13 triples per item; ML-1M's usual KG has ~5)."""
    import pandas as pd

    kg = pd.read_csv(path, sep="\t", dtype=str)
    if len(kg) > n_triples:
        kg = kg.sample(n=n_triples, random_state=seed).sort_index()
    write_text_atomic(path, kg.to_csv(sep="\t", index=False, lineterminator="\n"))


def cell_path(model: str, size: str) -> Path:
    return OUT / "cells" / f"{model}__{size}.json"


def spawn_cell(model: str, size: str, args) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
               p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    command = [sys.executable, str(Path(__file__).resolve()), "--cell", model, size,
               "--data", str(args.data),
               "--batches", str(args.batches), "--warmup-batches", str(args.warmup_batches),
               "--train-batch-size", str(args.train_batch_size),
               "--eval-batch-size", str(args.eval_batch_size)]
    (args.data / "logs").mkdir(parents=True, exist_ok=True)
    log = open(args.data / "logs" / f"{model}__{size}.log", "w")  # noqa: SIM115
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=str(args.data))


def run_all(args) -> None:
    (OUT / "cells").mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        ensure_data(size, args.data, args.seed)
    todo = [(m, s) for s in args.sizes for m in args.models
            if args.rerun or not cell_path(m, s).is_file()]
    running: dict[tuple[str, str], tuple[subprocess.Popen, float]] = {}
    started = time.perf_counter()
    while todo or running:
        while todo and len(running) < args.jobs:
            cell = todo.pop(0)
            running[cell] = (spawn_cell(*cell, args), time.perf_counter())
            print(f"[{time.perf_counter() - started:7.0f}s] start {cell[0]} @ {cell[1]}",
                  flush=True)
        time.sleep(0.5)
        for cell, (proc, t0) in list(running.items()):
            elapsed = time.perf_counter() - t0
            if proc.poll() is None and elapsed < args.cell_timeout:
                continue
            if proc.poll() is None:
                proc.kill()
                proc.wait()
                record = {"model": cell[0], "size": cell[1], "status": "timeout",
                          "reason": f"ran past --cell-timeout {args.cell_timeout:.0f} s"}
            elif proc.returncode != 0 or not cell_path(*cell).is_file():
                record = {"model": cell[0], "size": cell[1], "status": "failed",
                          "reason": f"exit code {proc.returncode}; see "
                                    f"{args.data}/logs/{cell[0]}__{cell[1]}.log"}
            else:
                record = None
            if record is not None:
                write_text_atomic(cell_path(*cell), json.dumps(record, indent=1))
            del running[cell]
            print(f"[{time.perf_counter() - started:7.0f}s] done  {cell[0]} @ {cell[1]} "
                  f"({elapsed:.0f} s)", flush=True)
    report()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--rerun", action="store_true", help="redo cells that have a result")
    parser.add_argument("--jobs", type=int, default=2, help="cells run at once (1 thread each)")
    parser.add_argument("--cell-timeout", type=float, default=420.0, help="seconds per cell")
    parser.add_argument("--batches", type=int, default=20, help="timed training batches")
    parser.add_argument("--warmup-batches", type=int, default=2)
    parser.add_argument("--train-batch-size", type=int, default=4096)
    parser.add_argument("--eval-batch-size", type=int, default=2**24,
                        help="scores per evaluation batch (users x items)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic data seed")
    parser.add_argument("--data", type=Path, default=REPO / "saved" / "bench_data",
                        help="where the synthetic datasets are generated (not committed)")
    parser.add_argument("--report-only", action="store_true", help="rebuild table and chart")
    parser.add_argument("--cell", nargs=2, metavar=("MODEL", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--profile", nargs=2, metavar=("MODEL", "SIZE"),
                        help="profile one cell's timed batches (cProfile, in this process, one "
                             "thread); prints the functions with the most own time, writes no "
                             "cell file")
    parser.add_argument("--top", type=int, default=15, help="functions --profile prints")
    args = parser.parse_args(argv)
    args.data = args.data.resolve()
    if args.profile:
        ensure_data(args.profile[1], args.data, args.seed)
        os.chdir(args.data)  # RecBole's log/ folders land beside the data, as for a cell
        run_cell(*args.profile, args.data, args)
    elif args.cell:
        record = run_cell(*args.cell, args.data, args)
        write_text_atomic(cell_path(*args.cell), json.dumps(record, indent=1))
    elif args.report_only:
        report()
    else:
        run_all(args)


# ------------------------------------------------------------------------------ report
def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x) (None with fewer than two points)."""
    import numpy as np

    points = [(x, y) for x, y in zip(xs, ys, strict=True) if x and y and y > 0]
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def report() -> None:
    """Rebuild growth.csv, growth.md and growth.png from every cell file."""
    import pandas as pd

    records = [json.loads(p.read_text()) for p in sorted((OUT / "cells").glob("*.json"))]
    if not records:
        return
    frame = pd.DataFrame(records)
    order = {m: i for i, m in enumerate(MODELS)}
    sizes = {s: i for i, s in enumerate(SIZES)}
    frame = frame.sort_values(["model", "size"], key=lambda c: c.map(
        order if c.name == "model" else sizes)).reset_index(drop=True)
    for column in ("users", "items", "interactions", "epoch_s", "eval_s", "fit_s", "peak_gib",
                   "data_gib"):
        if column not in frame:
            frame[column] = None
    ok = frame[frame["status"] == "ok"]
    slopes = []
    # slopes over the scaling family only: the ml1m cell has another shape (few items, dense
    # users), so it is a point to compare models at, not a step on the same curve
    family = ok[ok["size"].isin(SCALING)]
    for model, rows in family.groupby("model", sort=False):
        slopes.append({
            "model": model,
            "epoch_vs_interactions": slope(list(rows["interactions"]), list(rows["epoch_s"])),
            "eval_vs_users_x_items": slope(list(rows["users"] * rows["items"]),
                                           list(rows["eval_s"])),
            "fit_vs_items": slope(list(rows["items"]), list(rows["fit_s"])),
            "memory_vs_interactions": slope(list(rows["interactions"]), list(rows["data_gib"])),
        })
    slopes = pd.DataFrame(slopes)
    body = frame.to_csv(index=False, lineterminator="\n")
    write_text_atomic(OUT / "growth.csv", body)
    write_text_atomic(OUT / "slopes.csv", slopes.to_csv(index=False, lineterminator="\n"))
    write_text_atomic(OUT / "growth.md", markdown(frame, slopes))
    chart(ok)
    print(markdown(frame, slopes))


def _fmt(value, digits: int = 2) -> str:
    if value is None or value != value:  # None or NaN
        return ""
    return f"{value:.{digits}f}"


def _cell(frame, model: str, size: str, column: str) -> float | None:
    rows = frame[(frame["model"] == model) & (frame["size"] == size) & (frame["status"] == "ok")]
    value = rows[column].iloc[0] if len(rows) else None
    return None if value is None or value != value else float(value)


def targets(frame, slopes) -> list[tuple[str, str, bool | None]]:
    """``(target, measured, met)`` for the scale issue's targets that this table measures
    (``met`` is None where a cell is missing): epoch-time slopes against BPR's + 0.1, and at the
    ML-1M-shaped cell KGLLMGNN <= 1.0x KGIN and <= 60 s an epoch, LLMAugRec <= 3x BPR, and peak
    memory of each plugin model <= 2x KGIN's."""
    out: list[tuple[str, str, bool | None]] = []
    by_model = {row.model: row.epoch_vs_interactions for row in slopes.itertuples()}
    bpr = by_model.get("BPR")
    for model in ("KGLLMGNN", "LLMAugRec"):
        ours = by_model.get(model)
        known = ours is not None and bpr is not None
        measured = f"{_fmt(ours)} vs BPR {_fmt(bpr)}" if known else "missing cells"
        out.append((f"{model} epoch slope <= BPR's + 0.1", measured,
                    ours <= bpr + 0.1 if known else None))

    def ratio(name: str, model: str, base: str, column: str, limit: float) -> None:
        a, b = _cell(frame, model, "ml1m", column), _cell(frame, base, "ml1m", column)
        known = a is not None and b
        measured = f"{a / b:.2f}x ({_fmt(a)} / {_fmt(b)})" if known else "missing cells"
        out.append((name, measured, a / b <= limit if known else None))

    ratio("ml1m: KGLLMGNN s/epoch <= 1.0x KGIN", "KGLLMGNN", "KGIN", "epoch_s", 1.0)
    epoch = _cell(frame, "KGLLMGNN", "ml1m", "epoch_s")
    out.append(("ml1m: KGLLMGNN <= 60 s/epoch", "missing cell" if epoch is None else
                f"{epoch:.1f} s", None if epoch is None else epoch <= 60.0))
    ratio("ml1m: LLMAugRec s/epoch <= 3x BPR", "LLMAugRec", "BPR", "epoch_s", 3.0)
    for model in ("KGLLMGNN", "LLMAugRec"):
        ratio(f"ml1m: {model} peak memory <= 2x KGIN", model, "KGIN", "peak_gib", 2.0)
    return out


def markdown(frame, slopes) -> str:
    lines = [
        "# Growth: cost against data size (synthetic data, one thread per cell)",
        "",
        "Written by `python benchmarks/growth.py` (`make bench`). All times are CPU seconds of "
        "the cell's process, which runs one thread (comparable on a shared machine; the wall "
        "seconds are in growth.csv). Epoch seconds are timed over the first batches of an "
        "epoch and scaled to the full epoch (train_batch_size 4096); evaluation is one "
        "full-ranking pass over the test users; fit is model construction (the whole cost of "
        "closed forms; for KGLLMGNN it includes loading the language model that encodes the "
        "relation names). Text features are precomputed 64-d vectors (no language model "
        "encodes item text). Peak GiB is the process's maximum RSS; data GiB subtracts the RSS "
        "after imports.",
        "",
        "| model | size | users | items | interactions | s/epoch | eval s | fit s | peak GiB "
        "| data GiB | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in frame.itertuples():
        status = row.status if row.status == "ok" else f"{row.status}: {row.reason}"
        lines.append(
            f"| {row.model} | {row.size} | {_fmt(row.users, 0)} | {_fmt(row.items, 0)} | "
            f"{_fmt(row.interactions, 0)} | {_fmt(row.epoch_s)} | {_fmt(row.eval_s)} | "
            f"{_fmt(row.fit_s)} | {_fmt(row.peak_gib)} | {_fmt(row.data_gib)} | {status} |"
        )
    lines += [
        "",
        "Fitted log-log slopes (1.0 = linear) over sizes xs, s, m and l (ml1m has another "
        "shape and is not on that curve): epoch seconds against interactions, evaluation "
        "seconds against users x items, fit seconds against items, data memory against "
        "interactions.",
        "",
        "| model | epoch ~ interactions | eval ~ users x items | fit ~ items | memory ~ "
        "interactions |",
        "|---|---|---|---|---|",
    ]
    for row in slopes.itertuples():
        lines.append(
            f"| {row.model} | {_fmt(row.epoch_vs_interactions)} | "
            f"{_fmt(row.eval_vs_users_x_items)} | {_fmt(row.fit_vs_items)} | "
            f"{_fmt(row.memory_vs_interactions)} |"
        )
    lines += ["", "Targets of the scale issue (#28), from the rows above:", "",
              "| target | measured | met |", "|---|---|---|"]
    for target, measured, met in targets(frame, slopes):
        verdict = "n/a" if met is None else "yes" if met else "no"
        lines.append(f"| {target} | {measured} | {verdict} |")
    done = set(zip(frame["model"], frame["size"], strict=True))
    missing = [f"{m} @ {s}" for s in SIZES for m in MODELS if (m, s) not in done]
    if missing:
        lines += ["", f"Not measured yet (run `make bench` to add them): {', '.join(missing)}."]
    lines += ["", "![growth](growth.png)", ""]
    return "\n".join(lines)


def chart(ok) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recbole_llmkg.files import write_bytes_atomic

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels = (("interactions", "epoch_s", "seconds per epoch"),
              ("cells", "eval_s", "evaluation seconds"),
              ("interactions", "data_gib", "memory above imports (GiB)"))
    for ax, (x, y, title) in zip(axes, panels, strict=True):
        for model, rows in ok.groupby("model", sort=False):
            xs = rows["users"] * rows["items"] if x == "cells" else rows[x]
            ys = rows[y]
            keep = ys.notna() & (ys > 0)
            if keep.any():
                ax.plot(xs[keep], ys[keep], marker="o", label=model)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("users x items" if x == "cells" else x)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(OUT / "growth.png", buffer.getvalue())


if __name__ == "__main__":
    main()
