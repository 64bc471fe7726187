"""Leaderboard benchmarks: a YAML file of datasets x models x seeds x protocols, run resumably.

``spec`` reads and validates the file; ``splits`` writes each (dataset, seed, protocol) split
once, with a fingerprint, and ``protocols`` (objects: prepare, verify, evaluate) points a run at
it and tests it (``ranking``: RecBole's evaluation loop, candidate masks); ``tuning`` (Optuna
studies) and ``tuning_phase`` give every tuned row the same budget before the seed runs;
``worker`` runs and measures one cell (with ``per_user`` metrics and its ``validation_curve``);
``ray_runs`` executes trials and runs as Ray tasks; ``store`` keeps one JSON record per run (and
the ``--rerun`` marker); ``scratch`` gives each attempt its own folder; ``lifeline`` makes a
run's child process die with the runner; ``runner`` drives it all; ``report`` writes the
leaderboard through ``rows``, ``tables`` and ``charts`` (tables, test sets, ``significance``),
``console`` the narrow table printed at the end, ``readme`` the generated sections of README.md
and docs/benchmark.md; ``synthetic`` writes seeded synthetic datasets for the scale benchmarks.

    python run_recbole_llmkg.py --benchmark properties/benchmark/ml-100k.yaml --profile quick
"""

from recbole_llmkg.benchmark.runner import BenchmarkSummary, run_benchmark
from recbole_llmkg.benchmark.spec import BenchmarkSpec, load_benchmark

__all__ = ["BenchmarkSpec", "BenchmarkSummary", "load_benchmark", "run_benchmark"]
