"""Command line: ``recbole-llmkg <subcommand>`` / ``python run_recbole_llmkg.py ...``.

Subcommands, each with its own ``--help``:

* ``train``: train and test one model (also the default: ``-m X -d Y --key=value`` with no
  subcommand runs exactly as RecBole's ``run_recbole.py`` does, the host's convention);
* ``bench``: run a leaderboard file (the ``[bench]`` extra: ray, optuna, matplotlib);
* ``recommend``: top-k items from a trained model's checkpoint;
* ``models``: every model name (plugin, installed packages' entry points, RecBole);
* ``knowledge``: import or generate item knowledge (:mod:`recbole_llmkg.llm.knowledge_commands`).

Every further ``--key=value`` is a RecBole config override (e.g. ``--epochs=1 --gpu_id=0``). The
older flags ``--benchmark FILE``, ``--report``, ``--write-readme`` and ``--list-models`` still
work, as aliases of ``bench`` and ``models``. A model class of your own is named
``package.module:Class``; the working directory is on the import path for that, as with
``python -m``.

This module imports nothing heavy at the top: ``--help`` and ``models`` never load torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

PROG = "recbole-llmkg"
# What ``bench`` needs beyond the core install: the ``[bench]`` extra of setup.py.
BENCH_PACKAGES = ("ray", "optuna", "matplotlib")
BENCH_INSTALL = 'pip install "recbole-llmkg[bench]"'
KNOWLEDGE_MODULE = "recbole_llmkg.llm.knowledge_commands"


class _Parser(argparse.ArgumentParser):
    """argparse, with the hint that config overrides are one ``--key=value`` argument."""

    def error(self, message: str):  # type: ignore[override]
        if "invalid choice" in message:
            message += " (config overrides are written --key=value)"
        super().error(message)


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", help="model name (e.g. BPR, KGAT, LLMAugRec; "
                        "`recbole-llmkg models` lists them) or package.module:Class")
    parser.add_argument("--dataset", "-d", help="dataset name, e.g. ml-100k")
    parser.add_argument("--config_files", help="space-separated YAML config files")
    parser.add_argument("--nproc", type=int, default=1,
                        help="data-parallel processes on this machine (gloo on CPU, nccl on GPUs)")
    parser.add_argument("--world_size", type=int, default=-1,
                        help="processes over all machines (default: --nproc)")
    parser.add_argument("--ip", default="localhost", help="address of the machine with rank 0")
    parser.add_argument("--port", type=int, help="free TCP port on that machine")
    parser.add_argument("--group_offset", type=int, default=0,
                        help="rank of this machine's first process")


def _add_bench_options(parser: argparse.ArgumentParser, hidden: bool = False) -> None:
    """The board options (``hidden``: the top-level aliases, not shown in its help)."""

    def say(text: str) -> str:
        return argparse.SUPPRESS if hidden else text

    parser.add_argument("--profile", help=say("board profile to run, e.g. quick or full"))
    parser.add_argument("--rerun", action="store_true", help=say("redo finished runs"))
    parser.add_argument("--ray-address", help=say("run on this Ray cluster (default: a local "
                                                  "Ray instance using every core)"))
    parser.add_argument("--report", action="store_true", help=say(
        "rewrite the leaderboard, tables and charts from the saved runs, run nothing"))
    parser.add_argument("--write-readme", action="store_true", help=say(
        "rewrite the README's leaderboard section from the committed results, run nothing"))
    parser.add_argument("--allow-dirty", action="store_true", help=say(
        "run the full profile from a tree with uncommitted code changes (records say dirty)"))
    parser.add_argument("--overwrite", action="store_true", help=say(
        "replace the tables of another board file with the same name and output folder"))


def build_parser() -> argparse.ArgumentParser:
    """The command line: subcommands, and ``train``'s options at the top (no subcommand)."""
    parser = _Parser(
        prog=PROG,
        description="LLM and knowledge-graph recommenders for RecBole. Without a subcommand, "
        "trains one model as RecBole's run_recbole.py does: -m MODEL -d DATASET [--key=value].",
        epilog="Any further --key=value is a RecBole config override (e.g. --epochs=1). "
        "`recbole-llmkg <subcommand> --help` describes each subcommand.",
    )
    _add_train_arguments(parser)
    # the older flags, kept as aliases of `bench FILE` and `models`
    parser.add_argument("--benchmark", help=argparse.SUPPRESS)
    parser.add_argument("--list-models", action="store_true", help=argparse.SUPPRESS)
    _add_bench_options(parser, hidden=True)
    commands = parser.add_subparsers(dest="command", title="subcommands", metavar="{" + ",".join(
        COMMANDS) + "}")
    for name, (summary, add_arguments, _) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary,
                                  add_help=name != "knowledge")
        add_arguments(sub)
    return parser


def _add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("board", help="board YAML file, e.g. properties/benchmark/ml-100k.yaml")
    _add_bench_options(parser)


def _add_knowledge_arguments(parser: argparse.ArgumentParser) -> None:
    # its own parser is built by recbole_llmkg.llm.knowledge_commands, imported only when used
    parser.add_argument("knowledge_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    # Config overrides are set aside before argparse sees them: it takes an argument holding a
    # space (--eval_args={'mode': 'uni10'}) for a positional, i.e. a subcommand.
    options = _option_strings(parser)
    is_override = [a.startswith("--") and "=" in a and a.split("=", 1)[0] not in options
                   for a in argv]
    kept = [a for a, o in zip(argv, is_override, strict=True) if not o]
    args, rest = parser.parse_known_args(kept)
    command = args.command or ("models" if args.list_models
                               else "bench" if args.benchmark else "train")
    if command == "bench" and args.command is None:
        args.board = args.benchmark
    overrides = [a for a, o in zip(argv, is_override, strict=True) if o]
    overrides += [a for a in rest if a.startswith("--") and "=" in a]
    unknown = [a for a in rest if a not in overrides]
    if command == "knowledge":
        return _knowledge(args.knowledge_args + rest)
    if command in ("recommend", "models") and (rest or overrides):  # no config overrides there
        parser.error(f"unrecognised arguments for {command}: {' '.join(overrides + rest)}")
    if unknown:
        build_parser().error(
            f"unrecognised arguments {unknown}: config overrides are written --key=value"
        )
    if command == "models":
        return _list_models()
    _import_path_has_working_directory()
    from recbole_llmkg.errors import LLMKGError

    try:
        return COMMANDS[command][2](args, overrides)
    except LLMKGError as error:
        print(f"{PROG}{'' if command in ('train', 'bench') else ' ' + command}: error: {error}",
              file=sys.stderr)
        return 2


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of ``parser`` and of its subcommands' parsers."""
    found = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _option_strings(sub)
    return found


def _import_path_has_working_directory() -> None:
    """``package.module:Class`` names a module of the working directory too, as with
    ``python -m`` (the console script's own folder is on ``sys.path`` instead). Appended, so
    it never shadows an installed package; also to ``PYTHONPATH``, which the board's worker
    processes (subprocesses, Ray workers) inherit."""
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.append(cwd)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if cwd not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([*paths, cwd])


def _list_models() -> int:
    """Model names, read without importing torch or RecBole."""
    from recbole_llmkg.registry import model_names

    names = model_names()
    print("Plugin models:", ", ".join(names["plugin"]))
    if names["installed"]:
        print("Installed models:", ", ".join(names["installed"]))
    print("RecBole models:", ", ".join(names["recbole"]))
    return 0


def _knowledge(argv: list[str]) -> int:
    """``knowledge import | generate``: delegated to :mod:`recbole_llmkg.llm.knowledge_commands`
    (``add_arguments(parser)``, ``run(args) -> int``), imported only here."""
    import importlib

    try:
        knowledge_commands = importlib.import_module(KNOWLEDGE_MODULE)
    except ModuleNotFoundError as error:
        if error.name != KNOWLEDGE_MODULE:
            raise
        print(f"{PROG} knowledge: not available in this installation "
              f"({KNOWLEDGE_MODULE} is missing).", file=sys.stderr)
        return 2
    parser = _Parser(prog=f"{PROG} knowledge",
                     description="Import or generate item knowledge for a dataset.")
    knowledge_commands.add_arguments(parser)
    args = parser.parse_args(argv)
    from recbole_llmkg.errors import LLMKGError

    try:
        return int(knowledge_commands.run(args))
    except LLMKGError as error:
        print(f"{PROG} knowledge: error: {error}", file=sys.stderr)
        return 2


def require_bench_packages() -> None:
    """Stop at once, in one line, when the ``[bench]`` extra is not installed."""
    from recbole_llmkg.errors import ConfigError
    from recbole_llmkg.registry import missing

    absent = missing(BENCH_PACKAGES)
    if absent:
        raise ConfigError(f"the benchmark needs {', '.join(absent)} (not installed): "
                          f"{BENCH_INSTALL}")


def _benchmark(args: argparse.Namespace, overrides: list[str]) -> int:
    """Run a board (or rewrite the README's leaderboard section): 1 when any run failed."""
    require_bench_packages()
    if args.write_readme:
        from recbole_llmkg.benchmark.readme import write_readme

        print(f"rewrote the leaderboard section of {write_readme(args.board)}")
        return 0
    from recbole_llmkg.benchmark.runner import run_benchmark

    try:
        summary = run_benchmark(args.board, profile=args.profile, rerun=args.rerun,
                                cmd_args=overrides, ray_address=args.ray_address,
                                report_only=args.report, allow_dirty=args.allow_dirty,
                                overwrite=args.overwrite)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished runs are saved and the same command "
              "resumes", file=sys.stderr)
        return 130
    if summary.failed:
        print(f"{PROG}: {len(summary.failed)} run(s) failed:", file=sys.stderr)
        for line in summary.failure_lines():
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def _train(args: argparse.Namespace, overrides: list[str]) -> int:
    """Train and test one model (data-parallel with --nproc / --world_size); print metrics."""
    config_files = args.config_files.strip().split() if args.config_files else None
    from recbole_llmkg.config.preflight import preflight

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
        if metrics is None:  # eval_step <= 0: RecBole trains without validation
            print(f"{label}: none (eval_step <= 0: trained without validation; the test "
                  "scores the last epoch)")
            continue
        print(f"{label}: " + "  ".join(f"{k}={float(v):.4f}" for k, v in metrics.items()))
    return 0


# ------------------------------------------------------------------------------- recommend
RECOMMEND_HELP = ("Top-k items from a trained model's checkpoint. Ids are the dataset's own (as in "
                  "its .inter file); the user's training items are left out unless --include-seen.")


def add_recommend_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``recommend`` subcommand's options."""
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
    parser.add_argument("--trust-module", action="append", default=[], metavar="MODULE",
                        help="a module that may be imported to find the checkpoint's model class "
                        "(your own model outside the package; repeatable). The plugin's, "
                        "RecBole's and entry-point models need none")


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
    from recbole_llmkg.serve.query import DEFAULT_QUERY_WEIGHT, check_weight
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
    # checked before the model and its text encoder load (seconds), not after
    weight = check_weight(DEFAULT_QUERY_WEIGHT if args.query_weight is None
                          else args.query_weight)
    if args.output:
        check_output_file(args.output)
    rec = Recommender.load(args.checkpoint, device=args.device, data_path=args.data_path,
                           trusted_modules=args.trust_module)
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


def check_output_file(output: str) -> None:
    """``--output`` names a file in a folder that takes files: an error before any work."""
    import os

    from recbole_llmkg.errors import ServeError
    from recbole_llmkg.files import ensure_writable_folder

    if os.path.isdir(output):
        raise ServeError(f"--output '{output}' is a folder: give a file name, e.g. "
                         f"{os.path.join(output, 'recommendations.jsonl')}.")
    ensure_writable_folder(os.path.dirname(os.path.abspath(output)),
                           "Choose another --output file.")


def _recommend(args: argparse.Namespace, _: list[str]) -> int:
    """Serve a checkpoint: print (or write with -o) its recommendations."""
    text = run_recommend(args)
    if args.output:
        from recbole_llmkg.files import write_text_atomic

        write_text_atomic(args.output, text + "\n")
    else:
        print(text)
    return 0


# subcommand -> (one-line summary, options, what it runs)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace, list[str]], int]]] = {
    "train": ("train and test one model (the default without a subcommand)",
              _add_train_arguments, _train),
    "bench": ("run a leaderboard file (needs the [bench] extra)", _add_bench_arguments,
              _benchmark),
    "recommend": (RECOMMEND_HELP, add_recommend_arguments, _recommend),
    "models": ("list every model name: plugin, installed packages', RecBole's",
               _no_arguments, lambda args, overrides: _list_models()),
    "knowledge": ("import or generate item knowledge (knowledge --help)",
                  _add_knowledge_arguments, lambda args, overrides: 2),
}
