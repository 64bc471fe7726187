"""Loading a checkpoint: same scores as the trained model; clear errors for wrong files or data."""

from __future__ import annotations

import shutil

import pytest
import torch
from conftest import rewrite_lines

import recbole_llmkg
from recbole_llmkg.checkpoint import load_checkpoint
from recbole_llmkg.errors import ServeError
from recbole_llmkg.serve import Recommender


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(ServeError, match=r"Checkpoint '.*nope.pth' does not exist"):
        Recommender.load(tmp_path / "nope.pth")


def test_a_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(ServeError, match="not a readable RecBole checkpoint"):
        Recommender.load(path)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ServeError, match="not a RecBole checkpoint"):
        Recommender.load(tmp_path / "other.pth")


def test_checkpoint_of_another_plugin_version(served_checkpoints, tmp_path):
    saved = load_checkpoint(served_checkpoints("BPR"))
    assert saved["plugin_version"] == recbole_llmkg.__version__  # every checkpoint says
    saved["plugin_version"] = "9.9.0"
    torch.save(saved, tmp_path / "future.pth")
    with pytest.raises(ServeError, match=r"recbole_llmkg 9\.9\.0; this is 0\.1"):
        Recommender.load(tmp_path / "future.pth")


@pytest.mark.parametrize("model", ["BPR", "LLMAugRec", "KASimCF"])
def test_checkpoint_of_other_data_is_refused(served_checkpoints, tiny_copy, model):
    # three extra users: the data the checkpoint is served with is not its own
    extra = [f"90{i}\t{item}\t4\t88000000{i}" for i in range(3) for item in (10, 21, 37)]
    rewrite_lines(tiny_copy / "tiny" / "tiny.inter", lambda lines: lines + extra)
    with pytest.raises(ServeError, match=r"trained on another dataset: 'tiny.inter' .* has "
                                         r"changed since training.*retrain"):
        Recommender.load(served_checkpoints(model), data_path=str(tiny_copy))
    saved = load_checkpoint(served_checkpoints(model))
    del saved["data_fingerprint"]  # an older checkpoint: the weight shapes still catch it
    torch.save(saved, tiny_copy / "old.pth")
    with pytest.raises(ServeError, match=r"does not match dataset 'tiny'.*users.*retrain"):
        Recommender.load(tiny_copy / "old.pth", data_path=str(tiny_copy))


def test_same_sized_data_with_other_ids_is_refused(served_checkpoints, tiny_copy):
    """Two .item rows swapped: every shape is the same, but RecBole would number the items
    differently and the weights would score the wrong films; the fingerprint refuses it."""
    def swap(lines):
        return [lines[0], lines[2], lines[1], *lines[3:]]

    rewrite_lines(tiny_copy / "tiny" / "tiny.item", swap)
    with pytest.raises(ServeError, match=r"'tiny.item' in '.*' has changed since training"):
        Recommender.load(served_checkpoints("LLMAugRec"), data_path=str(tiny_copy))


def test_reloaded_model_scores_as_trained(served_checkpoints, tiny_copy):
    path = served_checkpoints("LLMAugRec")
    first = Recommender.load(path).recommend(["1", "7"], k=5)
    second = Recommender.load(path, data_path=str(tiny_copy)).recommend(["1", "7"], k=5)
    assert list(first["item"]) == list(second["item"])
    torch.testing.assert_close(torch.tensor(first["score"].to_numpy()),
                               torch.tensor(second["score"].to_numpy()))
    shutil.rmtree(tiny_copy)
