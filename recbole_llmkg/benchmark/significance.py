"""Significance of a model against the best baseline, from stored per-user metrics.

Two paired tests per comparison:

* over users: Wilcoxon signed-rank (``scipy.stats.wilcoxon``, two-sided) on the per-user
  differences, pooled over seeds (a pair is one user of one seed's split: both runs of that
  seed ranked the same test set). Holm-corrected across the family of comparisons in a table.
* over seeds: a paired t-test on the per-seed means. Not Wilcoxon: with 5 seeds the exact
  two-sided signed-rank test cannot go below p = 2 / 2**5 = 0.0625, so it could never reject at
  0.05; a seed mean averages hundreds of users, so its differences are close to normal and the
  t-test is fit for them. Also Holm-corrected across the family.

A win (or loss) is claimed only with at least ``MIN_SEEDS`` (5) paired seeds and both
corrected p-values below ``alpha``, so a gain has to hold over users and replicate over seeds;
with fewer seeds (a quick smoke board) the verdict says that no claim is made. Records of one
seed must share one split fingerprint: a table never mixes test sets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from recbole_llmkg.benchmark.per_user import PerUserMetrics
from recbole_llmkg.errors import ConfigError

MIN_SEEDS = 5  # paired seeds needed before a win or a loss is claimed


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given; NaN stays NaN)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if len(valid) == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def wilcoxon_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of paired samples; 1.0 when every pair ties."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if not np.any(diff != 0):
        return 1.0
    return float(stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_t_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired t-test p; NaN below 2 pairs, 1.0 when the differences are all zero."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(diff) < 2:
        return float("nan")
    if np.allclose(diff, diff[0]):
        return 1.0 if diff[0] == 0 else 0.0
    return float(stats.ttest_rel(a, b).pvalue)


# Plugin models the board counts as baselines, not as the plugin's proposals: the zero-training
# content kNNs, reference rows for what text or KG alone achieve. Which rows are baselines is the
# board's decision (significance, targets, the ★ mark), so it lives here, not on the model class.
PLUGIN_BASELINES = frozenset({"TextKNN", "KGKNN"})


def is_baseline(model: str) -> bool:
    """A board baseline: any model that is not one of the plugin's own proposals (RecBole's
    models, and the plugin models in :data:`PLUGIN_BASELINES`)."""
    from recbole_llmkg.utils import own_models

    return model in PLUGIN_BASELINES or model not in own_models()


def _per_user(record: Mapping[str, Any]) -> PerUserMetrics:
    value = record["per_user"]
    return value if isinstance(value, PerUserMetrics) else PerUserMetrics.from_dict(value)


def group_runs(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[int, PerUserMetrics]]:
    """``model -> seed -> per-user metrics``, checking one split fingerprint per seed.

    Records with a ``status`` other than ``ok`` are skipped. Raises :class:`ConfigError` naming
    both fingerprints when two runs of one seed were evaluated on different splits.
    """
    runs: dict[str, dict[int, PerUserMetrics]] = defaultdict(dict)
    fingerprint_of: dict[int, tuple[str, str]] = {}
    for record in records:
        if record.get("status", "ok") != "ok":
            continue
        model, seed, fingerprint = record["model"], int(record["seed"]), record["split_fingerprint"]
        first = fingerprint_of.setdefault(seed, (fingerprint, model))
        if first[0] != fingerprint:
            raise ConfigError(
                f"Seed {seed}: run '{model}' used split {fingerprint}, run '{first[1]}' used "
                f"split {first[0]}; one table needs one test set per seed. Re-run both on the "
                f"same split files (benchmark.splits)."
            )
        if seed in runs[model]:
            raise ConfigError(f"Two records of model '{model}', seed {seed}; keep one.")
        runs[model][seed] = _per_user(record)
    return dict(runs)


def _mean(runs: Mapping[int, PerUserMetrics], metric: str) -> float:
    return float(np.mean([r.values[metric].mean() for r in runs.values()]))


def compare(ours: Mapping[int, PerUserMetrics], theirs: Mapping[int, PerUserMetrics],
            metric: str, scale: float = 1.0) -> dict[str, Any] | None:
    """``ours`` against ``scale`` x ``theirs`` on the seeds both have (None if they share none).

    ``scale`` tests a margin: 1.03 asks whether ours beats theirs by at least 3% (the paired
    differences are ours - 1.03 x theirs). Keys: seeds, users, mean, baseline_mean, diff (ours -
    scale x theirs), rel_gain (ours / theirs - 1), p_users, p_seeds (both two-sided, raw).
    """
    seeds = sorted(set(ours) & set(theirs))
    if not seeds:
        return None
    pairs = [ours[s].paired(theirs[s], metric) for s in seeds]
    a = np.concatenate([x for x, _ in pairs])
    b = scale * np.concatenate([y for _, y in pairs])
    seed_a = [x.mean() for x, _ in pairs]
    seed_b = [scale * y.mean() for _, y in pairs]
    mean, base = float(np.mean(seed_a)), float(np.mean([y.mean() for _, y in pairs]))
    return {"seeds": len(seeds), "users": len(a), "mean": mean, "baseline_mean": base,
            "diff": mean - scale * base,
            "rel_gain": (mean - base) / base if base else float("nan"),
            "p_users": wilcoxon_p(a, b), "p_seeds": paired_t_p(seed_a, seed_b)}


def add_verdicts(rows: list[dict[str, Any]], alpha: float = 0.05) -> list[dict[str, Any]]:
    """Holm-correct ``p_users`` and ``p_seeds`` across ``rows`` (one family) and set each row's
    verdict: win / lose when both corrected p < ``alpha`` with >= ``MIN_SEEDS`` seeds (by the
    sign of ``diff``), tie otherwise, "no claim" with fewer seeds."""
    for key in ("p_users", "p_seeds"):
        for row, adjusted in zip(rows, holm([r[key] for r in rows]), strict=True):
            row[f"{key}_holm"] = float(adjusted)
    for row in rows:
        if row["seeds"] < MIN_SEEDS:
            row["verdict"] = f"no claim ({row['seeds']} seed{'s' if row['seeds'] > 1 else ''})"
            continue
        significant = row["p_users_holm"] < alpha and row["p_seeds_holm"] < alpha
        row["verdict"] = ("tie" if not significant or row["diff"] == 0
                          else "win" if row["diff"] > 0 else "lose")
    return rows


def significance_table(
    records: Iterable[Mapping[str, Any]],
    baselines: Iterable[str],
    metric: str = "ndcg@10",
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """Each model against the best baseline (highest mean ``metric`` over seeds).

    Rows, best model first: model, baseline, seeds, mean, baseline_mean, diff, rel_gain,
    p_users, p_users_holm, p_seeds, p_seeds_holm, verdict (win / lose / tie at ``alpha``).
    Only seeds both runs have are paired.
    """
    runs = group_runs(records)
    candidates = [m for m in baselines if m in runs]
    if not candidates:
        raise ConfigError(f"No baseline among the records (baselines: {sorted(baselines)}; "
                          f"models: {sorted(runs)}).")
    best = max(candidates, key=lambda m: _mean(runs[m], metric))
    rows = []
    for model in sorted(m for m in runs if m != best):
        row = compare(runs[model], runs[best], metric)
        if row is not None:
            rows.append({"model": model, "baseline": best, "metric": metric, **row})
    return sorted(add_verdicts(rows, alpha), key=lambda r: -r["mean"])


def table_markdown(rows: Sequence[Mapping[str, Any]], against: str = "baseline") -> str:
    """The significance table as markdown (4 decimals; p-values in scientific form);
    ``against`` names the column of the compared row's mean."""
    head = (f"| model | vs | seeds | mean | {against} | diff | rel. gain | p users (Holm) "
            "| p seeds (Holm) | verdict |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['baseline']} | {r['seeds']} | {r['mean']:.4f} | "
            f"{r['baseline_mean']:.4f} | {r['diff']:+.4f} | {100 * r['rel_gain']:+.1f}% | "
            f"{r['p_users_holm']:.2g} | {r['p_seeds_holm']:.2g} | {r['verdict']} |"
        )
    return "\n".join(lines) + "\n"
