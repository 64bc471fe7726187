"""Command line: ``recbole-llmkg`` / ``python run_recbole_llmkg.py``.

Flags we own are parsed here; every other ``--key=value`` is a RecBole config override, exactly as
with RecBole's own ``run_recbole.py`` (e.g. ``--epochs=1 --gpu_id=0``).
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recbole-llmkg",
        description="Run a recbole_llmkg or RecBole model, or a leaderboard benchmark. "
        "Any further --key=value is a RecBole config override (e.g. --epochs=1).",
    )
    parser.add_argument("--model", "-m", help="model name, e.g. BPR, KGAT, LLMAugRec")
    parser.add_argument("--dataset", "-d", help="dataset name, e.g. ml-100k")
    parser.add_argument("--config_files", help="space-separated YAML config files")
    parser.add_argument("--benchmark", help="benchmark YAML file (runs the leaderboard)")
    parser.add_argument("--profile", help="benchmark profile to run, e.g. quick or full")
    parser.add_argument("--rerun", action="store_true", help="benchmark: redo finished runs")
    parser.add_argument("--ray-address", help="benchmark: run on this Ray cluster (default: a "
                        "local Ray instance using every core)")
    parser.add_argument("--write-readme", action="store_true", help="benchmark: rewrite the "
                        "README's leaderboard section from the committed results, run nothing")
    parser.add_argument("--list-models", action="store_true", help="print the model names")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, rest = build_parser().parse_known_args(argv)
    overrides = [a for a in rest if a.startswith("--") and "=" in a]
    unknown = [a for a in rest if a not in overrides]
    if unknown:
        build_parser().error(
            f"unrecognised arguments {unknown}: config overrides are written --key=value"
        )

    if args.list_models:
        from recbole_llmkg.utils import plugin_models, recbole_model_names

        print("Plugin models:", ", ".join(sorted(plugin_models())))
        print("RecBole models:", ", ".join(recbole_model_names()))
        return 0

    from recbole_llmkg.errors import LLMKGError

    if args.benchmark and args.write_readme:
        from recbole_llmkg.benchmark.readme import write_readme

        try:
            print(f"rewrote the leaderboard section of {write_readme(args.benchmark)}")
        except LLMKGError as error:
            print(f"recbole-llmkg: error: {error}", file=sys.stderr)
            return 2
        return 0
    if args.benchmark:
        from recbole_llmkg.benchmark.runner import run_benchmark

        try:
            summary = run_benchmark(args.benchmark, profile=args.profile, rerun=args.rerun,
                                    cmd_args=overrides, ray_address=args.ray_address)
        except LLMKGError as error:
            print(f"recbole-llmkg: error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("recbole-llmkg: interrupted; finished runs are saved and the same command "
                  "resumes", file=sys.stderr)
            return 130
        if summary.failed:
            print(f"recbole-llmkg: {len(summary.failed)} run(s) failed:", file=sys.stderr)
            for line in summary.failure_lines():
                print(f"  {line}", file=sys.stderr)
            return 1
        return 0

    from recbole_llmkg.quick_start import run_recbole_llmkg

    config_files = args.config_files.strip().split() if args.config_files else None
    try:
        result = run_recbole_llmkg(
            model=args.model,
            dataset=args.dataset,
            config_file_list=config_files,
            cmd_args=overrides,
        )
    except LLMKGError as error:
        print(f"recbole-llmkg: error: {error}", file=sys.stderr)
        return 2
    for label, metrics in (("best valid", result["best_valid_result"]),
                           ("test result", result["test_result"])):
        print(f"{label}: " + "  ".join(f"{k}={float(v):.4f}" for k, v in metrics.items()))
    return 0
