"""The generated parts of README.md and docs/benchmark.md, so the prose never disagrees with
the committed board.

Two sections, each between markers:

* README.md, ``<!-- summary:start -->`` ... ``<!-- summary:end -->``: at most
  :data:`SUMMARY_ROWS` rows of the board's first protocol's main table (mean test metrics over
  seeds, from the board's ``aggregate.csv``), linking its ``leaderboard.md``;
* docs/benchmark.md, ``<!-- leaderboard:start -->`` ... ``<!-- leaderboard:end -->``: the
  tables of ``leaderboard.md`` itself.

Both read the board's ``full`` profile where it has one (the runner writes its files from the
run records), or, while the board has no results, say plainly that it has not been run.
``python run_recbole_llmkg.py --benchmark properties/benchmark/ml-100k.yaml --write-readme``
rewrites both; a test fails when either disagrees with ``results/``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import yaml

from recbole_llmkg.benchmark.spec import load_benchmark, resolve_path
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.files import write_text_atomic

START = "<!-- leaderboard:start -->"
END = "<!-- leaderboard:end -->"
SUMMARY_START = "<!-- summary:start -->"
SUMMARY_END = "<!-- summary:end -->"
SUMMARY_ROWS = 15  # the README's front page stays short; the rest is one link away
BENCHMARK_DOC = Path("docs") / "benchmark.md"
# leaderboard.md sections that describe one invocation, not the board
SKIPPED_SECTIONS = ("## Unfinished rerun", "## Failed runs")


def repo_root() -> Path:
    """The checkout holding ``results/`` and ``README.md``."""
    return Path(__file__).resolve().parents[2]


def _board(board: str | os.PathLike) -> tuple[object, str | None]:
    """The spec of the committed board (its ``full`` profile where it has one) and that profile."""
    raw = yaml.safe_load(resolve_path(board).read_text(encoding="utf-8")) or {}
    profile = "full" if "full" in (raw.get("profiles") or {}) else None
    return load_benchmark(board, profile, check_models=False), profile


def _committed(board: str | os.PathLike, root: str | os.PathLike | None
               ) -> tuple[object, Path, str, Path]:
    """The committed board's spec, its results folder (relative to the repo), the command that
    produces it, and the repo root."""
    root = Path(root) if root is not None else repo_root()
    spec, profile = _board(board)
    command = f"python run_recbole_llmkg.py --benchmark {_shown(board, root)}" + (
        f" --profile {profile}" if profile else "")
    return spec, Path(spec.output_dir) / spec.folder, command, root


def _not_run(spec, results: Path, command: str) -> str:
    return "\n".join([
        f"**The tuned `{spec.name}` board has not been run yet**: `{results.as_posix()}/` "
        "holds no results, so this section shows no numbers. It is produced by",
        "",
        f"`{command}`",
        "",
        f"({spec.n_trials} tuning trials per main-table row and protocol, "
        f"{len(spec.seeds)} seeds, {len(spec.models)} rows, {len(spec.protocols)} "
        "protocols).",
    ])


def leaderboard_section(board: str | os.PathLike, root: str | os.PathLike | None = None,
                        link_prefix: str = "../") -> str:
    """The generated section of docs/benchmark.md (markers excluded) for the benchmark file
    ``board``; links are relative to the docs folder (``link_prefix``)."""
    spec, results, command, root = _committed(board, root)
    leaderboard = root / results / "leaderboard.md"
    if not leaderboard.is_file():
        return _not_run(spec, results, command)
    text = leaderboard.read_text(encoding="utf-8")
    body = text[text.index("\n## "):] if "\n## " in text else ""
    for heading in SKIPPED_SECTIONS:
        body = body.split(f"\n{heading}")[0]
    body = body.replace("\n## ", "\n### ").strip()
    return "\n".join([
        f"Generated from [`{results.as_posix()}/leaderboard.md`]({link_prefix}"
        f"{results.as_posix()}/leaderboard.md) (its provenance, every metric and the per-run "
        f"records are there), produced by `{command}`.",
        "",
        body,
    ])


def summary_section(board: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """The README's results summary (markers excluded): the first protocol's main table, best
    first, at most :data:`SUMMARY_ROWS` rows, from the board's ``aggregate.csv``."""
    spec, results, command, root = _committed(board, root)
    aggregate = root / results / "aggregate.csv"
    if not aggregate.is_file():
        return _not_run(spec, results, command)
    protocol = spec.protocols[0].slug
    headline = spec.headline.lower()
    recall = f"recall@{headline.split('@')[1]}"
    with aggregate.open(encoding="utf-8", newline="") as file:
        rows = [r for r in csv.DictReader(file)
                if r["protocol"] == protocol and r["table"] == "main" and r.get(
                    f"test_{headline}_mean")]
    rows.sort(key=lambda r: -float(r[f"test_{headline}_mean"]))
    shown = rows[:SUMMARY_ROWS]
    lines = [
        f"`{spec.name}`, `{protocol}` protocol, test set, mean ± std over each row's seeds "
        f"({len(spec.seeds)} planned); ★ = this plugin's models. Every main-table row was tuned "
        f"with the same budget ({spec.n_trials} trials). Full tables (other protocols, "
        f"ablations, significance, costs): [`{results.as_posix()}/leaderboard.md`]"
        f"({results.as_posix()}/leaderboard.md).",
        "",
        f"| # | model | {spec.headline} | Recall@{headline.split('@')[1]} | seeds | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for rank, row in enumerate(shown, start=1):
        mark = " ★" if row["ours"] == "True" else ""
        lines.append(
            f"| {rank} | {row['label']}{mark} | {_mean_std(row, f'test_{headline}')} | "
            f"{_mean_std(row, f'test_{recall}')} | {row['ok']}/{row['planned']} | "
            f"{_number(row.get('wall_seconds_mean'))} |")
    if len(rows) > len(shown):
        left = ", ".join(r["label"] for r in rows[len(shown):])
        lines += ["", f"Not shown (lower): {left}."]
    return "\n".join(lines)


def _mean_std(row: dict[str, str], column: str) -> str:
    mean, std = row.get(f"{column}_mean"), row.get(f"{column}_std")
    if not mean:
        return "–"
    return f"{float(mean):.4f} ± {float(std):.4f}" if std else f"{float(mean):.4f}"


def _number(value: str | None) -> str:
    return f"{float(value):.0f}" if value else "–"


def _shown(board: str | os.PathLike, root: Path) -> str:
    path = Path(board).resolve()
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(board)


def current_section(path: str | os.PathLike, start: str = START, end: str = END) -> str:
    """The text between the markers ``start`` and ``end`` of the file ``path`` (stripped)."""
    text = Path(path).read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise ConfigError(f"{path}: no '{start}' ... '{end}' markers for the generated section.")
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def _replace_section(path: Path, start: str, end: str, section: str) -> None:
    current_section(path, start, end)  # the markers must be there
    text = path.read_text(encoding="utf-8")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    write_text_atomic(path, f"{before}{start}\n{section}\n{end}{after}")


def write_readme(board: str | os.PathLike, readme: str | os.PathLike | None = None,
                 root: str | os.PathLike | None = None) -> Path:
    """Rewrite the README's summary and docs/benchmark.md's leaderboard section (both beside
    ``readme``, default: the checkout's) from the board's results; written atomically.
    Returns the README's path."""
    root = Path(root) if root is not None else repo_root()
    readme = Path(readme) if readme is not None else root / "README.md"
    docs = readme.parent / BENCHMARK_DOC
    summary = summary_section(board, root)
    leaderboard = leaderboard_section(board, root)
    current_section(docs)  # both files must have their markers before either is written
    _replace_section(readme, SUMMARY_START, SUMMARY_END, summary)
    _replace_section(docs, START, END, leaderboard)
    return readme
