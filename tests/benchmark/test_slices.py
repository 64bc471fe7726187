"""The sparse-user slice: users with at most 20 training interactions, from a split's train part,
and the report's view of each standard run on them."""

from __future__ import annotations

import numpy as np
import pytest
from test_report import spec_and_plan, split_record

from recbole_llmkg.benchmark.per_user import PerUserMetrics
from recbole_llmkg.benchmark.protocols import REGISTRY
from recbole_llmkg.benchmark.report import leaderboard_markdown
from recbole_llmkg.benchmark.rows import protocol_views
from recbole_llmkg.benchmark.slices import (
    SPARSE_MAX_TRAIN_INTERACTIONS,
    read_train_users,
    restrict,
    sparse_users,
    sparse_users_of_split,
)
from recbole_llmkg.benchmark.splits import split_fingerprint, write_standard_split
from recbole_llmkg.errors import ConfigError, DataError
from recbole_llmkg.paths import datasets_dir


def test_threshold_is_inclusive_and_counts_rows_per_user():
    rows = ["a"] * 20 + ["b"] * 21 + ["c"] * 1 + [7] * 5  # an int token is read as "7"
    assert SPARSE_MAX_TRAIN_INTERACTIONS == 20
    assert sparse_users(rows).tolist() == ["7", "a", "c"]
    assert sparse_users(rows, max_interactions=1).tolist() == ["c"]
    assert sparse_users([]).tolist() == []


def test_slice_of_a_written_split_matches_its_train_counts(tmp_path):
    split = write_standard_split(datasets_dir() / "tiny", "tiny", 2020, tmp_path / "splits")
    train = split.data_path / "tiny" / "tiny.train.inter"
    users = read_train_users(train)
    assert len(users) == split.counts["train"]["interactions"]
    tokens, counts = np.unique(users, return_counts=True)
    for limit in (int(np.median(counts)), int(counts.min()), int(counts.max())):
        got = sparse_users_of_split(split, max_interactions=limit)
        assert got.tolist() == sorted(tokens[counts <= limit].tolist())
        assert 0 < len(got) <= len(tokens)


def test_missing_user_column_names_the_file(tmp_path):
    path = tmp_path / "x.train.inter"
    path.write_text("uid:token\titem_id:token\n1\t2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"x\.train\.inter' line 1 has no column 'user_id'"):
        read_train_users(path)


def test_restrict_keeps_only_slice_users_in_order():
    per_user = PerUserMetrics(np.array(["3", "1", "2"], dtype=object),
                              {"ndcg@10": np.array([0.3, 0.1, 0.2])})
    sliced = restrict(per_user, np.array([2, 3]))
    assert sliced.users.tolist() == ["3", "2"]
    assert sliced.values["ndcg@10"].tolist() == [0.3, 0.2]
    assert sliced.mean()["ndcg@10"] == pytest.approx(0.25)


# ------------------------------------------------ the report's view of each standard run

def write_split_folder(folder, train_counts, test_users):
    """A hand-made split: ``train_counts`` user -> training rows, one valid row for the first
    user, one test row per ``test_users``; returns its fingerprint."""
    header = "user_id:token\titem_id:token\n"
    train = [f"{user}\t{i}" for user, n in train_counts.items() for i in range(n)]
    first = next(iter(train_counts))
    parts = {"train": train, "valid": [f"{first}\t99"],
             "test": [f"{user}\t{100 + i}" for i, user in enumerate(test_users)]}
    folder.mkdir(parents=True)
    for part, rows in parts.items():
        (folder / f"tiny.{part}.inter").write_text(header + "\n".join(rows) + "\n",
                                                   encoding="utf-8")
    return split_fingerprint(folder, "tiny")


def sliced_record(run, fingerprint, data_path, users, values):
    record = split_record(run, 0.5, fingerprint, users)
    record["per_user"] = {"users": list(users), "values": {"ndcg@10": list(values)}}
    record["test"] = {"ndcg@10": float(np.mean(values)), "itemcoverage@10": 0.4}
    record["resolved"] = {"data_path": str(data_path)}
    return record


def sparse_table(board):
    return board.split("## tiny · standard · sparse users · main table")[1].split("\n## ")[0]


def test_sparse_view_means_the_per_user_values_of_users_with_at_most_20_train_rows(tmp_path):
    spec, (pop, bpr) = spec_and_plan(tmp_path, metrics=["NDCG", "ItemCoverage"])
    folder = tmp_path / "split" / "tiny"
    users = ["a20", "b21", "c1", "d5"]
    fingerprint = write_split_folder(folder, {"a20": 20, "b21": 21, "c1": 1, "d5": 5}, users)
    pop_values, bpr_values = [0.1, 0.9, 0.3, 0.2], [0.4, 0.0, 0.6, 0.5]
    records = {pop.key: sliced_record(pop, fingerprint, folder, users, pop_values),
               bpr.key: sliced_record(bpr, fingerprint, folder, users, bpr_values)}
    chosen = np.array([True, False, True, True])  # 20 train rows is in, 21 is out
    views = dict(protocol_views(pop, records[pop.key], tmp_path / "data"))
    view = views["standard · sparse users"]
    assert view["test"]["ndcg@10"] == pytest.approx(np.mean(np.array(pop_values)[chosen]))
    assert view["per_user"]["users"] == ["a20", "c1", "d5"]
    assert "itemcoverage@10" not in view["test"] and view["slice"]["not_per_user"] == [
        "itemcoverage"]
    assert views["standard"] is records[pop.key]  # the whole-test view is the record itself
    table = sparse_table(leaderboard_markdown(spec, [pop, bpr], records, "c"))
    mean_bpr = np.mean(np.array(bpr_values)[chosen])
    assert f"| 1 | BPR | {mean_bpr:.4f} | n/a |" in table
    assert "test set 3 users, 3 items, 3 interactions" in table  # the sparse users' test rows
    assert "n/a (itemcoverage): a list-level metric (not stored per user)" in table
    assert "users with at most 20 interactions in the seed's training part" in table
    assert "| Pop | BPR | 1 | 3 |" in table  # significance pairs the 3 sparse users


def test_a_gone_split_is_written_again_and_used_only_with_the_runs_fingerprint(tmp_path):
    spec, (pop, bpr) = spec_and_plan(tmp_path)
    split = REGISTRY["standard"].prepare(pop, tmp_path / "elsewhere")[1]
    train = read_train_users(split.data_path / "tiny" / "tiny.train.inter")
    test = read_train_users(split.data_path / "tiny" / "tiny.test.inter")
    gone = tmp_path / "gone" / "tiny"  # the folder the run recorded, deleted since
    values = np.linspace(0.0, 1.0, len(np.unique(test)))
    users = np.unique(test).tolist()
    records = {run.key: sliced_record(run, split.fingerprint, gone, users, values)
               for run in (pop, bpr)}
    assert len(sparse_users(train)) == len(np.unique(train))  # tiny: every user is sparse
    table = sparse_table(leaderboard_markdown(spec, [pop, bpr], records, "c"))
    assert f"test set {len(users)} users" in table
    assert f"| {values.mean():.4f} |" in table
    written = list((spec.results_dir / "data").glob("tiny-standard-seed1-*/tiny/split.json"))
    assert len(written) == 1  # under the board's git-ignored data/, as the runner writes it
    # another fingerprint: never numbers from a different split
    wrong = {key: {**r, "split_fingerprint": "f" * 64} for key, r in records.items()}
    table = sparse_table(leaderboard_markdown(spec, [pop, bpr], wrong, "c"))
    assert "n/a: the split files in" in table and "the run was tested on ffffffffffff" in table
    assert "(1 n/a)" in table and "0.5" not in table.split("| # |")[1]


def test_a_split_that_cannot_be_written_again_is_na_naming_the_command(tmp_path, monkeypatch):
    spec, (pop, bpr) = spec_and_plan(tmp_path)

    def missing(self, run, data_root):
        raise DataError("Split: 'x/tiny.inter' not found (dataset 'tiny', data_path 'x').")

    monkeypatch.setattr(REGISTRY["standard"].__class__, "prepare", missing)
    records = {run.key: sliced_record(run, "e" * 64, tmp_path / "gone", ["1"], [0.5])
               for run in (pop, bpr)}
    table = sparse_table(leaderboard_markdown(spec, [pop, bpr], records, "c"))
    assert ("n/a: the split files are gone and could not be written again, or not read "
            "(DataError: Split: 'x/tiny.inter' not found") in table
    assert f"`python run_recbole_llmkg.py --benchmark {spec.path} --report`" in table
    assert "0.5000" not in table


def test_a_target_can_name_the_sparse_users_table(tmp_path):
    target = {"name": "BPR on sparse users", "protocol": "standard · sparse users",
              "models": ["BPR"], "against": ["Pop"]}
    spec, (pop, bpr) = spec_and_plan(tmp_path, targets=[target])
    folder = tmp_path / "split" / "tiny"
    users = ["a20", "b21", "c1"]
    fingerprint = write_split_folder(folder, {"a20": 20, "b21": 21, "c1": 1}, users)
    records = {pop.key: sliced_record(pop, fingerprint, folder, users, [0.1, 0.9, 0.2]),
               bpr.key: sliced_record(bpr, fingerprint, folder, users, [0.3, 0.0, 0.4])}
    targets = leaderboard_markdown(spec, [pop, bpr], records, "c").split("## tiny · targets")[1]
    # the sparse users' means (0.35 vs 0.15), not the whole test set's (0.23 vs 0.40)
    assert "| BPR on sparse users | standard · sparse users | BPR | Pop | 1 | 0.3500 | 0.1500 |" \
        in targets
    with pytest.raises(ConfigError, match=r"must be one of the board's protocols \(standard, "
                                          r"standard · sparse users\)"):
        spec_and_plan(tmp_path, targets=[{**target, "protocol": "standard · sparse"}])
