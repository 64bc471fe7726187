"""Sampled training of the graph models (KGLLMGNN, LLMAugRec's smoothing) on tiny.

A sampled step must train (the loss falls), must equal the full-graph step when every neighbour
is kept, and the chunked evaluation pass must equal the one-pass propagation.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import build_run
from recbole.utils import KGDataLoaderState
from test_plugin_models import fit_recording_losses

from recbole_llmkg.errors import ConfigError


@pytest.mark.parametrize("name, overrides", [
    ("KGLLMGNN", {}),
    ("KGLLMGNN", {"train_fanouts": [2, 3, -1], "attention": False}),
    ("KGLLMGNN", {"train_sampling": "full"}),
    ("LLMAugRec", {}),
    ("LLMAugRec", {"n_layers": 2, "train_fanouts": [3, 3], "train_sampling": "sampled"}),
    ("LLMAugRec", {"train_sampling": "full"}),
])
def test_graph_models_train_with_and_without_sampling(name, overrides, tmp_path):
    config, model, trainer, data = build_run(name, tmp_path, **overrides)
    sampled = config["train_sampling"] == "sampled"
    sampler = model.sampler if name == "KGLLMGNN" else model.smoothing.sampler
    assert (sampler is not None) == sampled
    losses = fit_recording_losses(trainer, data[0], data[1])
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


def first_batch(loader):
    if hasattr(loader, "set_mode"):
        loader.set_mode(KGDataLoaderState.RS)
    return next(iter(loader))


def test_kgllmgnn_sampled_step_with_full_fanouts_equals_the_full_graph_step(tmp_path):
    _, model, _, data = build_run("KGLLMGNN", tmp_path, train_fanouts=[-1, -1, -1])
    batch = first_batch(data[0])
    model.eval()  # no dropout: both paths see the same graph
    sampled = model.calculate_loss(batch)
    model.sampler = None
    full = model.calculate_loss(batch)
    assert torch.allclose(sampled, full, atol=1e-6)
    model.train()
    torch.manual_seed(0)
    model.sampler = build_run("KGLLMGNN", tmp_path / "b", train_fanouts=[1, 1, 1])[1].sampler
    model.eval()
    assert not torch.allclose(model.calculate_loss(batch), full, atol=1e-4)


def test_llmaugrec_sampled_step_with_full_fanouts_equals_the_full_graph_step(tmp_path):
    _, model, _, data = build_run("LLMAugRec", tmp_path, n_layers=2, train_fanouts=[-1, -1],
                                  train_sampling="sampled")
    batch = first_batch(data[0])
    model.eval()
    sampled = model.calculate_loss(batch)
    model.smoothing.sampler = None
    assert torch.allclose(sampled, model.calculate_loss(batch), atol=1e-6)


def test_kgllmgnn_chunked_evaluation_equals_one_pass(tmp_path):
    _, model, _, _ = build_run("KGLLMGNN", tmp_path)
    model.eval()
    model.inference_chunk_edges = 0
    users, items = model.compute_evaluation_embeddings()
    model.inference_chunk_edges = 64
    assert len(model.graph.target_chunks(model.n_nodes, 64)) > 5
    chunked_users, chunked_items = model.compute_evaluation_embeddings()
    assert torch.allclose(users, chunked_users, atol=1e-6)
    assert torch.allclose(items, chunked_items, atol=1e-6)


@pytest.mark.parametrize("name", ["KGLLMGNN", "LLMAugRec"])
def test_sampling_keys_are_checked(name, tmp_path):
    with pytest.raises(ConfigError, match="train_sampling"):
        build_run(name, tmp_path, train_sampling="partial")
    with pytest.raises(ConfigError, match="'train_fanouts' must be one integer or a list of"):
        build_run(name, tmp_path / "b", train_fanouts=[5, 5, 5, 5], train_sampling="sampled")
