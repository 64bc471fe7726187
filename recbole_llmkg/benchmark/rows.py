"""Board rows: run records grouped into one row per model and table, and the flat rows of the CSVs.

A table (dataset x protocol x kind: main, untuned, ablation) holds one :class:`ModelRow` per
model label, its runs aggregated over seeds. A table holds one test set per seed: runs of one
seed that were evaluated on different split files (different fingerprints) are never ranked
together (:func:`test_sets`). Only runs of the current plan are grouped, so a quick profile never
mixes with a full one although both keep their records in the same ``runs/`` folder.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recbole_llmkg.benchmark.spec import BenchmarkSpec, RunSpec
from recbole_llmkg.errors import ConfigError

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
    # why the row's numbers are not this model's ranking (shown instead of a rank; the row is left
    # out of every test): an ID-only model on cold items, or a shared fallback scorer
    not_ranked: str | None = None
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
    data_root = (spec.results_dir / "data").resolve()  # where the runner writes the splits
    for run in sorted(plan, key=lambda r: order.get(r.model.table, 0)):
        for protocol, record in protocol_views(run, records.get(run.key), data_root,
                                               str(spec.path)):
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
            return (2, 0.0)
        return (int(row.not_ranked is not None), mean if smaller else -mean)

    for (_, protocol, _), rows in tables.items():
        mark_not_ranked(list(rows.values()), protocol)
    return {key: sorted(rows.values(), key=rank) for key, rows in tables.items()}


# ----------------------------------------------------------------- rows that rank nothing real
CANNOT_RANK_UNSEEN = "cannot rank unseen items"
# Plugin models read item content unless every key listed here is at its "off" value (the
# ablations switch them so); a model class can say the same with ``content_switches``. A
# RecBole KNOWLEDGE model reads the KG (a cold item keeps its entity links); any other RecBole
# model is ID-only. A plugin model absent here and without the attribute reads content.
CONTENT_SWITCHES: dict[str, dict[str, Any]] = {
    "LLMAugRec": {"llm_alpha": 0.0},
    "KGLLMGNN": {"llm_alpha": 0.0, "use_kg": False},
    "KASimCF": {"text_weight": 0.0, "knowledge_weight": 0.0},
}


def ranks_unseen_items(model: str, config: Mapping[str, Any]) -> bool:
    """Whether ``model`` run with ``config`` can score an item it never saw in training."""
    from recbole.utils import ModelType

    from recbole_llmkg.registry import get_model, own_models

    own = own_models().get(model)
    if own is None:
        try:
            return get_model(model).type == ModelType.KNOWLEDGE
        except (ConfigError, ImportError):  # a name this install cannot resolve: no claim
            return True
    if not getattr(own, "reads_item_content", True):
        return False
    switches = getattr(own, "content_switches", None) or CONTENT_SWITCHES.get(model)
    return not switches or any(config.get(k) != off for k, off in switches.items())


def serves_profile_fallback(model: str) -> bool:
    """Whether a new user with no known item gets the shared profile-text fallback from
    ``model``: :meth:`~recbole_llmkg.serve.Recommender.recommend_new_user` scores such a user by
    the cosine of the profile text to the item texts for every model without a user text tower
    (two-tower family); popularity models serve their one list instead."""
    from recbole_llmkg.registry import own_models
    from recbole_llmkg.serve.families import TWO_TOWER_ATTRIBUTES

    own = own_models().get(model)
    return own is not None and not all(hasattr(own, a) for a in TWO_TOWER_ATTRIBUTES)


def profile_blends(rows: list[ModelRow], protocol: str) -> dict[str, str]:
    """Cold-user ``n >= 1`` tables: label -> the profile blend weight behind the row's numbers,
    for models that read the profile as a request (chosen on validation, or the fixed 0.5 of
    records written before that choice)."""
    if "· " not in protocol or not protocol.endswith(" known") or protocol.endswith("· 0 known"):
        return {}
    out = {}
    for row in rows:
        if not row.ok or not serves_profile_fallback(row.model):
            continue
        chosen = {(r.get("profile_weight") or {}).get("weight") if "profile_weight" in r
                  else "fixed" for r in row.ok}
        out[row.label] = ", ".join(
            "fixed 0.5 (records before the per-model choice)" if w == "fixed"
            else "none (no text space)" if w is None else f"{w:g} (chosen on validation)"
            for w in sorted(chosen, key=str))
    return out


def ranks_cold_items_alone(rows: list[ModelRow]) -> bool:
    """Whether the table is ``cold_item`` with ``candidates: cold`` (only never-seen items
    are ranked at test)."""
    first = next((r for row in rows for r in row.ok), None)
    return first is not None and first.get("protocol") == "cold_item" and \
        (first.get("protocol_params") or {}).get("candidates") == "cold"


# metrics that cannot be computed on a table, by the kind of table: name -> why
VACUOUS_ON_COLD_ITEMS = {
    "averagepopularity": "the candidates are never-seen items, whose training popularity is 0",
    "tailpercentage": "RecBole's tail counter leaves out never-seen items, so every list scores "
                      "0",
}


def vacuous_metrics(rows: list[ModelRow]) -> dict[str, str]:
    """Metric name (lower case, no cut-off) -> why its cells of this table are n/a: on cold
    items alone, or on a slice of the test users (metrics not stored per user)."""
    from recbole_llmkg.benchmark.slices import NOT_PER_USER

    out = dict(VACUOUS_ON_COLD_ITEMS) if ranks_cold_items_alone(rows) else {}
    out.update({name: NOT_PER_USER for row in rows for r in row.ok
                for name in (r.get("slice") or {}).get("not_per_user", ())})
    return out


def mark_not_ranked(rows: list[ModelRow], protocol: str) -> None:
    """Set ``not_ranked`` where a row's numbers are not its own ranking.

    * cold items ranked alone (``cold_item`` with ``candidates: cold``): a model that cannot
      score an unseen item (:func:`ranks_unseen_items`) orders the candidates by ties or by
      untrained vectors: its numbers are a random-order band, not a ranking;
    * a new user with no known item (cold-user ``0 known``): rows of models without a user text
      tower are the shared fallback (the profile text's cosine to the item texts), not each
      model (:func:`serves_profile_fallback`).
    """
    if ranks_cold_items_alone(rows):
        for row in rows:
            config = {**(row.ok[0].get("config") or {}), **(row.ok[0].get("model_config") or {})} \
                if row.ok else {}
            if row.ok and not ranks_unseen_items(row.model, config):
                row.not_ranked = CANNOT_RANK_UNSEEN
    if protocol.endswith("· 0 known"):
        group = [row for row in rows if row.ok and serves_profile_fallback(row.model)]
        names = ", ".join(row.label for row in group)
        for row in group:
            row.not_ranked = (f"profile-text fallback: with no known item, {names} all score "
                              "the cosine of the profile text to the item texts (the serving "
                              "layer's fallback for models without a user text tower; per-user "
                              "values equal up to the tie order of equal cosines)")


def random_order_floor(rows: list[ModelRow], k: int) -> dict[int, dict[str, Any]]:
    """Seed -> the expected NDCG@``k`` of a uniformly random order of the candidates, exact.

    For a user with ``r`` relevant items among ``C`` candidates every position holds a relevant
    item with probability ``r / C``, so ``E[NDCG@k] = (r / C) sum_{i<=min(k,C)} 1/log2(i+1) /
    IDCG(min(r, k))``, averaged over the test users. ``C``: the protocol's cold items (every
    user ranks all of them). ``r``: recovered from the stored per-user metrics (``precision@K x K /
    recall@K`` at the largest cut-off, from any row with a hit); users with no hit in any row
    share the rest of the seed's test interactions evenly (exact when that is one each, as each
    has at least one). Keys: ``floor``, ``users``, ``recovered`` (users whose ``r`` was read).
    """
    by_seed: dict[int, dict[str, Any]] = {}
    for row in rows:
        for record in row.ok:
            seed, values = int(record["seed"]), (record.get("per_user") or {}).get("values", {})
            cuts = sorted(int(c.split("@")[1]) for c in values if c.startswith("recall@")
                          and f"precision@{c.split('@')[1]}" in values)
            info = by_seed.setdefault(seed, {"relevant": {}, "users": None, "record": record})
            if not cuts:
                continue
            cut = cuts[-1]
            users = np.asarray(record["per_user"]["users"], dtype=str)
            recall = np.asarray(values[f"recall@{cut}"], dtype=np.float64)
            hits = np.asarray(values[f"precision@{cut}"], dtype=np.float64) * cut
            info["users"] = users
            for user, r in zip(users[recall > 0], np.rint(hits[recall > 0] / recall[recall > 0]),
                               strict=True):
                info["relevant"][user] = float(r)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    out: dict[int, dict[str, Any]] = {}
    for seed, info in sorted(by_seed.items()):
        record, users = info["record"], info["users"]
        candidates = (record.get("protocol_info") or {}).get("cold_items")
        test = ((record.get("split") or {}).get("counts") or {}).get("test", {})
        if users is None or not candidates or "interactions" not in test:
            continue
        known = [info["relevant"].get(u) for u in users]
        missing = sum(r is None for r in known)
        rest = (test["interactions"] - sum(r for r in known if r is not None)) / missing \
            if missing else 0.0
        relevant = np.array([rest if r is None else r for r in known], dtype=np.float64)
        reach = discounts[: min(k, int(candidates))].sum()
        ideal = np.cumsum(discounts)[np.clip(np.minimum(relevant, k).astype(int), 1, k) - 1]
        floor = float(np.mean(relevant / candidates * reach / ideal))
        out[seed] = {"floor": floor, "users": len(users), "recovered": len(users) - missing,
                     "candidates": int(candidates)}
    return out


def known_label(slug: str, n: int | str) -> str:
    """The table name of one ``n`` of a cold-user protocol."""
    return f"{slug} · {n} known"


def protocol_views(run: RunSpec, record: dict[str, Any] | None,
                   data_root: Path | None = None, board: str = "<board file>"
                   ) -> list[tuple[str, dict[str, Any] | None]]:
    """The (table protocol, record) pairs a run contributes: its own, or for ``cold_user`` one
    per number of known interactions ``n``, each with that ``n``'s test and per-user metrics
    (a model that cannot serve an ``n`` is a failed run of that table, with the reason).

    A ``standard`` run also gives its sparse-user view (:func:`~recbole_llmkg.benchmark.slices.
    sparse_view`, table ``standard · sparse users``) when ``data_root`` (the board's split
    folder, where a gone split is written again) is given.
    """
    if run.protocol.name == "standard" and data_root is not None:
        from recbole_llmkg.benchmark.slices import sparse_label, sparse_slice_of_run, sparse_view

        sliced = sparse_slice_of_run(run, record, data_root, board) \
            if record is not None and record.get("status") == "ok" else None
        return [(run.protocol.slug, record),
                (sparse_label(run.protocol.slug), sparse_view(record, sliced))]
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



def curves(spec: BenchmarkSpec, plan: list[RunSpec], records: dict[str, dict[str, Any]]
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
        row["error_message"] = one_line(error.get("message", ""), 500) or None
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
                                   "failed": len(row.failed), "not_ranked": row.not_ranked}
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



def one_line(text: str, limit: int = 160) -> str:
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    first = first.replace("|", "\\|")
    return first if len(first) <= limit else first[: limit - 1] + "…"

