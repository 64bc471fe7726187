"""Command line: ``recbole-llmkg`` / ``python run_recbole_llmkg.py``.

Flags we own are parsed here; every other ``--key=value`` is a RecBole config override, exactly as
with RecBole's own ``run_recbole.py`` (e.g. ``--epochs=1 --gpu_id=0``).
``recbole-llmkg recommend --checkpoint saved/<run>.pth ...`` serves a trained model.

This module imports nothing heavy at the top: ``--help`` and ``--list-models`` never load torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


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
    parser.add_argument("--report", action="store_true", help="benchmark: rewrite the "
                        "leaderboard, tables and charts from the saved runs, run nothing")
    parser.add_argument("--write-readme", action="store_true", help="benchmark: rewrite the "
                        "README's leaderboard section from the committed results, run nothing")
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
    if argv and argv[0] == "recommend":
        return recommend_main(argv[1:])
    args, rest = build_parser().parse_known_args(argv)
    overrides = [a for a in rest if a.startswith("--") and "=" in a]
    unknown = [a for a in rest if a not in overrides]
    if unknown:
        build_parser().error(
            f"unrecognised arguments {unknown}: config overrides are written --key=value"
        )
    if args.list_models:
        return _list_models()
    from recbole_llmkg.errors import LLMKGError

    try:
        if args.benchmark:
            return _benchmark(args, overrides)
        return _train(args, overrides)
    except LLMKGError as error:
        print(f"recbole-llmkg: error: {error}", file=sys.stderr)
        return 2


def _list_models() -> int:
    """Model names, read without importing torch or RecBole."""
    from recbole_llmkg.model_names import plugin_model_names, recbole_model_names

    print("Plugin models:", ", ".join(plugin_model_names()))
    print("RecBole models:", ", ".join(recbole_model_names()))
    return 0


def _benchmark(args: argparse.Namespace, overrides: list[str]) -> int:
    """Run a board (or rewrite the README's leaderboard section): 1 when any run failed."""
    if args.write_readme:
        from recbole_llmkg.benchmark.readme import write_readme

        print(f"rewrote the leaderboard section of {write_readme(args.benchmark)}")
        return 0
    from recbole_llmkg.benchmark.runner import run_benchmark

    try:
        summary = run_benchmark(args.benchmark, profile=args.profile, rerun=args.rerun,
                                cmd_args=overrides, ray_address=args.ray_address,
                                report_only=args.report)
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


def _train(args: argparse.Namespace, overrides: list[str]) -> int:
    """Train and test one model (data-parallel with --nproc / --world_size); print metrics."""
    config_files = args.config_files.strip().split() if args.config_files else None
    from recbole_llmkg.config_preflight import preflight

    preflight(args.model, args.dataset, overrides, config_files)  # before torch is imported
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

        result = run_recbole_llmkg(model=args.model, dataset=args.dataset,
                                   config_file_list=config_files, cmd_args=overrides)
    for label, metrics in (("best valid", result["best_valid_result"]),
                           ("test result", result["test_result"])):
        print(f"{label}: " + "  ".join(f"{k}={float(v):.4f}" for k, v in metrics.items()))
    return 0


# ------------------------------------------------------------------------------- recommend
def build_recommend_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recbole-llmkg recommend",
        description="Top-k items from a trained model's checkpoint. Ids are the dataset's own "
        "(as in its .inter file); the user's training items are left out unless --include-seen.",
    )
    parser.add_argument("--checkpoint", required=True, help="the .pth file a training run saved")
    who = parser.add_argument_group("who to recommend for (one of)")
    who.add_argument("--user", help="one user id, e.g. 196")
    who.add_argument("--users", metavar="FILE", help="file with one user id per line (JSONL out)")
    who.add_argument("--all-users", action="store_true", help="every user (JSONL out)")
    who.add_argument("--liked", help="new user: comma-separated ids of items they like")
    who.add_argument("--profile", help="new user: a few words about them (text models)")
    parser.add_argument("--k", type=int, default=10, help="how many items (default 10)")
    parser.add_argument("--include-seen", action="store_true", help="keep training items")
    parser.add_argument("--query", help="a request in words, e.g. 'a light comedy' (text models)")
    parser.add_argument("--query-weight", type=float, default=None,
                        help="weight of --query in [0, 1] (default 0.3, chosen on validation: "
                             "results/queries/ml-100k.md)")
    parser.add_argument("--explain", action="store_true",
                        help="why: history items behind each score, and KG paths")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.add_argument("--output", "-o", help="write to this file (atomically) instead of stdout")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--data-path", help="folder holding the dataset, if it moved")
    return parser


def _text_table(user: str, rows: list[dict[str, Any]]) -> str:
    lines = [f"Top {len(rows)} for user {user}:"]
    for row in rows:
        lines.append(f"{row['rank']:>3}. {row['item']:>8}  {row['score']:9.4f}  {row['title']}")
        if row.get("explain", {}).get("knowledge"):
            lines.append(f"       about: {row['explain']['knowledge']}")
        for h in row.get("explain", {}).get("history", []):
            lines.append(f"       because you liked {h['item']} {h['title']} "
                         f"({row['explain']['kind']} {h['weight']:+.4f})")
        for p in row.get("explain", {}).get("paths", []):
            lines.append(f"       path: {p['from']} {p['from_title']} -[{p['relation_out']}]-> "
                         f"{p['entity']} <-[{p['relation_in']}]- {p['to']}")
    return "\n".join(lines)


def _user_ids(args, recommender) -> list[str]:
    from recbole_llmkg.errors import ServeError

    if args.all_users:
        return recommender.all_user_ids
    try:
        with open(args.users, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as error:
        raise ServeError(
            f"--users file '{args.users}' cannot be read ({error.strerror})."
        ) from None


def run_recommend(args) -> str:
    """The text the ``recommend`` command prints (or writes to ``--output``)."""
    from recbole_llmkg.errors import ServeError
    from recbole_llmkg.serve import Recommender
    from recbole_llmkg.serve.query import DEFAULT_QUERY_WEIGHT
    from recbole_llmkg.serve.recommender import frame_records, to_jsonl

    chosen = [bool(args.user), bool(args.users), args.all_users,
              bool(args.liked or args.profile is not None)]
    if sum(chosen) != 1:
        raise ServeError("Give exactly one of --user, --users FILE, --all-users, or "
                         "--liked/--profile (a new user).")
    if args.k < 1:
        raise ServeError(f"--k must be >= 1; got {args.k}.")
    if args.query is not None and not args.query.strip():
        raise ServeError("--query is empty: give a few words, e.g. 'a light comedy'.")
    weight = DEFAULT_QUERY_WEIGHT if args.query_weight is None else args.query_weight
    rec = Recommender.load(args.checkpoint, device=args.device, data_path=args.data_path)
    if args.user or chosen[3]:
        if args.user:
            frame = rec.recommend([args.user], args.k, args.include_seen, args.query, weight)
        else:
            liked = [t for t in (args.liked or "").split(",") if t.strip()]
            frame = rec.recommend_new_user(liked, args.profile, args.k, args.query, weight)
        rows = frame_records(frame)
        label = args.user or "new"
        if args.explain:
            if not args.user:
                raise ServeError("--explain needs a known --user (a new user has no history "
                                 "the model was trained with).")
            for row, why in zip(rows, rec.explain(args.user, frame["item"]), strict=True):
                row["explain"] = {k: why[k] for k in ("kind", "history", "paths", "knowledge")
                                  if k in why}
        if args.json:
            return json.dumps({"user": label, "model": rec.model_name, "items": rows}, indent=2)
        return _text_table(label, rows)
    if args.explain:
        raise ServeError("--explain works with one --user at a time.")
    users = _user_ids(args, rec)
    frame = rec.recommend(users, args.k, args.include_seen, args.query, weight)
    return to_jsonl(frame)


def recommend_main(argv: list[str]) -> int:
    from recbole_llmkg.errors import LLMKGError

    args = build_recommend_parser().parse_args(argv)
    try:
        text = run_recommend(args)
    except LLMKGError as error:
        print(f"recbole-llmkg recommend: error: {error}", file=sys.stderr)
        return 2
    if args.output:
        from recbole_llmkg.files import write_text_atomic

        write_text_atomic(args.output, text + "\n")
    else:
        print(text)
    return 0
