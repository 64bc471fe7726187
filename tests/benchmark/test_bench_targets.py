"""The scale targets that ``make bench`` prints: verdicts from the measured numbers, and the
committed growth table's targets agree with its committed cells."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


def load(name: str):
    path = REPO / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def growth():
    return load("growth")


def cell(model, size, epoch, peak, interactions=1e6):
    return {"model": model, "size": size, "status": "ok", "epoch_s": epoch, "peak_gib": peak,
            "interactions": interactions, "users": 1, "items": 1, "eval_s": 1.0, "fit_s": 1.0,
            "data_gib": 1.0}


def test_verdicts_follow_the_numbers(growth):
    frame = pd.DataFrame([cell("KGIN", "ml1m", 40.0, 1.0), cell("KGLLMGNN", "ml1m", 41.0, 1.5),
                          cell("BPR", "ml1m", 3.0, 0.9), cell("LLMAugRec", "ml1m", 9.0, 2.1)])
    slopes = pd.DataFrame([{"model": "BPR", "epoch_vs_interactions": 1.4},
                           {"model": "KGLLMGNN", "epoch_vs_interactions": 1.55},
                           {"model": "LLMAugRec", "epoch_vs_interactions": 1.2}])
    verdicts = {name: met for name, _, met in growth.targets(frame, slopes)}
    assert verdicts["KGLLMGNN epoch slope <= BPR's + 0.1"] is False  # 1.55 > 1.5
    assert verdicts["LLMAugRec epoch slope <= BPR's + 0.1"] is True
    assert verdicts["ml1m: KGLLMGNN s/epoch <= 1.0x KGIN"] is False  # 41 / 40
    assert verdicts["ml1m: KGLLMGNN <= 60 s/epoch"] is True
    assert verdicts["ml1m: LLMAugRec s/epoch <= 3x BPR"] is True  # exactly 3.0
    assert verdicts["ml1m: KGLLMGNN peak memory <= 2x KGIN"] is True
    assert verdicts["ml1m: LLMAugRec peak memory <= 2x KGIN"] is False  # 2.1x


def test_a_missing_cell_is_not_a_verdict(growth):
    frame = pd.DataFrame([cell("KGIN", "ml1m", 40.0, 1.0)])
    slopes = pd.DataFrame([{"model": "KGIN", "epoch_vs_interactions": 1.7}])
    for name, measured, met in growth.targets(frame, slopes):
        assert met is None and "missing" in measured, name


def test_committed_growth_table_states_the_targets_of_its_cells(growth):
    frame = pd.read_csv(REPO / "results" / "bench" / "growth.csv")
    slopes = pd.read_csv(REPO / "results" / "bench" / "slopes.csv")
    text = (REPO / "results" / "bench" / "growth.md").read_text()
    for name, measured, met in growth.targets(frame, slopes):
        verdict = "n/a" if met is None else "yes" if met else "no"
        assert f"| {name} | {measured} | {verdict} |" in text


def test_epoch_speed_targets_use_cpu_seconds():
    epoch_speed = load("epoch_speed")
    rows = {m: {"epoch_s": 1.0, "epoch_cpu_s": c, "eval_s": 1.0, "eval_cpu_s": e,
                "valid_ndcg10": 0.1}
            for m, c, e in (("BPR", 1.0, 1.0), ("LLMAugRec", 2.5, 1.0), ("KGIN", 4.0, 0.1),
                            ("KGLLMGNN", 3.0, 0.19))}
    lines = epoch_speed.table(rows, repeat=3, epochs=2)
    assert "target KGLLMGNN <= 1x KGIN per epoch (cpu): 0.75x, met" in lines
    assert "target KGLLMGNN <= 2x KGIN per eval (cpu): 1.90x, met" in lines
    assert "target LLMAugRec <= 2x BPR per epoch (cpu): 2.50x, missed" in lines
