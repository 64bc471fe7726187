"""Targets: the claims a board tests, their file format and how each is met or missed."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from recbole_llmkg.benchmark.report import ModelRow, leaderboard_markdown
from recbole_llmkg.benchmark.significance import holm
from recbole_llmkg.benchmark.spec import load_benchmark
from recbole_llmkg.benchmark.targets import (
    BEST_BASELINE,
    Target,
    check_targets,
    parse_targets,
)
from recbole_llmkg.errors import ConfigError

USERS = np.array([f"u{i}" for i in range(300)], dtype=object)
SEEDS = (1, 2, 3, 4, 5)


def row(label, per_seed_values, valid, seeds=SEEDS):
    """A main-table row whose seed ``s`` has per-user test NDCG@10 ``per_seed_values(s)``."""
    out = ModelRow(label, label, ours=False, planned=len(seeds))
    for seed in seeds:
        values = per_seed_values(seed)
        out.ok.append({"seed": seed, "split_fingerprint": f"split-{seed}", "status": "ok",
                       "test": {"ndcg@10": float(values.mean())}, "valid": {"ndcg@10": valid},
                       "cold_share@10": 0.25,
                       "per_user": {"users": list(USERS), "values": {"ndcg@10": list(values)}}})
    return out


def base(seed):
    return np.random.default_rng(seed).random(len(USERS)) * 0.5


def rows_by_label():
    rng = np.random.default_rng(7)
    alternating = np.where(np.arange(len(USERS)) % 2 == 0, 0.1, -0.1)
    alternating[0] += 0.05
    return {
        "Base": row("Base", base, valid=0.20),
        "Weak": row("Weak", lambda s: 0.8 * base(s), valid=0.30),  # best valid, not best test:
        # never the opponent
        "Ours": row("Ours", lambda s: 1.1 * base(s) + rng.normal(0, 0.005, len(USERS)),
                    valid=0.26),
        "Peeked": row("Peeked", lambda s: 1.5 * base(s), valid=0.10),
        # a small mean gain that half the users lose: not significant over users
        "Flat": row("Flat", lambda s: base(s) + alternating, valid=0.25),
        "Short": row("Short", lambda s: 2 * base(s), valid=0.5, seeds=(1, 2, 3)),
    }


def check(*targets):
    return check_targets(list(targets), {"standard": list(rows_by_label().values())}, "ndcg@10")


def test_every_listed_model_is_tested_against_the_strongest_opponent_on_test():
    rows = check(Target("t", "standard", ("Ours", "Flat"), ("Base", "Weak")))
    assert [(r["model"], r["baseline"]) for r in rows] == [("Ours", "Base"), ("Flat", "Base")]
    ours, flat = rows
    assert ours["verdict"] == "met" and ours["seeds"] == 5
    assert ours["rel_gain"] == pytest.approx(0.10, abs=0.005)
    assert ours["p_users_holm"] < 0.05 and ours["p_seeds_holm"] < 0.05
    assert ours["share"] == pytest.approx(0.25)
    assert flat["verdict"] == "missed (gain not shown: one-sided p >= 0.05)"


def test_holm_runs_over_every_row_of_every_target():
    rows = check(Target("a", "standard", ("Flat", "Short"), ("Base",)),
                 Target("b", "standard", ("Ours",), ("Base",)),
                 Target("c", "standard", ("Peeked",), ("Base",)))
    raw = [r["p_users"] for r in rows]
    assert [r["p_users_holm"] for r in rows] == pytest.approx(holm(raw).tolist())
    assert min(r["p_users_holm"] for r in rows) == pytest.approx(min(1.0, 4 * min(raw)))


def test_a_margin_is_tested_not_just_compared():
    met, missed = check(Target("5%", "standard", ("Ours",), ("Base",), 0.05),
                        Target("20%", "standard", ("Ours",), ("Base",), 0.20))
    assert met["verdict"] == "met" and met["needed"] == pytest.approx(1.05)
    assert missed["verdict"].startswith("missed (1.09") and missed["verdict"].endswith("x < 1.20x)")
    assert missed["diff"] < 0  # ours - 1.2 x theirs


def test_a_margin_below_reach_is_far_from_significant_one_sided():
    """Ours is 1.10x Base; asked for 1.20x, the one-sided p is near 1 (a two-sided test would
    call it highly significant: significantly BELOW the margin)."""
    (missed,) = check(Target("20%", "standard", ("Ours",), ("Base",), 0.20))
    assert missed["alternative"] == "greater"
    assert missed["p_users"] > 0.99 and missed["p_seeds"] > 0.99


def test_best_tuned_baseline_is_the_strongest_row_of_any_family():
    table = rows_by_label()
    mine = row("Mine", lambda s: 3 * base(s), valid=0.1)
    mine.model = "LLMAugRec"  # one of the plugin's proposals: never an opponent
    off = row("Ours-off", lambda s: 4 * base(s), valid=0.1)
    off.table = "ablation"  # an ablation row: only named explicitly
    rows = [table["Base"], table["Peeked"], table["Ours"], mine, off]
    (vs_best, vs_off) = check_targets(
        [Target("best", "standard", ("Ours",), (BEST_BASELINE,)),
         Target("own ablation", "standard", ("Ours",), ("Ours-off",))],
        {"standard": rows}, "ndcg@10")
    assert vs_best["baseline"] == "Peeked" and vs_best["verdict"].startswith("missed")
    assert vs_off["baseline"] == "Ours-off"
    labels, protocols = ["Ours", "Ours-off"], ["standard"]
    parsed = parse_targets([{"name": "t", "protocol": "standard", "models": ["Ours"],
                             "against": BEST_BASELINE}], "b.yaml", "targets", labels, protocols)
    assert parsed[0].against == (BEST_BASELINE,)


def test_an_insignificant_gain_and_too_few_seeds_are_not_wins():
    flat, short = check(Target("flat", "standard", ("Flat",), ("Base",)),
                        Target("short", "standard", ("Short",), ("Base",)))
    assert flat["rel_gain"] > 0 and flat["p_users_holm"] > 0.05
    assert flat["verdict"] == "missed (gain not shown: one-sided p >= 0.05)"
    assert short["verdict"] == "no claim (3 seeds)"


def test_a_target_without_runs_says_so():
    (result,) = check(Target("cold", "cold_item", ("Ours",), ("Base",)))
    assert result["verdict"] == "not run yet" and result["baseline"] == "–"


def test_parse_names_the_bad_key_and_what_is_accepted():
    labels, protocols = ["EASE", "KASimCF"], ["standard", "cold_item-candidatescold"]
    good = [{"name": "x", "protocol": "standard", "models": "KASimCF", "against": ["EASE"],
             "min_gain": 0.03}]
    assert parse_targets(good, "b.yaml", "targets", labels, protocols) == [
        Target("x", "standard", ("KASimCF",), ("EASE",), 0.03)]
    bad = [
        ({"protocol": "cold_item"}, "key 'targets[0].protocol' must be one of the board's "
                                    "protocols (standard, cold_item-candidatescold)"),
        ({"against": ["SLIM"]},
         "key 'targets[0].against': 'SLIM' is not a main-table or ablation row"),
        ({"min_gain": -1}, "key 'targets[0].min_gain' must be a number >= 0"),
        ({"margin": 1}, "unknown key 'targets[0].margin'"),
    ]
    for change, message in bad:
        with pytest.raises(ConfigError) as error:
            parse_targets([{**good[0], **change}], "b.yaml", "targets", labels, protocols)
        assert str(error.value).startswith("b.yaml: " + message)


def test_board_shows_targets_first_and_ablations_against_their_full_model(tmp_path):
    body = {"name": "r", "datasets": ["tiny"], "seeds": [1], "protocols": ["standard"],
            "metrics": ["NDCG"], "topk": [10], "headline": "NDCG@10", "eval_batch_size": 64,
            "models": ["Pop", "BPR", {"name": "BPR", "label": "BPR-small", "table": "ablation",
                                      "config": {"embedding_size": 8}}],
            "targets": [{"name": "BPR beats Pop", "protocol": "standard", "models": ["BPR"],
                         "against": ["Pop"]}]}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(body))
    spec = load_benchmark(path)
    plan = spec.runs()
    scores = {"Pop": 0.1, "BPR": 0.3, "BPR-small": 0.2}
    records = {}
    for run in plan:
        values = [scores[run.model.label] + 0.01 * i for i in range(4)]
        records[run.key] = {
            "key": run.key, "status": "ok", "label": run.model.label, "model": run.model.name,
            "seed": 1, "split_fingerprint": "a" * 64, "test": {"ndcg@10": float(np.mean(values))},
            "valid": {"ndcg@10": 0.2}, "per_user": {"users": ["1", "2", "3", "4"],
                                                    "values": {"ndcg@10": values}}}
    board = leaderboard_markdown(spec, plan, records, "c")
    assert board.index("## tiny · targets") < board.index("## tiny · standard · main table")
    assert "| BPR beats Pop | standard | BPR | Pop | 1 | 0.3150 | 0.1150 | 2.739x [" in board
    assert "] | 1.00x |" in board and "no claim (1 seed)" in board
    ablations = board.split("· ablations")[1]
    assert "Each ablation against its full model" in ablations
    assert ("| BPR-small | BPR | 1 | 4 | 0.2150 | 0.3150 | -0.1000 | -31.7% [-32.8, -30.8] |"
            in ablations)
