"""The board's charts (PNG, written atomically): per table the headline with error bars and
accuracy against training time, and per cold-user protocol the headline against ``n``.
matplotlib is imported inside the functions (the ``[bench]`` extra), with the Agg backend.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from recbole_llmkg.benchmark.rows import OURS_MARK, ModelRow, curves, group, mean_std
from recbole_llmkg.benchmark.spec import BenchmarkSpec, RunSpec
from recbole_llmkg.files import write_atomic


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
    for (dataset, slug, kind), by_n in curves(spec, plan, records).items():
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

