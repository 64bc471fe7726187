"""The board as text: ``leaderboard.md`` (Markdown) and ``runs.csv`` / ``runs.jsonl`` /
``aggregate.csv``, written from the rows of :mod:`recbole_llmkg.benchmark.rows`.

``leaderboard.md``: one table per dataset x protocol x table kind, each sorted by the headline
mean, the plugin's own models marked, its test set stated, runs at their epoch cap flagged, and
under the main table each model against the best baseline with paired tests; the targets first.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recbole_llmkg.benchmark.rows import (
    CANNOT_RANK_UNSEEN,
    CAP_MARK,
    OURS_MARK,
    TABLE_TITLES,
    VERSION_KEYS,
    MixedTestSetError,
    ModelRow,
    aggregate_rows,
    curves,
    group,
    known_label,
    mean_std,
    metric_columns,
    one_line,
    profile_blends,
    random_order_floor,
    ranks_cold_items_alone,
    runs_rows,
    test_set_lines,
    test_sets,
    vacuous_metrics,
)
from recbole_llmkg.benchmark.spec import BenchmarkSpec, RunSpec
from recbole_llmkg.benchmark.store import Rerun
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.files import write_text_atomic

FALLBACK_MARK = "†"  # a shared fallback scorer's numbers under a model's name


def cold_user_curve_lines(spec: BenchmarkSpec, plan: list[RunSpec],
                          records: dict[str, dict[str, Any]]) -> list[str]:
    """Per dataset x cold-user protocol x table: the headline against ``n`` (the curve)."""
    from recbole_llmkg.benchmark.cold_user import KNOWN_COUNTS

    lines: list[str] = []
    for (dataset, slug, kind), by_n in curves(spec, plan, records).items():
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
        lines += slice_lines(rows)
        if sets:
            lines += ["Test set (every row of this table, per seed):", *test_set_lines(sets), ""]
        # cold_item: the share of top-k slots cold items take when every item competes
        shares = sorted({key for row in rows for r in row.ok for key in r
                         if key.startswith("cold_share@")})
        vacuous = vacuous_metrics(rows)

        def metric_cell(row: ModelRow, column: str, vacuous: dict[str, str] = vacuous) -> str:
            if column.split("@")[0].lower() in vacuous:
                return "n/a"
            return _cell(row.values("test", column.lower()))

        header = ["#", "model", *columns,
                  *[f"cold in top-{key.split('@')[1]} (all items)" for key in shares],
                  f"valid {spec.headline}", "config", "best epoch",
                  "at cap", "s/epoch", "fit s", "test eval s", "wall s", "peak RSS MB",
                  "params", "seeds ok"]
        lines += _table(header, rows, lambda row, shares=shares: [
            *[metric_cell(row, c) for c in columns],
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
                metric_cell(row, c) for c in others])
        lines += not_ranked_lines(rows, vacuous, spec.headline)
        blends = profile_blends(rows, protocol)
        if blends:
            lines += ["- Profile blend at n >= 1 (fold-in scores z-blended with the profile "
                      "text's cosine to the item texts, weight on the cosine): "
                      + "; ".join(f"{label}: {w}" for label, w in blends.items()) + ".", ""]
        if kind == "main":
            lines += significance_lines(rows, spec.headline_key)
        if kind == "ablation":
            lines += ablation_lines(rows, grouped.get((dataset, protocol, "main"), []),
                                    spec.headline_key)
    return "\n".join(lines)


def slice_lines(rows: list[ModelRow]) -> list[str]:
    """What a table of a slice of the test users (:mod:`~recbole_llmkg.benchmark.slices`) is."""
    sliced = next((r["slice"] for row in rows for r in row.ok if r.get("slice")), None)
    if sliced is None:
        return []
    return [f"Sparse users: the test users with at most {sliced['max_train_interactions']} "
            "interactions in the seed's training part, where behaviour alone says little. Each "
            "run of the table above is re-read on them: its test metrics are the means over "
            "these users of its stored per-user values (so tests and intervals pair the same "
            "users); the valid and cost columns are the whole run's.", ""]


def not_ranked_lines(rows: list[ModelRow], vacuous: dict[str, str], headline: str
                     ) -> list[str]:
    """What the table's n/a cells, unranked rows and random-order floor mean."""
    reasons: dict[str, list[str]] = {}  # one line per reason, naming its metrics
    for name, why in sorted(vacuous.items()):
        reasons.setdefault(why, []).append(name)
    lines = [f"n/a ({', '.join(names)}): {why}." for why, names in reasons.items()]
    unseen = [row.label for row in rows if row.not_ranked == CANNOT_RANK_UNSEEN]
    if unseen:
        lines.append(f"'{CANNOT_RANK_UNSEEN}': {', '.join(unseen)} score items by training "
                     "interactions or ID vectors only; a never-seen item has none, so these rows "
                     "order the cold candidates by ties or untrained vectors. They are not ranked "
                     "or tested here.")
    fallback = [row for row in rows if row.not_ranked and row.not_ranked != CANNOT_RANK_UNSEEN]
    if fallback:
        lines.append(f"{FALLBACK_MARK} {fallback[0].not_ranked}: one scorer, shown under each "
                     "name but not ranked or tested as any of them.")
    k = int(headline.split("@")[1])
    floors = random_order_floor(rows, k) if ranks_cold_items_alone(rows) and \
        headline.upper().startswith("NDCG") else {}
    if floors:
        values = [f["floor"] for f in floors.values()]
        mean, std = mean_std(values)
        recovered = sum(f["recovered"] for f in floors.values())
        users = sum(f["users"] for f in floors.values())
        lines.append(
            f"Floor: a random order of the {next(iter(floors.values()))['candidates']} cold "
            f"candidates scores {headline} {mean:.4f}" + (f" ± {std:.4f}" if std else "")
            + f" (per seed: {', '.join(f'{v:.4f}' for v in values)}), computed exactly per "
            f"user: (r / C) x sum over ranks i <= {k} of 1/log2(i+1), over IDCG(min(r, {k})), "
            f"C the cold items, r the user's relevant test items, read from the stored per-user "
            f"precision and recall at the largest cut-off ({recovered} of {users} user-seeds; "
            "the rest, with no hit in any row, share the seed's remaining test interactions).")
    return [*[f"- {line}" for line in lines], ""] if lines else []


def targets_lines(spec: BenchmarkSpec, plan: list[RunSpec],
                  records: dict[str, dict[str, Any]]) -> list[str]:
    """Per dataset, the board's ``targets`` checked on its main tables (nothing without any)."""
    from recbole_llmkg.benchmark.targets import check_targets, targets_markdown

    if not spec.targets:
        return []
    grouped = group(spec, plan, records)
    lines: list[str] = []
    for dataset in spec.datasets:
        mains: dict[str, list[ModelRow]] = {}  # protocol -> its main rows, then its ablations
        for kind in ("main", "ablation"):
            for (name, protocol, table), rows in grouped.items():
                if name == dataset and table == kind:
                    mains.setdefault(protocol, []).extend(rows)
        rows = check_targets(spec.targets, mains, spec.headline_key)
        lines += [f"## {dataset} · targets", "", *targets_markdown(rows, spec.headline_key)]
    return lines


ABLATION_VERDICTS = {"lose": "the part helps", "not shown": "help not shown"}
USERS_TEST = ("Wilcoxon signed-rank over users (each user's difference averaged over the seeds "
              "that tested it: each user once)")
GAIN_CI = ("rel. gain with its 95% bootstrap interval (users resampled, 2,000 draws, fixed seed "
           "0)")


def ablation_lines(rows: list[ModelRow], main_rows: list[ModelRow], metric: str) -> list[str]:
    """Each ablation row against its full model (the main-table row of the same model name),
    on the same seeds' test users: the evidence each README model paragraph cites."""
    from recbole_llmkg.benchmark import significance

    full = {row.label: row for row in main_rows}
    table = []
    for row in rows:
        parent = full.get(row.model)
        if row.not_ranked or (parent is not None and parent.not_ranked):
            continue
        compared = (significance.compare(row.per_user(), parent.per_user(), metric,
                                         alternative="less")
                    if parent is not None else None)
        if compared is not None:
            table.append({"model": row.label, "baseline": parent.label, **compared})
    if not table:
        return []
    significance.add_verdicts(table)
    for entry in table:
        entry["verdict"] = ABLATION_VERDICTS.get(entry["verdict"], entry["verdict"])
    return [f"Each ablation against its full model ({metric.upper()}, the same seeds' test "
            f"users). The claim is one-sided ('the part helps': the ablated model scores below "
            f"the full one), so both tests are one-sided: {USERS_TEST} and paired t over seed "
            f"means, both Holm-corrected over this table; 'the part helps' with both p < 0.05 "
            f"and >= 5 seeds, else 'help not shown'. {GAIN_CI}.", "",
            significance.table_markdown(table, against="full model")]


def significance_lines(rows: list[ModelRow], metric: str) -> list[str]:
    """Each model of a main table against its best baseline, from the per-user metrics."""
    from recbole_llmkg.benchmark import significance

    rows = [row for row in rows if not row.not_ranked]  # their numbers are not their ranking
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
            f"), either direction (two-sided): {USERS_TEST} and paired t over seed means, both "
            f"Holm-corrected; win/lose only with >= 5 seeds and both p < 0.05. {GAIN_CI}.", "",
            significance.table_markdown(table)]


def _table(header: list[str], rows: list[ModelRow], cells: Any) -> list[str]:
    """A markdown table: rank and model name, ``cells(row)``, then seeds ok/planned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    rank = 0
    for row in rows:
        name = f"{OURS_MARK} **{row.label}**" if row.ours else row.label
        seeds = f"{len(row.ok)}/{row.planned}"
        unknown = [r for r in row.failed if r.get("status") == "n/a"]  # a view not computable
        if len(row.failed) > len(unknown):
            seeds += f" ({len(row.failed) - len(unknown)} failed)"
        if unknown:
            seeds += f" ({len(unknown)} n/a)"
        if row.ok and row.not_ranked == CANNOT_RANK_UNSEEN:
            body = ["–", name, CANNOT_RANK_UNSEEN, *[""] * (len(header) - 4), seeds]
        elif row.ok and row.not_ranked:
            body = ["–", f"{name} {FALLBACK_MARK}", *cells(row), seeds]
        elif row.ok:
            rank += 1
            body = [str(rank), name, *cells(row), seeds]
        else:
            error = (row.failed[0].get("error") or {}) if row.failed else {}
            if row.failed and row.failed[0].get("status") == "n/a":
                reason = f"n/a: {one_line(error.get('message', ''), 400)}"
            elif row.failed:
                reason = (f"failed: {error.get('type', 'Error')}: "
                          f"{one_line(error.get('message', ''))}")
            else:
                reason = f"not run: {one_line(row.skip)}" if row.skip else "not run yet"
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
                     one_line(error.get("message", ""), 300))
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
