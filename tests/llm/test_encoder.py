"""TextEncoder: pooling, order restoration, normalisation, grad mode, offline, bad path."""

from __future__ import annotations

import os

import pytest
import torch

from recbole_llmkg.data.settings import default_model_path
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.llm.encoder import TextEncoder, get_encoder, pool

TEXTS = [
    "Toy Story (1995). Genres: Animation, Children's, Comedy",
    "A",
    "A 24-year-old M technician who likes long science fiction films with space battles",
    "GoldenEye (1995). Genres: Action, Adventure, Thriller",
    "",
]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return get_encoder(default_model_path(), batch_size=2)


def test_pool_mean_cls_last_right_and_left_padding():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    left = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])
    assert pool(hidden, right, "mean").flatten().tolist() == [1.0, 4.5]
    assert pool(hidden, right, "cls").flatten().tolist() == [0.0, 4.0]
    # last non-padding token: position 2 / 1 with right padding, 3 / 3 with left padding
    assert pool(hidden, right, "last").flatten().tolist() == [2.0, 5.0]
    assert pool(hidden, left, "last").flatten().tolist() == [3.0, 7.0]
    with pytest.raises(ConfigError, match="llm_pooling"):
        pool(hidden, right, "max")


def test_batches_sorted_by_length_but_output_in_input_order(encoder):
    together = encoder.encode(TEXTS)
    one_by_one = torch.cat([encoder.encode([t]) for t in TEXTS])
    assert together.shape == (len(TEXTS), encoder.dim) == (5, 384)
    assert together.dtype == torch.float32
    torch.testing.assert_close(together, one_by_one, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(together[0], together[3])  # different texts differ


def test_normalised_and_unnormalised(encoder):
    norms = encoder.encode(TEXTS).norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(len(TEXTS)), atol=1e-5, rtol=0)
    raw = TextEncoder(default_model_path(), normalize=False, pooling="cls").encode(TEXTS[:2])
    assert not torch.allclose(raw.norm(dim=1), torch.ones(2))


def test_frozen_by_default_trainable_with_grad(encoder):
    frozen = encoder.encode(TEXTS[:2])
    assert not frozen.requires_grad
    trainable = encoder.encode(TEXTS[:2], grad=True)
    assert trainable.requires_grad
    trainable.sum().backward()
    grads = [p.grad for p in encoder.model.parameters() if p.grad is not None]
    assert grads, "no gradient reached the language model"
    encoder.model.zero_grad(set_to_none=True)


def test_truncation_to_max_length():
    short = TextEncoder(default_model_path(), max_length=4)
    long_a = "alpha beta gamma delta epsilon zeta"
    long_b = "alpha beta gamma something else entirely"
    a, b = short.encode([long_a, long_b])
    torch.testing.assert_close(a, b)  # only [CLS] alpha beta [SEP] survives in both


def test_missing_model_path_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="llm_model_path"):
        TextEncoder(tmp_path / "no-such-model")
    with pytest.raises(ConfigError, match="llm_pooling"):
        TextEncoder(default_model_path(), pooling="max")


def test_offline_mode_is_set():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_progress_bar_with_eta_only_for_long_encodes(encoder, capsys):
    encoder.show_progress, encoder.progress_min_texts = False, len(TEXTS) + 1
    encoder.encode(TEXTS)
    assert "Encoding texts" not in capsys.readouterr().err
    encoder.progress_min_texts = len(TEXTS)
    encoder.encode(TEXTS)
    bar = capsys.readouterr().err
    assert "Encoding texts" in bar and f"{len(TEXTS)}/{len(TEXTS)}" in bar and "<" in bar  # ETA
    encoder.progress_min_texts = None
    encoder.show_progress = True  # show_progress forces it
    encoder.encode(TEXTS[:1])
    assert "Encoding texts" in capsys.readouterr().err
    encoder.show_progress = False


def test_precision_is_fp32_on_cpu(encoder):
    assert encoder.precision == "float32"


def test_replicas_share_the_texts_and_give_the_single_encoder_result(encoder):
    """Several devices: each replica encodes a like share (dealt out by length), and the rows
    come back in input order equal to one encoder's. On CPU two replicas (two model and
    tokenizer instances, as on two GPUs) stand for two devices."""
    from recbole_llmkg.llm.encoder import encode_across

    seen: list[list[str]] = []

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def encode(self, texts):
            seen.append(list(texts))
            return self.inner.encode(texts)

    texts = TEXTS * 3
    replicas = [Counting(TextEncoder(default_model_path(), batch_size=2)) for _ in range(2)]
    together = encode_across(replicas, texts)
    torch.testing.assert_close(together, encoder.encode(texts).cpu(), atol=1e-5, rtol=1e-4)
    assert sorted(len(share) for share in seen) == [7, 8]
    assert sorted(seen[0] + seen[1]) == sorted(texts)


def test_encode_devices_setting():
    from recbole_llmkg.data.settings import encode_devices

    cpu = torch.device("cpu")
    assert encode_devices({"llm_devices": None}, "cpu") == [cpu]
    assert encode_devices({"llm_devices": ["cpu", "cpu"]}, "cpu") == [cpu]  # one per device
    assert encode_devices({"llm_devices": "cuda:1"}, "cpu") == [torch.device("cuda:1")]
    if not torch.cuda.is_available():
        assert encode_devices({"llm_devices": "all"}, "cpu") == [cpu]  # no GPU: the run's
    with pytest.raises(ConfigError, match="llm_devices.*mixes device types"):
        encode_devices({"llm_devices": ["cpu", "cuda:0"]}, "cpu")


def test_loading_the_encoder_prints_nothing(capfd):
    """transformers >= 5 draws a "Loading weights" bar on every load: the plugin hides it, and
    leaves the user's own transformers setting as it was."""
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    TextEncoder(default_model_path())
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out
    assert captured.err == "" and captured.out == ""
    assert hf_logging.is_progress_bar_enabled()
