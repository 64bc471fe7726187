"""FastDropout keeps nn.Dropout's contract: the share dropped, the scale of the rest, the
identity out of training, and gradients through the same mask."""

from __future__ import annotations

import pytest
import torch

from recbole_llmkg.model.layers.dropout import FastDropout


def test_drops_the_asked_share_and_keeps_the_mean():
    torch.manual_seed(0)
    layer = FastDropout(0.3).train()
    out = layer(torch.ones(400, 500))
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - 0.3) < 0.01
    assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1 / 0.7))
    assert abs(out.mean().item() - 1.0) < 0.02


def test_identity_in_evaluation_and_at_zero():
    x = torch.randn(5, 4)
    assert FastDropout(0.5).eval()(x) is x
    assert FastDropout(0.0).train()(x) is x


def test_gradient_follows_the_mask():
    torch.manual_seed(1)
    x = torch.randn(50, 8, requires_grad=True)
    out = FastDropout(0.5).train()(x)
    out.sum().backward()
    expected = torch.where(out != 0, torch.full_like(x, 2.0), torch.zeros_like(x))
    assert torch.equal(x.grad, expected)


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_refuses_a_probability_outside_0_1(p):
    with pytest.raises(ValueError, match="dropout probability"):
        FastDropout(p)
