"""Significance of one row against another, from stored per-user metrics.

Two paired tests per comparison, each two-sided or one-sided as the claim is:

* over users: Wilcoxon signed-rank (``scipy.stats.wilcoxon``) on each user's difference
  *averaged over the seeds* that tested the user (a user is in up to every seed's test set; the
  seeds' values of one user are not independent pairs, so each user counts once: 943 pairs on
  ml-100k, not 5 x 943). Holm-corrected across the family of comparisons in a table.
* over seeds: a paired t-test on the per-seed means. Not Wilcoxon: with 5 seeds the exact
  signed-rank test cannot go below p = 2 / 2**5 = 0.0625 (two-sided), so it could never reject
  at 0.05; a seed mean averages hundreds of users, so its differences are close to normal and the
  t-test is fit for them. Also Holm-corrected across the family.

One-sided where the claim is one-sided: a target asks whether ours *exceeds* needed x theirs
(``alternative="greater"``), an ablation whether the full model beats the model without the part
("the part helps": the ablation is ``"less"``); a row against the best baseline of a main table
asks in both directions (win or lose: two-sided). Beside each relative gain, a 95% bootstrap
interval: users resampled with replacement (``BOOTSTRAP_DRAWS`` draws, ``BOOTSTRAP_SEED``), the
gain recomputed from the resampled users' seed-averaged values.

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
BOOTSTRAP_DRAWS = 2000  # user resamples behind each 95% interval of a relative gain
BOOTSTRAP_SEED = 0  # fixed: the interval is the same on every regeneration
ALTERNATIVES = ("two-sided", "greater", "less")


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


def wilcoxon_p(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> float:
    """Wilcoxon signed-rank p of paired samples (``alternative`` about ``a - b``, as scipy);
    1.0 when every pair ties."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if not np.any(diff != 0):
        return 1.0
    return float(stats.wilcoxon(diff, zero_method="wilcox", alternative=alternative).pvalue)


def paired_t_p(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> float:
    """Paired t-test p (``alternative`` about ``a - b``); NaN below 2 pairs; with all
    differences equal, 1.0 for no difference and otherwise 0.0 or 1.0 by its direction."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(diff) < 2:
        return float("nan")
    if np.allclose(diff, diff[0]):
        if diff[0] == 0:
            return 1.0
        against = {"greater": diff[0] < 0, "less": diff[0] > 0}.get(alternative, False)
        return 1.0 if against else 0.0
    return float(stats.ttest_rel(a, b, alternative=alternative).pvalue)


def user_means(ours: Mapping[int, PerUserMetrics], theirs: Mapping[int, PerUserMetrics],
               metric: str, seeds: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(users, ours, theirs)``: each user's ``metric`` averaged over the ``seeds`` whose test
    set holds the user (one entry per user, sorted by external id)."""
    users, a, b = [], [], []
    for seed in seeds:
        x, y = ours[seed].paired(theirs[seed], metric)
        users.append(np.sort(ours[seed].users.astype(str), kind="stable"))
        a.append(x)
        b.append(y)
    ids, inverse = np.unique(np.concatenate(users), return_inverse=True)
    counts = np.bincount(inverse)
    return (ids, np.bincount(inverse, np.concatenate(a)) / counts,
            np.bincount(inverse, np.concatenate(b)) / counts)


def bootstrap_gain(a: np.ndarray, b: np.ndarray, draws: int = BOOTSTRAP_DRAWS,
                   seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95% percentile interval of ``mean(a) / mean(b) - 1`` over users resampled with
    replacement (paired: a user's two values stay together); NaN when ``b`` sums to 0."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(a), size=(draws, len(a)))
    ours, theirs = a[picks].mean(axis=1), b[picks].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        gains = ours / theirs - 1.0
    if not np.all(np.isfinite(gains)):
        return float("nan"), float("nan")
    low, high = np.percentile(gains, [2.5, 97.5])
    return float(low), float(high)


# Plugin models the board counts as baselines, not as the plugin's proposals: the zero-training
# content kNNs, reference rows for what text or KG alone achieve. Which rows are baselines is the
# board's decision (significance, targets, the ★ mark), so it lives here, not on the model class.
PLUGIN_BASELINES = frozenset({"TextKNN", "KGKNN", "TextKGKNN", "GFCF", "L3AE"})


def is_baseline(model: str) -> bool:
    """A board baseline: any model that is not one of the plugin's own proposals (RecBole's
    models, and the plugin models in :data:`PLUGIN_BASELINES`)."""
    from recbole_llmkg.registry import own_models

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
            metric: str, scale: float = 1.0,
            alternative: str = "two-sided") -> dict[str, Any] | None:
    """``ours`` against ``scale`` x ``theirs`` on the seeds both have (None if they share none).

    ``scale`` tests a margin: 1.03 asks whether ours beats theirs by at least 3% (the paired
    differences are ours - 1.03 x theirs); ``alternative`` (``two-sided``, ``greater``: ours
    above, ``less``: ours below) is that of both tests. Keys: seeds, users (distinct users,
    each once), mean, baseline_mean, diff (ours - scale x theirs), rel_gain (ours / theirs - 1),
    gain_low / gain_high (its 95% bootstrap interval over users), alternative, p_users (Wilcoxon
    on the per-user differences averaged over seeds), p_seeds (paired t on seed means), raw.
    """
    if alternative not in ALTERNATIVES:
        raise ConfigError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}.")
    seeds = sorted(set(ours) & set(theirs))
    if not seeds:
        return None
    _, a, b = user_means(ours, theirs, metric, seeds)
    seed_a = [float(ours[s].paired(theirs[s], metric)[0].mean()) for s in seeds]
    seed_b = [float(ours[s].paired(theirs[s], metric)[1].mean()) for s in seeds]
    mean, base = float(np.mean(seed_a)), float(np.mean(seed_b))
    low, high = bootstrap_gain(a, b)
    return {"seeds": len(seeds), "users": len(a), "mean": mean, "baseline_mean": base,
            "diff": mean - scale * base,
            "rel_gain": (mean - base) / base if base else float("nan"),
            "gain_low": low, "gain_high": high, "alternative": alternative,
            "p_users": wilcoxon_p(a, scale * b, alternative),
            "p_seeds": paired_t_p(seed_a, [scale * v for v in seed_b], alternative)}


def add_verdicts(rows: list[dict[str, Any]], alpha: float = 0.05) -> list[dict[str, Any]]:
    """Holm-correct ``p_users`` and ``p_seeds`` across ``rows`` (one family) and set each row's
    verdict: win / lose when both corrected p < ``alpha`` with >= ``MIN_SEEDS`` seeds (by the
    sign of ``diff``), otherwise tie (two-sided) or "not shown" (one-sided: only the claimed
    direction was tested), "no claim" with fewer seeds."""
    for key in ("p_users", "p_seeds"):
        for row, adjusted in zip(rows, holm([r[key] for r in rows]), strict=True):
            row[f"{key}_holm"] = float(adjusted)
    for row in rows:
        if row["seeds"] < MIN_SEEDS:
            row["verdict"] = f"no claim ({row['seeds']} seed{'s' if row['seeds'] > 1 else ''})"
            continue
        significant = row["p_users_holm"] < alpha and row["p_seeds_holm"] < alpha
        if not significant or row["diff"] == 0:
            one_sided = row.get("alternative", "two-sided") != "two-sided"
            row["verdict"] = "not shown" if one_sided else "tie"
        else:
            row["verdict"] = "win" if row["diff"] > 0 else "lose"
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


def gain_cell(row: Mapping[str, Any]) -> str:
    """``+1.8% [+0.9, +2.7]``: the relative gain and its 95% bootstrap interval over users."""
    low, high = row.get("gain_low", float("nan")), row.get("gain_high", float("nan"))
    interval = ("" if np.isnan(low) else f" [{100 * low:+.1f}, {100 * high:+.1f}]")
    return f"{100 * row['rel_gain']:+.1f}%{interval}"


def table_markdown(rows: Sequence[Mapping[str, Any]], against: str = "baseline") -> str:
    """The significance table as markdown (4 decimals; p-values in scientific form);
    ``against`` names the column of the compared row's mean."""
    head = (f"| model | vs | seeds | users | mean | {against} | diff | rel. gain [95% CI] "
            "| p users (Holm) | p seeds (Holm) | verdict |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['baseline']} | {r['seeds']} | {r['users']} | {r['mean']:.4f} | "
            f"{r['baseline_mean']:.4f} | {r['diff']:+.4f} | {gain_cell(r)} | "
            f"{r['p_users_holm']:.2g} | {r['p_seeds_holm']:.2g} | {r['verdict']} |"
        )
    return "\n".join(lines) + "\n"
