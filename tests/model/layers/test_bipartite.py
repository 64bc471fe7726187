"""LightGCN smoothing: the same numbers as the dense formula, and the exact split of a user's final
vector into its ego share and one term per history item (what explanations and fold-in read)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbole_llmkg.model.layers.bipartite import BipartiteSmoothing


def random_graph(seed: int = 0, users: int = 7, items: int = 9) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((users, items)) < 0.35).astype(np.float32)
    dense[:, -1] = 0.0  # an item without interactions
    dense[0, 0] = 1.0
    return sp.csr_matrix(dense)


def test_layers_match_the_dense_lightgcn_formula():
    graph = random_graph()
    n_users, n_items = graph.shape
    smoothing = BipartiteSmoothing(graph, n_layers=3, device="cpu")
    torch.manual_seed(0)
    users, items = torch.randn(n_users, 4), torch.randn(n_items, 4)
    final_users, final_items, _ = smoothing(users, items)

    a = np.zeros((n_users + n_items,) * 2, dtype=np.float64)
    a[:n_users, n_users:] = graph.toarray()
    a[n_users:, :n_users] = graph.toarray().T
    degree = a.sum(1)
    scale = np.where(degree > 0, 1 / np.sqrt(np.maximum(degree, 1)), 0.0)
    norm = scale[:, None] * a * scale[None, :]
    layer = np.concatenate([users.numpy(), items.numpy()]).astype(np.float64)
    total = layer.copy()
    for _ in range(3):
        layer = norm @ layer
        total += layer
    expected = total / 4
    assert np.allclose(final_users.numpy(), expected[:n_users], atol=1e-5)
    assert np.allclose(final_items.numpy(), expected[n_users:], atol=1e-5)
    # an item without edges keeps only its ego share
    assert np.allclose(final_items[-1].numpy(), items[-1].numpy() / 4, atol=1e-6)


def test_a_user_is_its_ego_share_plus_one_term_per_history_item():
    graph = random_graph(seed=1)
    smoothing = BipartiteSmoothing(graph, n_layers=2, device="cpu")
    torch.manual_seed(1)
    users, items = torch.randn(graph.shape[0], 5), torch.randn(graph.shape[1], 5)
    final_users, _, messages = smoothing(users, items)
    for user in range(graph.shape[0]):
        history = torch.as_tensor(graph[user].indices, dtype=torch.long)
        terms = smoothing.history_terms(torch.tensor(user), history, messages)
        rebuilt = smoothing.ego_share() * users[user] + terms.sum(dim=0)
        assert torch.allclose(rebuilt, final_users[user], atol=1e-5)



def test_gradients_match_the_dense_formula():
    """The backward pass multiplies by the same symmetric matrix instead of transposing it: the
    gradient of a loss over every layer equals the dense LightGCN formula's."""
    graph = random_graph(seed=3)
    n_users, n_items = graph.shape
    smoothing = BipartiteSmoothing(graph, n_layers=2, device="cpu")
    torch.manual_seed(1)
    users = torch.randn(n_users, 4, requires_grad=True)
    items = torch.randn(n_items, 4, requires_grad=True)
    target = torch.randn(n_users + n_items, 4)
    final_users, final_items, _ = smoothing(users, items)
    (torch.cat([final_users, final_items]) * target).pow(2).sum().backward()

    dense = torch.zeros(n_users + n_items, n_users + n_items)
    dense[:n_users, n_users:] = torch.as_tensor(graph.toarray())
    dense = dense + dense.T
    degree = dense.sum(dim=1)
    norm = torch.where(degree > 0, degree.clamp_min(1).rsqrt(), torch.zeros_like(degree))
    adjacency = norm[:, None] * dense * norm[None, :]
    ego = torch.cat([users, items]).detach().requires_grad_(True)
    layers = [ego, adjacency @ ego, adjacency @ (adjacency @ ego)]
    (torch.stack(layers).mean(dim=0) * target).pow(2).sum().backward()
    torch.testing.assert_close(users.grad, ego.grad[:n_users])
    torch.testing.assert_close(items.grad, ego.grad[n_users:])
