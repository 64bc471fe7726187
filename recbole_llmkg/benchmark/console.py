"""What a board prints when it ends: narrow tables, the file it wrote, and how it differs from
the committed board.

The full tables (every metric, cost columns, significance) are in ``leaderboard.md``; the console
gets one short table per (dataset, protocol, table kind) that fits a 100-column terminal: rank,
model, the headline metric, Recall at the headline's cutoff, and wall seconds. A profile (``make
run`` is ``--profile quick``) is not the committed board, so a last line names the committed one
and what this run left out (seeds, protocols, tuning), computed from the two specs.
"""

from __future__ import annotations

import statistics
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recbole_llmkg.benchmark.spec import BenchmarkSpec, RunSpec, load_benchmark

WIDTH = 100  # the widest line this module prints
MODEL_WIDTH = 40  # longer labels are cut with an ellipsis
TABLE_NAMES = {"main": "main", "untuned": "untuned", "ablation": "ablations"}


def console_table(spec: BenchmarkSpec, plan: list[RunSpec],
                  records: Mapping[str, Mapping[str, Any]]) -> str:
    """One narrow table per (dataset, protocol, table kind), best headline mean first.

    A value is the mean over the row's finished seeds; a row with none shows why (skipped,
    failed, not run).
    """
    headline = spec.headline
    recall = f"Recall@{headline.split('@')[1]}"
    tables: dict[tuple[str, str, str], dict[str, list[Any]]] = {}
    for run in plan:
        rows = tables.setdefault((run.dataset, run.protocol.slug, run.model.table), {})
        rows.setdefault(run.model.label, [run.model.skip]).append(records.get(run.key))
    lines: list[str] = []
    for (dataset, protocol, kind), rows in tables.items():
        ranked = sorted((_row(label, entries, headline, recall)
                         for label, entries in rows.items()), key=_rank_key)
        lines += ["", f"{dataset} · {protocol} · {TABLE_NAMES.get(kind, kind)} (test)"]
        header = f"{'rank':>4}  {'model':<{MODEL_WIDTH}}  {headline:>9}  {recall:>9}  " \
                 f"{'seconds':>8}"
        lines += [header, "-" * len(header)]
        for rank, row in enumerate(ranked, start=1):
            lines.append(f"{rank if row['ok'] else '':>4}  {_cut(row['label']):<{MODEL_WIDTH}}  "
                         f"{row['headline']:>9}  {row['recall']:>9}  {row['seconds']:>8}")
    return "\n".join(lines).lstrip("\n")


def _row(label: str, entries: list[Any], headline: str, recall: str) -> dict[str, Any]:
    skip, records = entries[0], entries[1:]
    ok = [r for r in records if r and r.get("status") == "ok"]
    row = {"label": label, "ok": bool(ok), "sort": None}
    if not ok:
        failed = any(r and r.get("status") != "ok" for r in records)
        why = "skipped" if skip else "failed" if failed else "not run"
        return {**row, "headline": why, "recall": "–", "seconds": "–"}
    top = _mean([r.get("test", {}).get(headline.lower()) for r in ok])
    return {**row, "sort": top, "headline": _fmt(top, 4),
            "recall": _fmt(_mean([r.get("test", {}).get(recall.lower()) for r in ok]), 4),
            "seconds": _fmt(_mean([r.get("wall_seconds") for r in ok]), 0)}


def _rank_key(row: Mapping[str, Any]) -> tuple[int, float]:
    return (1, 0.0) if row["sort"] is None else (0, -row["sort"])


def _mean(values: list[Any]) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return statistics.fmean(numbers) if numbers else None


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _cut(label: str) -> str:
    return label if len(label) <= MODEL_WIDTH else label[:MODEL_WIDTH - 1] + "…"


def committed_board_line(spec: BenchmarkSpec) -> str | None:
    """For a profile that writes its own folder: where the committed board is and what this
    run leaves out; None for the board itself."""
    if spec.profile is None or spec.folder == spec.name:
        return None
    base = load_benchmark(spec.path, _board_profile(spec), check_models=False)
    leaderboard = base.results_dir / "leaderboard.md"
    differs = []
    if len(spec.seeds) != len(base.seeds):
        differs.append(f"{_count(len(spec.seeds), 'seed')} instead of {len(base.seeds)}")
    if spec.n_trials < base.n_trials:  # the storage is shared: rows reuse finished studies
        differs.append("no tuning (each row reuses the committed board's best configuration, "
                       "else its defaults)" if spec.n_trials == 0 else
                       f"{spec.n_trials} tuning trials instead of {base.n_trials}")
    left_out = [p.slug for p in base.protocols if p.slug not in {q.slug for q in spec.protocols}]
    if left_out:
        differs.append(f"no {', '.join(left_out)} protocol{'s' if len(left_out) > 1 else ''}")
    rows = len({m.label for m in base.models}) - len({m.label for m in spec.models})
    if rows > 0:
        differs.append(f"{rows} fewer rows")
    what = "; this run differs: " + ", ".join(differs) if differs else ""
    state = "" if leaderboard.is_file() else " (not run yet)"
    return f"The committed board{state}: {leaderboard.as_posix()}{what}."


def _board_profile(spec: BenchmarkSpec) -> str | None:
    """The profile the committed board is run with: ``full`` where the file defines one."""
    import yaml

    raw = yaml.safe_load(Path(spec.path).read_text(encoding="utf-8")) or {}
    return "full" if "full" in (raw.get("profiles") or {}) else None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def console_summary(spec: BenchmarkSpec, plan: list[RunSpec],
                    records: Mapping[str, Mapping[str, Any]], leaderboard: Path | str) -> str:
    """The tables, the file written, and (for a profile) the committed board it is not."""
    notes = [f"Wrote {Path(leaderboard).as_posix()} (every metric, costs and significance).",
             committed_board_line(spec)]
    wrapped = [textwrap.fill(note, WIDTH, break_long_words=False, break_on_hyphens=False)
               for note in notes if note]  # paths stay whole
    return "\n".join([console_table(spec, plan, records), "", *wrapped])
