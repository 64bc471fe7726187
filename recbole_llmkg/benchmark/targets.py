"""The claims a board tests (``targets:`` in its file), checked on its main and ablation tables.

A target says: one of ``models`` beats the best of ``against`` on ``protocol`` by at least
``min_gain`` (relative, on the board's headline metric). ``against`` lists row labels (main or
ablation rows: "the model beats itself with its knowledge switched off") or is
``best tuned baseline``: every tuned main-table row that is not one of the plugin's proposals
(RecBole's models and the plugin's reference baselines), of any family, so a claim is never
checked against a weak opponent picked by family. Nothing is chosen on test in our favour:

* ours: *every* listed model is tested (one row each), and the Holm correction runs over all
  rows of all targets, so "one of them wins" is claimed with the family-wise error held at 0.05.
  Choosing one candidate first would need a selection set that measures the target; for the
  cold-item target validation holds warm items only, so it cannot;
* theirs: the listed opponent with the highest mean *test* headline (the strongest the board
  has: the conservative choice).

Each row is ``significance.compare`` of ours against (1 + ``min_gain``) x theirs, one-sided (the
claim is "ours exceeds"): a Wilcoxon signed-rank test over users (each user's difference averaged
over seeds) and a paired t-test over seed means. A row is met only with at least ``MIN_SEEDS``
paired seeds, ours / theirs >= 1 + ``min_gain`` and both corrected p < 0.05; a target is met when
one of its rows is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recbole_llmkg.errors import ConfigError

TARGET_KEYS = ("name", "protocol", "models", "against", "min_gain")
BEST_BASELINE = "best tuned baseline"  # ``against``: every tuned main-table baseline row


@dataclass(frozen=True)
class Target:
    """One claim: one of ``models`` >= (1 + ``min_gain``) x the best of ``against``."""

    name: str
    protocol: str  # a protocol slug of the board (a table name, e.g. cold_item-candidatescold)
    models: tuple[str, ...]
    against: tuple[str, ...]
    min_gain: float = 0.0


def parse_targets(entries: Any, where: str, key: str, labels: Sequence[str],
                  protocols: Sequence[str]) -> list[Target]:
    """The file's ``targets`` list; every label must be a main-table row, every protocol a slug
    of the board (the error names the entry, the key and what is accepted)."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: key '{key}' must be a list of targets, each a mapping with "
                          f"{', '.join(TARGET_KEYS)}.")
    targets = []
    for i, entry in enumerate(entries):
        at = f"{key}[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: key '{at}' must be a mapping with keys "
                              f"{', '.join(TARGET_KEYS)}.")
        unknown = [k for k in entry if k not in TARGET_KEYS]
        if unknown:
            raise ConfigError(f"{where}: unknown key '{at}.{unknown[0]}' (allowed: "
                              f"{', '.join(TARGET_KEYS)}).")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: key '{at}.name' must be a non-empty string.")
        protocol = entry.get("protocol")
        if protocol not in protocols:
            raise ConfigError(f"{where}: key '{at}.protocol' must be one of the board's "
                              f"protocols ({', '.join(protocols)}), got {protocol!r}.")
        sides = {}
        for side in ("models", "against"):
            value = entry.get(side)
            if side == "against" and value == BEST_BASELINE:
                sides[side] = (BEST_BASELINE,)
                continue
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{where}: key '{at}.{side}' must be a model label or a "
                                  f"non-empty list of them, got {entry.get(side)!r}.")
            for label in value:
                if label not in labels:
                    also = f" or '{BEST_BASELINE}'" if side == "against" else ""
                    raise ConfigError(f"{where}: key '{at}.{side}': {label!r} is not a "
                                      f"main-table or ablation row of this board "
                                      f"({', '.join(labels)}){also}.")
            sides[side] = tuple(value)
        gain = entry.get("min_gain", 0.0)
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or gain < 0:
            raise ConfigError(f"{where}: key '{at}.min_gain' must be a number >= 0 (0.03 asks "
                              f"for +3%), got {gain!r}.")
        targets.append(Target(name.strip(), protocol, sides["models"], sides["against"],
                              float(gain)))
    return targets


def check_targets(targets: Sequence[Target], tables: Mapping[str, Sequence[Any]], metric: str,
                  alpha: float = 0.05) -> list[dict[str, Any]]:
    """One row per (target, listed model of ours): the opponent, the comparison, corrected
    p-values and verdict.

    ``tables`` maps a protocol slug to its main-table and ablation rows
    (:class:`~recbole_llmkg.benchmark.rows.ModelRow`); a row whose sides have no runs yet
    gets ``verdict: "not run yet"`` and stays out of the Holm family.
    """
    from recbole_llmkg.benchmark import significance

    rows: list[dict[str, Any]] = []  # in the file's order, one per (target, listed model)
    for target in targets:
        by_label = {row.label: row for row in tables.get(target.protocol, [])}
        if target.against == (BEST_BASELINE,):
            against = [row for row in by_label.values() if row.table == "main"
                       and row.label not in target.models and significance.is_baseline(row.model)]
        else:
            against = [by_label.get(m) for m in target.against]
        theirs = _best(against, "test", metric)
        for label in target.models:
            ours = by_label.get(label)
            base = {"target": target.name, "protocol": target.protocol,
                    "needed": 1.0 + target.min_gain, "model": label,
                    "baseline": theirs.label if theirs else "–", "share": _share(ours),
                    "baseline_share": _share(theirs)}
            compared = None
            if ours is not None and ours.not_ranked:
                rows.append({**base, "verdict": f"not comparable: {ours.not_ranked}"})
                continue
            if ours is not None and theirs is not None:
                compared = significance.compare(ours.per_user(), theirs.per_user(), metric,
                                                scale=1.0 + target.min_gain,
                                                alternative="greater")
            rows.append({**base, "verdict": "not run yet"} if compared is None
                        else {**base, **compared})
    significance.add_verdicts([row for row in rows if "mean" in row], alpha)
    for row in rows:
        verdict = row["verdict"]
        if verdict == "not run yet" or verdict.startswith("not comparable"):
            continue
        if verdict == "win":
            row["verdict"] = "met"
        elif not verdict.startswith("no claim"):
            reached = 1.0 + row["rel_gain"] >= row["needed"]
            row["verdict"] = ("missed (gain not shown: one-sided p >= 0.05)" if reached
                              else f"missed ({1 + row['rel_gain']:.3f}x < {row['needed']:.2f}x)")
    return rows


def targets_markdown(rows: Sequence[Mapping[str, Any]], metric: str) -> list[str]:
    """The targets table with its reading guide (empty list for no targets)."""
    if not rows:
        return []
    shares = any(r.get("share") is not None for r in rows)
    header = ["target", "protocol", "ours", "vs (best test)", "seeds",
              f"ours {metric.upper()}", "theirs", "ratio [95% CI]", "needed", "p users (Holm)",
              "p seeds (Holm)", *(["cold in top-k (ours / theirs)"] if shares else []),
              "verdict"]
    lines = [
        "Targets: each listed model of ours (one row each) against the strongest listed "
        f"opponent (highest mean test {metric.upper()}; '{BEST_BASELINE}': every tuned "
        "main-table row that is not one of the plugin's proposals, of any family). The paired "
        "tests are one-sided, as the claim is: does ours exceed needed x theirs? Wilcoxon over "
        "users (each user's difference averaged over the seeds that tested it: each user once) "
        "and paired t over seed means, Holm-corrected over every row of this table; a row is "
        "met only with >= 5 seeds and both p < 0.05, and a target is met when one of its rows "
        "is. Ratio: ours / theirs with its 95% bootstrap interval (users resampled, 2,000 "
        "draws, fixed seed 0).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for r in rows:
        share = ([f"{_fmt(r.get('share'))} / {_fmt(r.get('baseline_share'))}"]
                 if shares else [])
        if "mean" not in r:
            numbers = ["–"] * 7
        else:
            numbers = [str(r["seeds"]), f"{r['mean']:.4f}", f"{r['baseline_mean']:.4f}",
                       _ratio(r), f"{r['needed']:.2f}x",
                       f"{r['p_users_holm']:.2g}", f"{r['p_seeds_holm']:.2g}"]
        lines.append("| " + " | ".join([r["target"], r["protocol"], r["model"], r["baseline"],
                                         *numbers, *share, r["verdict"]]) + " |")
    return [*lines, ""]


def _best(rows: Sequence[Any], part: str, metric: str) -> Any:
    """The row with the highest mean ``part`` metric among those with per-user results."""
    scored = [(sum(v) / len(v), row) for row in rows
              if row is not None and not getattr(row, "not_ranked", None)
              for v in [row.values(part, metric)] if v and row.per_user()]
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def _share(row: Any) -> float | None:
    """Mean share of top-k slots taken by cold items when every item competes (cold_item)."""
    if row is None:
        return None
    values = [v for r in row.ok for k, v in r.items()
              if k.startswith("cold_share@") and isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def _ratio(row: Mapping[str, Any]) -> str:
    """``1.018x [1.009, 1.027]``: ours / theirs and its 95% bootstrap interval."""
    low, high = row.get("gain_low"), row.get("gain_high")
    interval = "" if low is None or low != low else f" [{1 + low:.3f}, {1 + high:.3f}]"
    return f"{1 + row['rel_gain']:.3f}x{interval}"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
