"""The sparse-user slice: users with at most 20 training interactions, from a split's train part."""

from __future__ import annotations

import numpy as np
import pytest

from recbole_llmkg.benchmark.per_user import PerUserMetrics
from recbole_llmkg.benchmark.slices import (
    SPARSE_MAX_TRAIN_INTERACTIONS,
    read_train_users,
    restrict,
    sparse_users,
    sparse_users_of_split,
)
from recbole_llmkg.benchmark.splits import write_standard_split
from recbole_llmkg.errors import DataError
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
