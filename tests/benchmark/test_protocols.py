"""Protocols: the cold-item split, and that runs under it score cold items only."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from recbole_llmkg.benchmark.protocols import parse_protocol
from recbole_llmkg.benchmark.runner import run_benchmark
from recbole_llmkg.benchmark.splits import Split, write_cold_item_split
from recbole_llmkg.config import Config, datasets_dir
from recbole_llmkg.errors import ConfigError

TINY = datasets_dir() / "tiny"


def read_inter(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [tuple(line.split("\t")[:2]) for line in lines if line.strip()]


def split(tmp_path: Path, seed: int = 7, fraction: float = 0.1, source: Path = TINY) -> Split:
    return write_cold_item_split(source, "tiny", seed, tmp_path / "data", fraction)


def test_cold_items_appear_only_in_test(tmp_path):
    written = split(tmp_path)
    folder = written.data_path / "tiny"
    parts = {name: read_inter(folder / f"tiny.{name}.inter") for name in ("train", "valid", "test")}
    cold = set(written.cold_items)
    source = read_inter(TINY / "tiny.inter")
    n_items = len({item for _, item in source})
    assert len(cold) == round(0.1 * n_items)
    assert all(item in cold for _, item in parts["test"])
    assert not any(item in cold for name in ("train", "valid") for _, item in parts[name])
    # every interaction lands in exactly one part; every cold interaction is in test
    assert Counter(parts["train"] + parts["valid"] + parts["test"]) == Counter(source)
    assert len(parts["test"]) == sum(1 for _, item in source if item in cold)
    assert 0.05 < len(parts["valid"]) / (len(parts["train"]) + len(parts["valid"])) < 0.2
    assert written.counts["test"]["interactions"] == len(parts["test"])
    assert written.protocol == "cold_item" and len(written.fingerprint) == 64
    # <dataset>.inter in the split folder holds warm interactions only (no test leak)
    assert Counter(read_inter(folder / "tiny.inter")) == Counter(parts["train"] + parts["valid"])
    # side files are there, so text and KG models still know the cold items
    for suffix in ("item", "user", "kg", "link"):
        assert (folder / f"tiny.{suffix}").read_bytes() == (TINY / f"tiny.{suffix}").read_bytes()
    items_file = (folder / "tiny.item").read_text(encoding="utf-8").splitlines()[1:]
    assert cold <= {line.split("\t")[0] for line in items_file}


def test_split_is_seeded_cached_and_follows_its_source(tmp_path):
    first = split(tmp_path, seed=1)
    again = split(tmp_path, seed=1)
    assert again == first  # read back from split.json, not rewritten
    assert split(tmp_path, seed=2).cold_items != first.cold_items
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in TINY.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    lines = (copy / "tiny.inter").read_text().splitlines()
    (copy / "tiny.inter").write_text("\n".join(lines[:-1]) + "\n")  # the source changed
    changed = split(tmp_path, seed=1, source=copy)
    assert changed.data_path != first.data_path and changed.fingerprint != first.fingerprint
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]


def test_explicit_data_path_is_honoured_for_ml100k():
    """RecBole pins ml-100k to its bundled copy; an explicit data_path (the split) wins."""
    bundled = Config("Pop", "ml-100k", cmd_args=[])
    ours = Config("Pop", "ml-100k", config_dict={"data_path": "/elsewhere"}, cmd_args=[])
    assert ours["data_path"] == str(Path("/elsewhere") / "ml-100k")
    assert Path(bundled["data_path"]).name == "ml-100k"
    assert bundled["data_path"] != ours["data_path"]


def run_tiny_board(tmp_path: Path, name: str, **settings):
    """Run a one-seed, one-epoch benchmark on tiny inline; every run must succeed."""
    body = {
        "name": name, "datasets": ["tiny"], "seeds": [3], "eval_batch_size": 4096,
        "isolation": "inline", "threads": 1, "config": {"epochs": 1},
        "output_dir": str(tmp_path / "results"), **settings,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    summary = run_benchmark(path, log=lambda _: None, charts=False)
    assert not summary.failed, [r.get("error") for r in summary.records.values()]
    return summary


@pytest.mark.parametrize("models", [["Pop", "BPR"], ["CKE", "KGIN"]])
def test_cold_item_runs_score_cold_items(tmp_path, models):
    summary = run_tiny_board(
        tmp_path, "cold", models=models,
        protocols=[{"name": "cold_item", "cold_fraction": 0.1}],
        metrics=["Recall", "NDCG", "Hit", "ItemCoverage"], topk=[10], headline="NDCG@10",
    )
    meta = json.loads(next((tmp_path / "results" / "cold" / "data").rglob("split.json"))
                      .read_text())
    cold = set(meta["cold_items"])
    source = read_inter(TINY / "tiny.inter")
    cold_users = {user for user, item in source if item in cold}
    for record in summary.records.values():
        info = record["protocol_info"]
        # RecBole loaded exactly the split: test = every cold interaction, of every such user
        assert info["cold_items"] == len(cold)
        assert info["interactions"] == len(source)  # nothing filtered, KG models included
        test = record["split"]["counts"]["test"]
        assert test["interactions"] == sum(1 for _, item in source if item in cold)
        assert test["users"] == len(cold_users)
        assert record["split_fingerprint"] == meta["fingerprint"]
        assert record["resolved"]["benchmark_filename"] == ["train", "valid", "test"]
        assert 0 <= record["test"]["ndcg@10"] <= 1 and "hit@10" in record["valid"]
        assert record["protocol_slug"] == "cold_item"
        assert 0.0 <= record["cold_share@10"] <= 1.0  # cold items among all-item top-10s
    shares = {r["model"]: r["cold_share@10"] for r in summary.records.values()}
    if "Pop" in shares:  # no interaction, no popularity: a cold item never enters its top-10
        assert shares["Pop"] == 0.0
    board = (tmp_path / "results" / "cold" / "leaderboard.md").read_text()
    assert "cold in top-10 (all items)" in board


def test_cold_candidates_only_lift_cold_positives(tmp_path):
    """Ranking only the cold items removes warm items from above every cold positive, so no
    accuracy metric can fall; the option is part of the run key only when set."""
    summary = run_tiny_board(
        tmp_path, "cand", models=["Pop", "LLMAugRec"],
        protocols=[{"name": "cold_item", "candidates": "all"},
                   {"name": "cold_item", "candidates": "cold"}],
        metrics=["Recall", "NDCG", "Hit"], topk=[5], headline="NDCG@5",
    )
    by = {(r["model"], r["protocol_slug"]): r["test"] for r in summary.records.values()}
    assert set(by) == {(m, s) for m in ("Pop", "LLMAugRec")
                       for s in ("cold_item", "cold_item-candidatescold")}
    for model in ("Pop", "LLMAugRec"):
        everything, cold_only = by[(model, "cold_item")], by[(model, "cold_item-candidatescold")]
        for metric in ("recall@5", "ndcg@5", "hit@5"):
            assert cold_only[metric] >= everything[metric] - 1e-9, (model, metric)
    for record in summary.records.values():  # per-user values see the same random tie order
        per_user = record["per_user"]["values"]
        for metric in ("recall@5", "ndcg@5", "hit@5"):
            assert abs(sum(per_user[metric]) / len(per_user[metric])
                       - record["test"][metric]) < 1e-4, (record["label"], metric)
    # Pop ranks the (never-trained) cold items last among all items: 0 there, > 0 among cold
    assert by[("Pop", "cold_item")]["hit@5"] == 0
    assert by[("Pop", "cold_item-candidatescold")]["hit@5"] > 0


def test_bad_candidates_value_names_the_key():
    with pytest.raises(ConfigError, match=r"protocols\[0\]\.candidates"):
        parse_protocol({"name": "cold_item", "candidates": "warm"}, "b.yaml", "protocols[0]")
    # the default leaves the protocol (and so the keys of finished runs) unchanged
    assert parse_protocol({"name": "cold_item", "candidates": "all"}, "b.yaml", "p") == \
        parse_protocol("cold_item", "b.yaml", "p")


def test_cold_user_board_serves_held_out_users_at_every_n(tmp_path):
    """A board with the cold_user protocol: one run per (model, seed) gives every n, the
    report has a table per n (one test set, significance over the same held-out users) and
    the curve; a model that cannot serve a user with no known item is n/a there, not a crash."""
    import json

    import yaml

    from recbole_llmkg.benchmark.cold_user import KNOWN_COUNTS
    from recbole_llmkg.benchmark.runner import run_benchmark

    body = {
        "name": "coldusers", "datasets": ["tiny"], "models": ["Pop", "BPR", "LLMAugRec"],
        "seeds": [1, 2], "protocols": [{"name": "cold_user", "cold_fraction": 0.2}],
        "metrics": ["NDCG", "Recall"], "topk": [10], "headline": "NDCG@10",
        "eval_batch_size": 4096, "isolation": "inline", "threads": 1,
        "config": {"epochs": 2, "train_batch_size": 256},
        "output_dir": str(tmp_path / "results"),
    }
    path = tmp_path / "board.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    summary = run_benchmark(path, log=lambda _: None)
    assert summary.executed == 6 and not summary.failed
    out = tmp_path / "results" / "coldusers"
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    for record in records:
        views = record["cold_user"]
        assert set(views) == {str(n) for n in KNOWN_COUNTS}
        assert record["protocol_info"]["cold_users"] == 10  # 20% of tiny's 50 users
        for n, view in views.items():
            if view["status"] != "ok":
                assert record["model"] == "BPR" and n == "0"  # no item, no text space
                continue
            assert 0.0 <= view["test"]["ndcg@10"] <= 1.0
            assert len(view["per_user"]["users"]) == view["users"] > 0
    board = (out / "leaderboard.md").read_text()
    for n in KNOWN_COUNTS:
        assert f"## tiny · cold_user-cold_fraction0.2 · {n} known" in board
    assert "against known interactions" in board and "| BPR | n/a |" in board
    assert "Test set (every row of this table, per seed):" in board
    assert (out / "tiny__cold_user-cold_fraction0.2__curve.png").read_bytes()[:4] == b"\x89PNG"


def test_each_protocol_is_an_object_the_worker_calls(tmp_path, monkeypatch):
    """The worker asks the run's protocol object to evaluate: a subclass registered under a
    name changes what every run of that protocol records, with no name check in the worker."""
    from recbole_llmkg.benchmark import protocols

    assert {name: type(p).__name__ for name, p in protocols.REGISTRY.items()} == {
        "standard": "Standard", "cold_item": "ColdItem", "cold_user": "ColdUser"}
    assert protocols.TUNED_ON == {"cold_item": "standard", "cold_user": "standard"}

    class Marked(protocols.Standard):
        def evaluate(self, run, trainer, config, dataset, loaders, split):
            evaluation = super().evaluate(run, trainer, config, dataset, loaders, split)
            evaluation.results["marked"] = run.model.name
            return evaluation

    monkeypatch.setitem(protocols.REGISTRY, "standard", Marked())
    summary = run_tiny_board(tmp_path, "marked", models=["Pop"], protocols=["standard"],
                             metrics=["NDCG"], topk=[5], headline="NDCG@5")
    (record,) = summary.records.values()
    assert record["marked"] == "Pop"
    per_user = record["per_user"]["values"]["ndcg@5"]
    assert abs(sum(per_user) / len(per_user) - record["test"]["ndcg@5"]) < 1e-4


@pytest.mark.parametrize("name", ["cold_item", "cold_user"])
def test_held_out_protocols_check_their_fraction(name):
    with pytest.raises(ConfigError, match=r"protocols\[1\]\.cold_fraction"):
        parse_protocol({"name": name, "cold_fraction": 1.5}, "b.yaml", "protocols[1]")
    entry = parse_protocol({"name": name, "cold_fraction": 0.25}, "b.yaml", "p")
    assert entry.params["cold_fraction"] == 0.25


def test_verify_loaded_refuses_a_split_recbole_loaded_differently():
    from types import SimpleNamespace

    from recbole_llmkg.benchmark.protocols import protocol_for
    from recbole_llmkg.errors import DataError

    split = SimpleNamespace(counts={"train": {"interactions": 8}, "valid": {"interactions": 1},
                                    "test": {"interactions": 1}})
    dataset = SimpleNamespace(file_size_list=[8, 1, 2], inter_feat=[0] * 11, user_num=3,
                              item_num=4)
    with pytest.raises(DataError, match=r"loaded \[8, 1, 2\].*hold \[8, 1, 1\]"):
        protocol_for("standard").verify_loaded(None, dataset, split)
    dataset.file_size_list = [8, 1, 1]
    dataset.inter_feat = [0] * 10
    assert protocol_for("standard").verify_loaded(None, dataset, split) == {
        "interactions": 10, "users": 2, "items": 3}
