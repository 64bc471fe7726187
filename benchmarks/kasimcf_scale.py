"""KASimCF's fit at scale: seconds and peak memory of one model construction, one thread.

    python benchmarks/kasimcf_scale.py --users 20000 --items 20000 --sim-mode closed_form

Generates (once) a synthetic dataset with 384-d precomputed text embeddings (the size of
MiniLM's), loads and splits it as a run would, then times ``KASimCF(config, train_dataset)``
and prints one JSON line: fit wall and CPU seconds (on a shared machine the CPU seconds are
the comparable number), the process's peak RSS (``ru_maxrss``) and the RSS before
the fit. Run each mode in its own process, so each peak is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import torch


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--inter-per-user", type=float, default=24.0,
                        help="generator's mean before de-duplication (24 gives ~20 per user)")
    parser.add_argument("--sim-mode", default="closed_form")
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "recbole_llmkg_scale"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    from recbole.data import data_preparation

    from recbole_llmkg import Config, create_dataset
    from recbole_llmkg.benchmark.synthetic import SyntheticSpec, write_dataset

    name = f"synth_u{args.users}_i{args.items}_a{args.inter_per_user:g}_s{args.seed}"
    if not (Path(args.data) / name / f"{name}.inter").is_file():
        write_dataset(SyntheticSpec(users=args.users, items=args.items, seed=args.seed,
                                    interactions_per_user=args.inter_per_user, name=name,
                                    emb_dim=384), args.data)
    config = Config("KASimCF", name, cmd_args=[], config_dict={
        "data_path": args.data, "use_gpu": False, "device": "cpu", "sim_mode": args.sim_mode,
        "llm_cache_dir": False, "state": "WARNING", "show_progress": False,
    })
    dataset = create_dataset(config)
    train, _, _ = data_preparation(config, dataset)
    train._dataset.item_text_embeddings()  # loaded before the clock starts
    before = peak_rss_gib()
    start, cpu = time.perf_counter(), time.process_time()
    model = config.model_class(config, train._dataset)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({
        "sim_mode": args.sim_mode, "users": dataset.user_num - 1, "items": dataset.item_num - 1,
        "interactions": dataset.inter_num, "fit_s": round(seconds, 2),
        "fit_cpu_s": round(cpu_seconds, 2),
        "peak_rss_gib": round(peak_rss_gib(), 3), "rss_before_fit_gib": round(before, 3),
        "threads": torch.get_num_threads(),
    }))
    del model


if __name__ == "__main__":
    main()
