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
    parser.add_argument("--list-models", action="store_true", help="print the model names")
    parser.add_argument("--nproc", type=int, default=1,
                        help="data-parallel processes on this machine (gloo on CPU, nccl on GPUs)")
    parser.add_argument("--world_size", type=int, default=-1,
                        help="processes over all machines (default: --nproc)")
    parser.add_argument("--ip", default="localhost", help="address of the machine with rank 0")
    parser.add_argument("--port", type=int, help="free TCP port on that machine")
    parser.add_argument("--group_offset", type=int, default=0,
                        help="rank of this machine's first process")
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

    if args.benchmark:
        from recbole_llmkg.benchmark.runner import run_benchmark

        try:
            run_benchmark(args.benchmark, profile=args.profile, rerun=args.rerun,
                          cmd_args=overrides)
        except LLMKGError as error:
            print(f"recbole-llmkg: error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("recbole-llmkg: interrupted; finished runs are saved and the same command "
                  "resumes", file=sys.stderr)
            return 130
        return 0

    config_files = args.config_files.strip().split() if args.config_files else None
    try:
        if args.nproc > 1 or args.world_size > 0:
            from recbole_llmkg.distributed import run_distributed

            result = run_distributed(
                args.model, args.dataset, nproc=args.nproc, config_file_list=config_files,
                cmd_args=overrides, world_size=args.world_size, ip=args.ip, port=args.port,
                offset=args.group_offset,
            )
            if result is None:  # this machine does not hold rank 0, which reports
                return 0
        else:
            from recbole_llmkg.quick_start import run_recbole_llmkg

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
