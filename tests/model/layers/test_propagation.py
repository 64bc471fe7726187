"""Relation-aware PyG convs against hand-computed sums on a 4-node graph (layers.propagation).

Every behaviour is checked on both paths: PyG's message / aggregate on an ``edge_index`` and the
fused ``message_and_aggregate`` on a :class:`RelationGraph`.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from recbole_llmkg.model.layers import (
    RelationAttentiveConv,
    RelationGraph,
    RelationMeanConv,
    RelationPropagation,
)

# 4 nodes; edges (source -> target, relation): 1->0 r0, 2->0 r1, 3->1 r0, 0->3 r1
EDGE_INDEX = torch.tensor([[1, 2, 3, 0], [0, 0, 1, 3]])
EDGE_TYPE = torch.tensor([0, 1, 0, 1])
X = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 0.0], [1.0, 1.0]])
RELATIONS = torch.tensor([[1.0, 1.0], [0.5, 0.5]])


def both_paths(conv, x=X, relations=RELATIONS, num_targets=None):
    """The conv's output on the edge_index path and on the fused path."""
    graph = RelationGraph.build(EDGE_INDEX, EDGE_TYPE, x.shape[0])
    if num_targets is None:
        per_edge = conv(x, EDGE_INDEX, relations, EDGE_TYPE)
        fused = conv(x, graph, relations)
    else:
        keep = EDGE_INDEX[1] < num_targets
        per_edge = conv(x, EDGE_INDEX[:, keep], relations, EDGE_TYPE[keep], num_targets)
        fused = conv(x, graph.restrict_targets(num_targets), relations, None, num_targets)
    return per_edge, fused


def test_mean_conv_is_the_mean_of_relation_modulated_messages():
    expected = torch.tensor([
        [(0.0 + 2.0) / 2, (2.0 + 0.0) / 2],  # mean of h1*r0 = (0,2) and h2*r1 = (2,0)
        [1.0, 1.0],  # h3 * r0
        [0.0, 0.0],  # no incoming edge
        [0.5, 0.0],  # h0 * r1
    ])
    for out in both_paths(RelationMeanConv()):
        assert torch.allclose(out, expected)


def test_attentive_conv_weights_messages_by_a_softmax_over_incoming_edges():
    # node 0: messages m1 = (0, 2), m2 = (2, 0); logits <m, h0>/sqrt(2) = 0 and 2/sqrt(2)
    a2 = math.exp(2 / math.sqrt(2)) / (1 + math.exp(2 / math.sqrt(2)))
    expected = torch.tensor([
        [2.0 * a2, 2.0 * (1 - a2)],
        [1.0, 1.0],  # a single incoming edge has weight 1
        [0.0, 0.0],
        [0.5, 0.0],
    ])
    for out in both_paths(RelationAttentiveConv(2)):
        assert torch.allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("conv", [RelationMeanConv(), RelationAttentiveConv(2)])
def test_num_targets_computes_only_the_first_rows(conv):
    full, _ = both_paths(conv)
    for out in both_paths(conv, num_targets=2):
        assert out.shape == (2, 2) and torch.allclose(out, full[:2], atol=1e-6)


@pytest.mark.parametrize("attention", [False, True])
def test_fused_path_matches_per_edge_path_with_gradients(attention):
    torch.manual_seed(0)
    n, d = 30, 6
    edge_index = torch.randint(0, n, (2, 200))
    edge_type = torch.randint(0, 4, (200,))
    graph = RelationGraph.build(edge_index, edge_type, n)
    conv = RelationAttentiveConv(d) if attention else RelationMeanConv()
    results = []
    for path in ("per_edge", "fused"):
        x = torch.randn(n, d, generator=torch.Generator().manual_seed(1), requires_grad=True)
        rel = torch.randn(4, d, generator=torch.Generator().manual_seed(2), requires_grad=True)
        out = conv(x, edge_index, rel, edge_type) if path == "per_edge" else conv(x, graph, rel)
        (out * torch.linspace(-1, 1, d)).sum().backward()
        results.append((out, x.grad, rel.grad))
    for a, b in zip(*results, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("attention", [False, True])
def test_propagation_stack_outputs_and_keep_nodes(attention):
    torch.manual_seed(0)
    ego = torch.randn(6, 4)
    edge_index = torch.randint(0, 6, (2, 30))
    edge_type = torch.randint(0, 3, (30,))
    relations = torch.randn(3, 4)
    graph = RelationGraph.build(edge_index, edge_type, 6)
    prop = RelationPropagation(2, 4, attention=attention)
    full = prop(ego, edge_index, relations, edge_type)
    assert len(full) == 3 and torch.equal(full[0], ego)
    conv = prop.convs[0]
    assert torch.allclose(full[1], conv(ego, edge_index, relations, edge_type))
    for part in (prop(ego, edge_index, relations, edge_type, keep_nodes=3),
                 prop(ego, graph, relations, keep_nodes=3)):
        for a, b in zip(full, part, strict=True):
            assert torch.allclose(a[:3], b, atol=1e-6)


def test_pyg_is_imported_only_when_a_conv_is_needed(subprocess_env):
    # PyG costs seconds to import; the registry imports every model module
    code = (
        "import sys\n"
        "from recbole_llmkg.registry import plugin_models\n"
        "import recbole_llmkg.model.layers as layers\n"
        "plugin_models()\n"
        "print('torch_geometric' in sys.modules)\n"
        "layers.RelationMeanConv\n"
        "print('torch_geometric' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
