"""Splits: RecBole's RS/RO/group_by-user semantics, written once, read unfiltered by every model."""

from __future__ import annotations

import numpy as np
import pytest
from recbole.data.dataset import Dataset

from recbole_llmkg import Config, create_dataset
from recbole_llmkg.benchmark.splits import (
    PARTS,
    assign_parts,
    ratio_split_counts,
    read_split,
    split_fingerprint,
    split_for_config,
    write_standard_split,
)
from recbole_llmkg.config import datasets_dir
from recbole_llmkg.errors import ConfigError

TINY = datasets_dir() / "tiny"
UNLINKED_ITEMS = {"20": 11, "40": 9, "60": 6, "80": 8}  # tiny items with no .link row


@pytest.fixture
def split(tmp_path):
    return write_standard_split(TINY, "tiny", 2020, tmp_path / "splits")


def test_ratio_split_counts_equal_recboles_rounding():
    sizes = np.arange(1, 80)
    for ratios in ([0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [8, 1, 1]):
        ours = ratio_split_counts(sizes, ratios)
        total = sum(ratios)
        for n, row in zip(sizes, ours, strict=True):
            cuts = Dataset._calcu_split_ids(None, tot=int(n), ratios=[r / total for r in ratios])
            assert list(np.cumsum(row)[:-1]) == cuts, (n, ratios)


def test_assign_parts_is_seeded_per_user_and_sized_like_recbole():
    users = np.repeat(np.array(["a", "b", "c"]), [10, 3, 25])
    parts = assign_parts(users, [0.8, 0.1, 0.1], seed=1)
    assert np.array_equal(parts, assign_parts(users, [0.8, 0.1, 0.1], seed=1))
    assert not np.array_equal(parts, assign_parts(users, [0.8, 0.1, 0.1], seed=2))
    for user, n in (("a", 10), ("b", 3), ("c", 25)):
        expected = ratio_split_counts(np.array([n]), [0.8, 0.1, 0.1])[0]
        assert list(np.bincount(parts[users == user], minlength=3)) == list(expected)


def test_split_is_written_once_with_counts_and_fingerprint(split, tmp_path):
    assert split.counts["all"] == {"users": 50, "items": 80, "interactions": 599}
    assert sum(split.counts[p]["interactions"] for p in PARTS) == 599
    folder = split.data_path / "tiny"
    assert split.fingerprint == split_fingerprint(folder, "tiny")
    assert read_split(split.data_path, "tiny") == split
    again = write_standard_split(TINY, "tiny", 2020, tmp_path / "splits")
    assert again == split
    other = write_standard_split(TINY, "tiny", 2021, tmp_path / "splits")
    assert other.fingerprint != split.fingerprint and other.data_path != split.data_path
    # side files sit beside the parts; the plain .inter holds no test row
    assert {"tiny.item", "tiny.user", "tiny.kg", "tiny.link"} <= {p.name for p in folder.iterdir()}
    test_rows = set((folder / "tiny.test.inter").read_text().splitlines()[1:])
    assert not test_rows & set((folder / "tiny.inter").read_text().splitlines()[1:])


def _loaded_parts(model: str, split, tmp_path):
    config = Config(model, "tiny", cmd_args=[], config_dict={
        **split.config(), "use_gpu": False, "checkpoint_dir": str(tmp_path / "saved"),
        "llm_cache_dir": str(tmp_path / "cache")})
    dataset = create_dataset(config)
    return dataset, dataset.build()


@pytest.mark.parametrize("model", ["BPR", "CKE", "KGIN", "KASimCF"])
def test_every_dataset_class_reads_the_split_unfiltered(model, split, tmp_path):
    """Plain, RecBole knowledge-based and the plugin's KG dataset: the same rows, and the items
    with no .link row keep all their interactions (RecBole's _filter_link does not run)."""
    dataset, parts = _loaded_parts(model, split, tmp_path)
    folder = split.data_path / "tiny"
    field = dataset.iid_field
    for part, loaded in zip(PARTS, parts, strict=True):
        rows = (folder / f"tiny.{part}.inter").read_text().splitlines()[1:]
        expected = sorted((r.split("\t")[0], r.split("\t")[1]) for r in rows)
        got = sorted(zip(dataset.id2token(dataset.uid_field, loaded.inter_feat[dataset.uid_field]),
                         dataset.id2token(field, loaded.inter_feat[field]), strict=True))
        assert got == expected, part
    tokens = dataset.id2token(field, dataset.inter_feat[field].numpy())
    for item, n in UNLINKED_ITEMS.items():
        assert int((tokens == item).sum()) == n, item


def test_without_the_split_recboles_kg_dataset_drops_unlinked_items(tmp_path):
    """The failure the split files avoid: RecBole's own split of a KG dataset loses them."""
    config = Config("CKE", "tiny", cmd_args=[], config_dict={"use_gpu": False})
    dataset = create_dataset(config)
    tokens = dataset.id2token(dataset.iid_field, np.asarray(dataset.inter_feat[dataset.iid_field]))
    assert not set(UNLINKED_ITEMS) & set(tokens.tolist())


def test_split_for_config_reads_the_dataset_from_the_config(split, tmp_path):
    config = Config("BPR", "tiny", cmd_args=[], config_dict={"use_gpu": False})
    fresh = split_for_config(config, 2020, tmp_path / "elsewhere")
    assert (fresh.fingerprint, fresh.counts) == (split.fingerprint, split.counts)


def test_side_files_replace_the_folders_own_and_leave_the_test_set(split, tmp_path):
    """A board's corrected ``.link`` sits in the split folder instead of the dataset's own; the
    part files (so the fingerprint) are the same, the folder differs."""
    fixed_link = tmp_path / "fixed.link"
    rows = (TINY / "tiny.link").read_text().splitlines()
    fixed_link.write_text("\n".join(rows[:-3]) + "\n")  # three items lose their entity
    fixed = write_standard_split(TINY, "tiny", 2020, tmp_path / "splits",
                                 side_files={"link": str(fixed_link)})
    assert fixed.fingerprint == split.fingerprint and fixed.counts == split.counts
    assert fixed.data_path != split.data_path
    assert (fixed.data_path / "tiny" / "tiny.link").read_text() == fixed_link.read_text()
    assert (split.data_path / "tiny" / "tiny.link").read_text() == (TINY / "tiny.link").read_text()
    dataset, _ = _loaded_parts("CKE", fixed, tmp_path)
    assert len(dataset.item2entity) == len(rows) - 4  # header and three rows fewer


def test_split_refuses_filters_recbole_would_skip(tmp_path):
    config = Config("BPR", "tiny", cmd_args=[], config_dict={
        "use_gpu": False, "user_inter_num_interval": "[5,inf)"})
    with pytest.raises(ConfigError, match=r"'user_inter_num_interval' = '\[5,inf\)'"):
        split_for_config(config, 2020, tmp_path / "splits")
