"""Leaderboard outputs, rebuilt from the saved run records every time.

``leaderboard.md`` (one table per dataset x protocol x table kind: main, untuned, ablation; each
sorted by the headline mean, the plugin's own models marked, its test set stated, runs at their
epoch cap flagged, and under the main table each model against the best baseline with paired
tests), ``runs.csv`` / ``runs.jsonl`` (one row per run), ``aggregate.csv`` (mean and
std per model), and two PNG charts per table: the headline metric with error bars, and accuracy
against training time. Only runs of the current plan are reported, so a quick profile never
mixes with a full one even though both keep their records in the same ``runs/`` folder.

A table holds one test set per seed: runs of one seed that were evaluated on different split
files (different fingerprints) are never ranked together; the table is replaced by a refusal
that names them (:func:`test_sets`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recbole_llmkg.benchmark.spec import BenchmarkSpec, RunSpec
from recbole_llmkg.benchmark.store import Rerun
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.files import write_atomic, write_text_atomic

OURS_MARK = "★"
CAP_MARK = "⚠"
TABLE_TITLES = {"main": "main table",
                "untuned": "untuned (defaults, early stopping)",
                "ablation": "ablations"}
VERSION_KEYS = ("python", "torch", "recbole", "numpy", "scipy", "pandas", "transformers",
                "recbole_llmkg", "recbole_llmkg_git")
RUN_COLUMNS = (
    "key", "status", "benchmark", "profile", "dataset", "protocol", "protocol_slug", "model",
    "label", "table", "ours", "seed", "split_fingerprint", "eval_batch_size", "best_epoch",
    "epochs", "at_cap", "epochs_run",
    "epoch_seconds_mean", "train_seconds", "build_seconds", "fit_seconds", "eval_seconds",
    "valid_eval_seconds_mean",
    "wall_seconds", "elapsed_seconds", "peak_rss_mb", "rss_method", "peak_gpu_mb", "params",
    "device", "device_name", "threads", "started_at", "finished_at", "invocation", "rerun_id",
    "log_file",
)


@dataclass
class ModelRow:
    """One model's line in one table: its runs aggregated over seeds."""

    label: str
    model: str
    ours: bool
    planned: int
    table: str = "main"
    skip: str | None = None  # the entry's ``skip`` reason: listed, not run
    ok: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def values(self, part: str, metric: str) -> list[float]:
        return [float(r[part][metric]) for r in self.ok
                if isinstance(r.get(part, {}).get(metric), (int, float))]

    def stat(self, name: str) -> list[float]:
        return [float(r[name]) for r in self.ok if isinstance(r.get(name), (int, float))]

    def per_user(self) -> dict[int, Any]:
        """Seed -> per-user test metrics of the finished runs that stored them."""
        from recbole_llmkg.benchmark import significance

        runs = [{**r, "model": self.label} for r in self.ok if r.get("per_user")]
        return significance.group_runs(runs).get(self.label, {})

    def at_cap(self) -> int:
        """Seeds whose best epoch was within 10% of ``epochs`` (they may have stopped early)."""
        return sum(bool(r.get("at_cap")) for r in self.ok)

    def tuning(self) -> str:
        """How the row's configuration was chosen, from its records."""
        tuned = [r.get("tuning") for r in self.ok + self.failed if r.get("tuning")]
        if not tuned:
            return "defaults" if self.table != "main" else "not tuned"
        first = tuned[0]
        if first.get("source") != "tuned":
            return "defaults (no study)"
        return f"{first.get('trials')} trials"


class MixedTestSetError(ConfigError):
    """Runs of one seed in one table were evaluated on different split files."""


def test_sets(rows: list[ModelRow]) -> dict[int, dict[str, Any]]:
    """Seed -> ``{"fingerprint", "counts"}`` of the one split every ok run of that seed used.

    Raises :class:`MixedTestSetError` naming the runs when two fingerprints meet in one seed (or
    a run has none: it was not evaluated on written split files).
    """
    found: dict[int, dict[str, Any]] = {}
    owner: dict[int, str] = {}
    for row in rows:
        for record in row.ok:
            seed, fingerprint = int(record["seed"]), record.get("split_fingerprint")
            if fingerprint is None:
                raise MixedTestSetError(
                    f"run {record.get('key')} ({row.label}, seed {seed}) records no split "
                    "fingerprint (it predates one split per board); redo it with --rerun.")
            if seed not in found:
                found[seed] = {"fingerprint": fingerprint,
                               "counts": (record.get("split") or {}).get("counts", {})}
                owner[seed] = row.label
            elif found[seed]["fingerprint"] != fingerprint:
                raise MixedTestSetError(
                    f"seed {seed}: {row.label} was tested on split {fingerprint[:12]}, "
                    f"{owner[seed]} on {found[seed]['fingerprint'][:12]}; one table ranks one "
                    "test set. Redo the odd runs with --rerun (they then read the board's split).")
    return dict(sorted(found.items()))


def test_set_lines(sets: dict[int, dict[str, Any]]) -> list[str]:
    """What a table was tested on: per seed, the split fingerprint and the test counts."""
    lines = []
    for seed, found in sets.items():
        test = found["counts"].get("test", {})
        lines.append(f"- seed {seed}: split `{found['fingerprint'][:12]}`, test set "
                     f"{test.get('users', '?')} users, {test.get('items', '?')} items, "
                     f"{test.get('interactions', '?')} interactions")
    return lines


def metric_columns(spec: BenchmarkSpec) -> list[str]:
    """``NDCG@10``-style names, headline first, in the file's order otherwise."""
    columns = [f"{m}@{k}" for m in spec.metrics for k in spec.topk]
    columns.remove(spec.headline)
    return [spec.headline, *columns]


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n-1); std is None for fewer than two values."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def group(spec: BenchmarkSpec, plan: list[RunSpec],
          records: dict[str, dict[str, Any]]) -> dict[tuple[str, str, str], list[ModelRow]]:
    """Rows per (dataset, protocol slug, table kind), sorted best headline first, failed-only
    rows last."""
    from recbole.evaluator.register import smaller_metrics

    tables: dict[tuple[str, str, str], dict[str, ModelRow]] = {}
    order = {kind: i for i, kind in enumerate(TABLE_TITLES)}
    for run in sorted(plan, key=lambda r: order.get(r.model.table, 0)):
        for protocol, record in protocol_views(run, records.get(run.key)):
            rows = tables.setdefault((run.dataset, protocol, run.model.table), {})
            row = rows.get(run.model.label)
            if row is None:
                ours = bool(record and record.get("ours"))
                row = rows[run.model.label] = ModelRow(run.model.label, run.model.name, ours, 0,
                                                       run.model.table, run.model.skip)
            row.planned += 1
            if record is not None:
                row.ours = row.ours or bool(record.get("ours"))
                (row.ok if record.get("status") == "ok" else row.failed).append(record)
    headline = spec.headline_key
    smaller = headline.split("@")[0] in smaller_metrics

    def rank(row: ModelRow) -> tuple[int, float]:
        mean, _ = mean_std(row.values("test", headline))
        if mean is None:
            return (1, 0.0)
        return (0, mean if smaller else -mean)

    return {key: sorted(rows.values(), key=rank) for key, rows in tables.items()}


def known_label(slug: str, n: int | str) -> str:
    """The table name of one ``n`` of a cold-user protocol."""
    return f"{slug} · {n} known"


def protocol_views(run: RunSpec, record: dict[str, Any] | None
                   ) -> list[tuple[str, dict[str, Any] | None]]:
    """The (table protocol, record) pairs a run contributes: its own, or for ``cold_user`` one
    per number of known interactions ``n``, each with that ``n``'s test and per-user metrics
    (a model that cannot serve an ``n`` is a failed run of that table, with the reason)."""
    if run.protocol.name != "cold_user":
        return [(run.protocol.slug, record)]
    from recbole_llmkg.benchmark.cold_user import KNOWN_COUNTS

    views = (record or {}).get("cold_user")
    if record is None or record.get("status") != "ok" or not views:
        return [(known_label(run.protocol.slug, n), record) for n in KNOWN_COUNTS]
    out = []
    for n, view in views.items():
        if view["status"] == "ok":
            shown = {**record, "test": view["test"], "per_user": view["per_user"]}
        else:
            shown = {**record, "status": "failed",
                     "error": {"type": "cannot serve", "message": view["status"]}}
        out.append((known_label(run.protocol.slug, n), shown))
    return out


def cold_user_curve_lines(spec: BenchmarkSpec, plan: list[RunSpec],
                          records: dict[str, dict[str, Any]]) -> list[str]:
    """Per dataset x cold-user protocol x table: the headline against ``n`` (the curve)."""
    from recbole_llmkg.benchmark.cold_user import KNOWN_COUNTS

    lines: list[str] = []
    for (dataset, slug, kind), by_n in _curves(spec, plan, records).items():
        lines += [f"## {dataset} · {slug} · {TABLE_TITLES.get(kind, kind)}: {spec.headline} "
                  "against known interactions", "",
                  f"Each held-out user is served from its profile text plus its first n "
                  f"interactions by time and scored on its later ones (the tables "
                  f"'{known_label(slug, 'n')}' above give every metric, test sets and "
                  "significance); n/a: the model cannot serve a user with that little.", ""]
        labels = list(dict.fromkeys(label for rows in by_n.values() for label in rows))
        header = ["model", *[f"n={n}" for n in KNOWN_COUNTS]]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for label in labels:
            cells = [_cell(by_n.get(n, {}).get(label, [])) for n in KNOWN_COUNTS]
            lines.append(f"| {label} | " + " | ".join(c if c != "–" else "n/a" for c in cells)
                         + " |")
        lines.append("")
    return lines


def _curves(spec: BenchmarkSpec, plan: list[RunSpec], records: dict[str, dict[str, Any]]
            ) -> dict[tuple[str, str, str], dict[int, dict[str, list[float]]]]:
    """(dataset, cold-user slug, table) -> n -> label -> test headline per seed."""
    from recbole_llmkg.benchmark.cold_user import KNOWN_COUNTS

    names = {known_label(run.protocol.slug, n): (run.protocol.slug, n)
             for run in plan if run.protocol.name == "cold_user" for n in KNOWN_COUNTS}
    curves: dict[tuple[str, str, str], dict[int, dict[str, list[float]]]] = {}
    for (dataset, protocol, kind), rows in group(spec, plan, records).items():
        if protocol in names:
            slug, n = names[protocol]
            curves.setdefault((dataset, slug, kind), {})[n] = {
                row.label: row.values("test", spec.headline_key) for row in rows}
    return curves


def _cell(values: list[float], digits: int = 4) -> str:
    mean, std = mean_std(values)
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _number(values: list[float], digits: int = 1) -> str:
    mean, _ = mean_std(values)
    return "–" if mean is None else f"{mean:,.{digits}f}"


def tables_markdown(spec: BenchmarkSpec, plan: list[RunSpec],
                    records: dict[str, dict[str, Any]]) -> str:
    """The leaderboard tables alone (what the command prints at the end).

    Per dataset x protocol: every metric at the headline's cutoff plus cost columns, then (when
    ``topk`` has more cutoffs) the same models at the other cutoffs.
    """
    headline_k = spec.headline.split("@")[1]
    columns = [c for c in metric_columns(spec) if c.split("@")[1] == headline_k]
    others = [c for c in metric_columns(spec) if c.split("@")[1] != headline_k]
    lines: list[str] = []
    grouped = group(spec, plan, records)
    for (dataset, protocol, kind), rows in grouped.items():
        lines += [f"## {dataset} · {protocol} · {TABLE_TITLES.get(kind, kind)}", ""]
        try:
            sets = test_sets(rows)
        except MixedTestSetError as error:
            lines += [f"**Table refused: {error}**", ""]
            continue
        if sets:
            lines += ["Test set (every row of this table, per seed):", *test_set_lines(sets), ""]
        # cold_item: the share of top-k slots cold items take when every item competes
        shares = sorted({key for row in rows for r in row.ok for key in r
                         if key.startswith("cold_share@")})
        header = ["#", "model", *columns,
                  *[f"cold in top-{key.split('@')[1]} (all items)" for key in shares],
                  f"valid {spec.headline}", "config", "best epoch",
                  "at cap", "s/epoch", "fit s", "test eval s", "wall s", "peak RSS MB",
                  "params", "seeds ok"]
        lines += _table(header, rows, lambda row, shares=shares: [
            *[_cell(row.values("test", c.lower())) for c in columns],
            *[_cell(row.stat(key)) for key in shares],
            _cell(row.values("valid", spec.headline_key)),
            row.tuning(),
            _number(row.stat("best_epoch")),
            f"{CAP_MARK} {row.at_cap()}/{len(row.ok)}" if row.at_cap() else "no",
            _number(row.stat("epoch_seconds_mean"), 2),
            _number(row.stat("fit_seconds"), 2),
            _number(row.stat("eval_seconds"), 2),
            _number(row.stat("wall_seconds")),
            _number(row.stat("peak_rss_mb"), 0),
            f"{int(row.stat('params')[0]):,}" if row.stat("params") else "–",
        ])
        if others:
            lines += [f"Other cutoffs ({dataset} · {protocol}, test):", ""]
            lines += _table(["#", "model", *others, "seeds ok"], rows, lambda row: [
                _cell(row.values("test", c.lower())) for c in others])
        if kind == "main":
            lines += significance_lines(rows, spec.headline_key)
        if kind == "ablation":
            lines += ablation_lines(rows, grouped.get((dataset, protocol, "main"), []),
                                    spec.headline_key)
    return "\n".join(lines)


def targets_lines(spec: BenchmarkSpec, plan: list[RunSpec],
                  records: dict[str, dict[str, Any]]) -> list[str]:
    """Per dataset, the board's ``targets`` checked on its main tables (nothing without any)."""
    from recbole_llmkg.benchmark.targets import check_targets, targets_markdown

    if not spec.targets:
        return []
    grouped = group(spec, plan, records)
    lines: list[str] = []
    for dataset in spec.datasets:
        mains = {protocol: rows for (name, protocol, kind), rows in grouped.items()
                 if name == dataset and kind == "main"}
        rows = check_targets(spec.targets, mains, spec.headline_key)
        lines += [f"## {dataset} · targets", "", *targets_markdown(rows, spec.headline_key)]
    return lines


ABLATION_VERDICTS = {"lose": "the part helps", "win": "the part hurts",
                     "tie": "no significant effect"}


def ablation_lines(rows: list[ModelRow], main_rows: list[ModelRow], metric: str) -> list[str]:
    """Each ablation row against its full model (the main-table row of the same model name),
    on the same seeds' test users: the evidence each README model paragraph cites."""
    from recbole_llmkg.benchmark import significance

    full = {row.label: row for row in main_rows}
    table = []
    for row in rows:
        parent = full.get(row.model)
        compared = (significance.compare(row.per_user(), parent.per_user(), metric)
                    if parent is not None else None)
        if compared is not None:
            table.append({"model": row.label, "baseline": parent.label, **compared})
    if not table:
        return []
    significance.add_verdicts(table)
    for entry in table:
        entry["verdict"] = ABLATION_VERDICTS.get(entry["verdict"], entry["verdict"])
    return [f"Each ablation against its full model ({metric.upper()}, the same seeds' test "
            "users): Wilcoxon signed-rank over users (pooled over seeds) and paired t over seed "
            "means, both Holm-corrected over this table; 'the part helps' when the ablated "
            "model loses with both p < 0.05 and >= 5 seeds.", "",
            significance.table_markdown(table, against="full model")]


def significance_lines(rows: list[ModelRow], metric: str) -> list[str]:
    """Each model of a main table against its best baseline, from the per-user metrics."""
    from recbole_llmkg.benchmark import significance

    runs = [{**r, "model": row.label} for row in rows for r in row.ok if r.get("per_user")]
    baselines = {row.label for row in rows if significance.is_baseline(row.model)}
    if len({r["model"] for r in runs}) < 2 or not baselines & {r["model"] for r in runs}:
        return []
    try:
        table = significance.significance_table(runs, baselines, metric=metric)
    except ConfigError as error:
        return [f"Significance not computed: {error}", ""]
    if not table:
        return []
    return [f"Significance of {metric.upper()} against the best baseline ({table[0]['baseline']}"
            "): Wilcoxon signed-rank over users (pooled over seeds) and paired t over seed "
            "means, both Holm-corrected; win/lose only with >= 5 seeds and both p < 0.05.", "",
            significance.table_markdown(table)]


def _table(header: list[str], rows: list[ModelRow], cells: Any) -> list[str]:
    """A markdown table: rank and model name, ``cells(row)``, then seeds ok/planned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    rank = 0
    for row in rows:
        name = f"{OURS_MARK} **{row.label}**" if row.ours else row.label
        seeds = f"{len(row.ok)}/{row.planned}"
        if row.failed:
            seeds += f" ({len(row.failed)} failed)"
        if row.ok:
            rank += 1
            body = [str(rank), name, *cells(row), seeds]
        else:
            error = (row.failed[0].get("error") or {}) if row.failed else {}
            if row.failed:
                reason = (f"failed: {error.get('type', 'Error')}: "
                          f"{_one_line(error.get('message', ''))}")
            else:
                reason = f"not run: {_one_line(row.skip)}" if row.skip else "not run yet"
            body = ["–", name, reason, *[""] * (len(header) - 4), seeds]
        lines.append("| " + " | ".join(body) + " |")
    return [*lines, ""]


def leaderboard_markdown(spec: BenchmarkSpec, plan: list[RunSpec],
                         records: dict[str, dict[str, Any]], command: str,
                         rerun: Rerun | None = None) -> str:
    """The whole leaderboard.md: provenance, tables, an unfinished rerun, the failures."""
    current = [records[r.key] for r in plan if r.key in records]
    title = f"# Leaderboard: {spec.name}" + (f" (profile {spec.profile})" if spec.profile else "")
    lines = [title, ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    lines += [
        *_provenance(spec, plan, current, command),
        "",
        f"Test-set mean ± sample std over seeds (no ± with one seed); sorted by "
        f"{spec.headline}. {OURS_MARK} marks this plugin's own models. s/epoch: mean training "
        "epoch; fit s: model construction (where closed-form models fit) plus all training "
        "epochs; test eval s: the test evaluation; wall s: config to test result, data loading "
        "and validation included; peak RSS: the run's process (the whole runner process in "
        "inline mode).",
        "",
        *targets_lines(spec, plan, records),
        tables_markdown(spec, plan, records),
        *cold_user_curve_lines(spec, plan, records),
    ]
    if rerun is not None:
        lines += _rerun_section(plan, records, rerun, command)
    failed = [r for r in current if r.get("status") != "ok"]
    if failed:
        lines += _failures_section(failed)
    return "\n".join(lines)


def _provenance(spec: BenchmarkSpec, plan: list[RunSpec], current: list[dict[str, Any]],
                command: str) -> list[str]:
    """Command, date, device, versions, settings and run counts."""
    ok = [r for r in current if r.get("status") == "ok"]
    saved = {r.get("key") for r in current}
    listed_only = sum(1 for run in plan if run.model.skip and run.key not in saved)
    devices = _distinct(
        f"{r.get('device')} ({r.get('device_name')}, {r.get('threads')} torch threads)"
        for r in ok
    )
    return [
        f"- Command: `{command}`",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Device: {devices or 'n/a'}",
        f"- Versions: {_versions(ok)}",
        f"- Seeds {spec.seeds}; topk {spec.topk}; valid metric {spec.valid_metric} (early "
        f"stopping / best epoch); eval_batch_size {spec.eval_batch_size} (fixed for every run).",
        f"- Runs: {len(plan)} planned, {len(ok)} ok, {len(current) - len(ok)} failed, "
        f"{len(plan) - len(current) - listed_only} not run"
        + (f", {listed_only} of rows listed with `skip:` (not run; the reason is in the row)."
           if listed_only else "."),
    ]


def _rerun_section(plan: list[RunSpec], records: dict[str, dict[str, Any]], rerun: Rerun,
                   command: str) -> list[str]:
    """The runs an unfinished ``--rerun`` has not redone yet: they are from an older attempt."""
    older = rerun.older((run.key for run in plan), records)
    if not older:
        return []
    finish = command if "--rerun" in command.split() else f"{command} --rerun"
    lines = ["## Unfinished rerun", "",
             f"`--rerun` {rerun.id} (started {rerun.started_at}) has not finished: "
             f"{len(older)} of {len(plan)} runs above are still from an older attempt (finished "
             f"before it). `{finish}` redoes only these.", ""]
    for key in older:
        record = records[key]
        lines.append(f"- {record.get('label')} {record.get('dataset')} seed={record.get('seed')} "
                     f"{record.get('protocol_slug')}: finished {record.get('finished_at')}, "
                     f"`{key}`")
    return [*lines, ""]


def _failures_section(failed: list[dict[str, Any]]) -> list[str]:
    """Failed runs grouped by model and error, with their logs and traceback."""
    lines = ["## Failed runs", "", "Failed runs are retried by the next invocation.", ""]
    by_error: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for record in failed:
        error = record.get("error") or {}
        signature = (str(record.get("label")), str(error.get("type", "Error")),
                     _one_line(error.get("message", ""), 300))
        by_error.setdefault(signature, []).append(record)
    for (label, kind, message), same in by_error.items():
        first = same[0]
        logs = [f"`{r['log_file']}`" for r in same if r.get("log_file")]
        lines += [
            f"- **{label}**, {len(same)} run(s): **{kind}**: {message}",
            "  runs: " + ", ".join(f"`{r['key']}`" for r in same),
        ]
        if logs:
            lines.append(f"  logs: {', '.join(logs)}")
        traceback = str((first.get("error") or {}).get("traceback", "")).splitlines()
        lines += ["", "  ```", *[f"  {line}" for line in traceback], "  ```", ""]
    return lines


def runs_rows(spec: BenchmarkSpec, plan: list[RunSpec],
              records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per saved run of the plan, for runs.csv."""
    metrics = [c.lower() for c in metric_columns(spec)]
    rows = []
    for run in plan:
        record = records.get(run.key)
        if record is None:
            continue
        row = {column: record.get(column) for column in RUN_COLUMNS}
        row["label"] = run.model.label
        for part in ("test", "valid"):
            for metric in metrics:
                row[f"{part}_{metric}"] = (record.get(part) or {}).get(metric)
        for name in VERSION_KEYS:
            row[f"version_{name}"] = (record.get("versions") or {}).get(name)
        error = record.get("error") or {}
        row["error_type"] = error.get("type")
        row["error_message"] = _one_line(error.get("message", ""), 500) or None
        row["model_config"] = json.dumps(record.get("model_config") or {}, sort_keys=True)
        row["protocol_info"] = json.dumps(record.get("protocol_info") or {}, sort_keys=True)
        rows.append(row)
    return rows


def aggregate_rows(spec: BenchmarkSpec, plan: list[RunSpec],
                   records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std per (dataset, protocol, model), for aggregate.csv and the charts."""
    rows = []
    for (dataset, protocol, kind), models in group(spec, plan, records).items():
        for row in models:
            out: dict[str, Any] = {"dataset": dataset, "protocol": protocol, "table": kind,
                                   "label": row.label, "model": row.model, "ours": row.ours,
                                   "planned": row.planned, "ok": len(row.ok),
                                   "failed": len(row.failed)}
            for part in ("test", "valid"):
                for column in metric_columns(spec):
                    mean, std = mean_std(row.values(part, column.lower()))
                    out[f"{part}_{column.lower()}_mean"] = mean
                    out[f"{part}_{column.lower()}_std"] = std
            for stat in ("best_epoch", "epoch_seconds_mean", "train_seconds", "fit_seconds",
                         "eval_seconds",
                         "wall_seconds", "peak_rss_mb", "peak_gpu_mb", "params"):
                out[f"{stat}_mean"], out[f"{stat}_std"] = mean_std(row.stat(stat))
            rows.append(out)
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def write_tables(spec: BenchmarkSpec, plan: list[RunSpec], records: dict[str, dict[str, Any]],
                 results_dir: Path, command: str,
                 rerun: Rerun | None = None) -> dict[str, Path]:
    """leaderboard.md, runs.csv, runs.jsonl, aggregate.csv (each written atomically)."""
    outputs = {
        "leaderboard": results_dir / "leaderboard.md",
        "runs_csv": results_dir / "runs.csv",
        "runs_jsonl": results_dir / "runs.jsonl",
        "aggregate_csv": results_dir / "aggregate.csv",
    }
    write_text_atomic(outputs["leaderboard"],
                      leaderboard_markdown(spec, plan, records, command, rerun))
    write_text_atomic(outputs["runs_csv"], _csv(runs_rows(spec, plan, records)))
    jsonl = "".join(json.dumps({k: v for k, v in records[r.key].items() if k != "per_user"},
                               sort_keys=True, default=str) + "\n"
                    for r in plan if r.key in records)  # per-user values stay in runs/*.json
    write_text_atomic(outputs["runs_jsonl"], jsonl)
    write_text_atomic(outputs["aggregate_csv"], _csv(aggregate_rows(spec, plan, records)))
    return outputs


def write_all(spec: BenchmarkSpec, plan: list[RunSpec], records: dict[str, dict[str, Any]],
              results_dir: Path, command: str, rerun: Rerun | None = None,
              charts: bool = True) -> dict[str, Path]:
    """The tables, plus the charts of every dataset x protocol."""
    outputs = write_tables(spec, plan, records, results_dir, command, rerun)
    if charts:
        outputs.update(write_charts(spec, plan, records, results_dir))
    return outputs


def write_charts(spec: BenchmarkSpec, plan: list[RunSpec], records: dict[str, dict[str, Any]],
                 results_dir: Path) -> dict[str, Path]:
    """Per dataset x protocol: headline bars with std error bars, and accuracy vs train time."""
    outputs: dict[str, Path] = {}
    headline = spec.headline_key
    for (dataset, protocol, kind), rows in group(spec, plan, records).items():
        rows = [r for r in rows if r.values("test", headline)]
        if not rows:
            continue
        slug = _safe(f"{dataset}__{protocol}" + ("" if kind == "main" else f"__{kind}"))
        path = results_dir / f"{slug}__{_safe(spec.headline)}.png"
        _headline_chart(spec, rows, f"{spec.name}: {dataset} · {protocol}", path)
        outputs[f"chart_headline_{slug}"] = path
        path = results_dir / f"{slug}__accuracy_vs_time.png"
        _time_chart(spec, rows, f"{spec.name}: accuracy vs training time ({dataset} · {protocol})",
                    path)
        outputs[f"chart_time_{slug}"] = path
    for (dataset, slug, kind), by_n in _curves(spec, plan, records).items():
        name = _safe(f"{dataset}__{slug}" + ("" if kind == "main" else f"__{kind}")) + "__curve"
        path = results_dir / f"{name}.png"
        _curve_chart(spec, by_n, f"{spec.name}: {dataset} · {slug}: new users", path)
        outputs[f"chart_curve_{name}"] = path
    return outputs


def _curve_chart(spec: BenchmarkSpec, by_n: dict[int, dict[str, list[float]]], title: str,
                 path: Path) -> None:
    """The headline against known interactions, one line (mean ± std) per model."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    labels = list(dict.fromkeys(label for rows in by_n.values() for label in rows))
    for label in labels:
        points = [(n, *mean_std(rows.get(label, []))) for n, rows in sorted(by_n.items())]
        points = [(n, mean, std or 0.0) for n, mean, std in points if mean is not None]
        if points:
            ns, means, stds = zip(*points, strict=True)
            axes.errorbar(ns, means, yerr=stds, marker="o", capsize=3, label=label)
    axes.set_xticks(sorted(by_n))
    axes.set_xlabel("known interactions of the held-out user (first n by time)")
    axes.set_ylabel(f"test {spec.headline} on its later interactions")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def _headline_stats(spec: BenchmarkSpec, rows: list[ModelRow]) -> tuple[list[float],
                                                                         list[float]]:
    """Mean and std (0 for one seed) of the test headline per row."""
    values = [mean_std(r.values("test", spec.headline_key)) for r in rows]
    return [mean for mean, _ in values], [std or 0.0 for _, std in values]


def _colours(rows: list[ModelRow]) -> list[str]:
    return ["tab:orange" if r.ours else "tab:blue" for r in rows]


def _headline_chart(spec: BenchmarkSpec, rows: list[ModelRow], title: str, path: Path) -> None:
    """Horizontal bars of the test headline, best on top, with std error bars."""
    from matplotlib.figure import Figure  # Figure + savefig uses Agg: no display needed

    means, stds = _headline_stats(spec, rows)
    figure = Figure(figsize=(7, 0.45 * len(rows) + 1.6))
    axes = figure.subplots()
    positions = list(range(len(rows)))[::-1]
    axes.barh(positions, means, xerr=stds, color=_colours(rows), capsize=3)
    axes.set_yticks(positions, [f"{OURS_MARK} {r.label}" if r.ours else r.label for r in rows])
    axes.set_xlabel(f"test {spec.headline} (mean ± std over seeds)")
    _legend(axes, rows)
    axes.set_title(title)
    figure.tight_layout()
    _save(figure, path)


def _time_chart(spec: BenchmarkSpec, rows: list[ModelRow], title: str, path: Path) -> None:
    """Test headline against fit time (log scale), one labelled point per model."""
    from matplotlib.figure import Figure

    means, stds = _headline_stats(spec, rows)
    colours = _colours(rows)
    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    times = [max(mean_std(r.stat("fit_seconds"))[0] or 0.0, 1e-3) for r in rows]
    axes.errorbar(times, means, yerr=stds, fmt="none", ecolor="grey", capsize=3)
    axes.scatter(times, means, c=colours, zorder=3)
    for x, y, row in zip(times, means, rows, strict=True):
        axes.annotate(row.label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("fit time, s: model construction + training epochs "
                    "(mean over seeds, log scale)")
    axes.set_ylabel(f"test {spec.headline}")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    _legend(axes, rows)
    figure.tight_layout()
    _save(figure, path)


def _legend(axes: Any, rows: list[ModelRow]) -> None:
    """Colour key, only when both kinds of model are on the chart."""
    from matplotlib.patches import Patch

    if len({r.ours for r in rows}) == 2:
        axes.legend(handles=[Patch(color="tab:orange", label=f"{OURS_MARK} this plugin"),
                             Patch(color="tab:blue", label="RecBole built-in")],
                    loc="best", fontsize=8)


def _save(figure: Any, path: Path) -> None:
    """PNG written atomically, like every other output."""
    write_atomic(path, lambda file: figure.savefig(file, dpi=110, format="png"))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-")


def _one_line(text: str, limit: int = 160) -> str:
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    first = first.replace("|", "\\|")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _distinct(values: Iterable[str]) -> str:
    return "; ".join(dict.fromkeys(v for v in values if v))


def _versions(records: list[dict[str, Any]]) -> str:
    """Library versions of the runs; a library whose version differed lists every one."""
    if not records:
        return "n/a"
    parts = []
    for name in VERSION_KEYS:
        seen = _distinct(str((r.get("versions") or {}).get(name)) for r in records
                         if (r.get("versions") or {}).get(name))
        parts.append(f"{name} {seen or 'not installed'}")
    return ", ".join(parts)
