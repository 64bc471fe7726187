"""Chunked similarity and the in-place closed form against dense float64 references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.layers.similarity import (
    as_view,
    blended_cosine_topk,
    closed_form_bytes,
    closed_form_weights,
)


def random_views(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    behaviour = sp.csr_matrix((rng.random((n, 70)) < 0.15).astype(np.float32))
    text = rng.standard_normal((n, 6)).astype(np.float32)
    knowledge = sp.csr_matrix((rng.random((n, 30)) < 0.1) * rng.random((n, 30)))
    return [behaviour, text, as_view(knowledge)]


def dense_blended_cosine(views, weights, shrink):
    dense = [v.toarray() if sp.issparse(v) else v for v in views]
    dense = [d.astype(np.float64) for d in dense]
    num = sum(w * d @ d.T for d, w in zip(dense, weights, strict=True))
    norms = [np.linalg.norm(d, axis=1) for d in dense]
    den = sum(w * np.outer(n, n) for n, w in zip(norms, weights, strict=True)) + shrink
    sim = num / np.maximum(den, 1e-12)
    np.fill_diagonal(sim, -np.inf)
    return sim


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_blended_cosine_topk_equals_the_dense_similarity(chunk_size):
    views, weights = random_views(), (1.0, 0.5, 2.0)
    index, value = blended_cosine_topk(views, weights, topk=5, chunk_size=chunk_size, shrink=1.0)
    sim = dense_blended_cosine(views, weights, 1.0)
    expected = -np.sort(-sim, axis=1)[:, :5]
    assert np.allclose(value.numpy(), expected, atol=1e-5)
    picked = np.take_along_axis(sim, index.numpy(), axis=1)  # the ids carry those values
    assert np.allclose(picked, expected, atol=1e-5)


def test_blended_cosine_needs_a_nonzero_weight():
    with pytest.raises(ConfigError, match="behaviour_weight"):
        blended_cosine_topk(random_views(), (0.0, 0.0, 0.0), topk=3)


@pytest.mark.parametrize("chunk_size", [5, 16, 1000])
def test_closed_form_equals_a_float64_inverse(chunk_size):
    views, weights = random_views(n=37), (1.0, 3.0, 2.0)
    dense = [(v.toarray() if sp.issparse(v) else v).astype(np.float64) for v in views]
    gram = sum(w * d @ d.T for d, w in zip(dense, weights, strict=True))
    gram += np.diag(2.0 + 0.1 * np.diag(gram))
    p = np.linalg.inv(gram)
    expected = p / (-np.diag(p))
    np.fill_diagonal(expected, 0.0)
    got = closed_form_weights(views, weights, 2.0, 0.1, chunk_size)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert np.allclose(got, expected, atol=1e-5 * np.abs(expected).max())


def test_closed_form_names_reg_weight_when_not_positive_definite():
    with pytest.raises(ConfigError, match="reg_weight"):
        closed_form_weights([np.eye(4, dtype=np.float32)], (-1.0,), reg_weight=0.0)


def test_closed_form_estimate_is_one_dense_float32_matrix_plus_chunks():
    assert closed_form_bytes(20_000, 512) == 4 * 20_000**2 + 20 * 512 * 20_000


def test_as_view_reads_torch_sparse_and_dense():
    dense = torch.tensor([[0.0, 2.0], [1.0, 0.0]])
    assert (as_view(dense.to_sparse()).toarray() == dense.numpy()).all()
    assert as_view(dense).dtype == np.float32
