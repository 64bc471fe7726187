"""TextEncoder: a local Hugging Face model that turns texts into fixed-size vectors.

Runs fully offline (``local_files_only`` and ``HF_HUB_OFFLINE``): a recommender run must never
reach for the network. Texts are tokenised once, sorted by length so each batch pads little, and
put back in input order. Frozen use runs under ``torch.inference_mode`` (and fp16/bf16 autocast
on CUDA); ``encode(texts, grad=True)`` keeps the graph for models that fine-tune the encoder.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from recbole_llmkg.compat import quiet_model_loading
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.llm.bag_of_words import BagOfWordsEncoder, is_bag_of_words, not_fine_tunable

logger = logging.getLogger(__name__)

POOLINGS = ("mean", "cls", "last")
# How a text longer than ``max_length`` tokens is read: ``truncate`` keeps its first
# ``max_length`` tokens; ``chunk`` splits it into windows of ``max_length`` tokens (special tokens
# included), embeds each and averages them weighted by their token counts (chunk-and-pool), so the
# whole text counts at the cost of one forward per window.
LONG_TEXT_MODES = ("truncate", "chunk")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool token states ``[B, L, H]`` with attention mask ``[B, L]`` into ``[B, H]``.

    ``last`` takes the last non-padding token, wherever the padding is (left or right), which is
    where a decoder LM summarises the text.
    """
    if how == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    if how == "cls":
        return hidden[:, 0]
    if how == "last":
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = (positions * mask.long()).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ConfigError(f"llm_pooling must be one of {', '.join(POOLINGS)}, got '{how}'.")


def forward_precision(device: str | torch.device) -> str:
    """Precision frozen encodes run in on ``device``: bf16 (fp16 without bf16) on CUDA, else fp32.

    Part of the embedding-cache key, since half-precision vectors differ from fp32 ones.
    """
    if torch.device(device).type != "cuda":
        return "float32"
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


class TextEncoder:
    """Frozen (or trainable) sentence encoder over a local Hugging Face model folder.

    Args:
        model_path: local folder with config, weights and tokenizer (``llm_model_path``).
        pooling: ``mean`` | ``cls`` | ``last`` (``llm_pooling``).
        max_length: tokens kept per text (``llm_max_length``).
        batch_size: texts per forward pass (``llm_batch_size``).
        normalize: L2-normalise outputs (``llm_normalize``).
        device: where the model runs.
        show_progress: always show a progress bar (texts, with ETA).
        progress_min_texts: show it anyway for at least this many texts (``None``: never).
        long_text: ``truncate`` | ``chunk`` (``llm_long_text``; see :data:`LONG_TEXT_MODES`).
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        pooling: str = "mean",
        max_length: int = 64,
        batch_size: int = 128,
        normalize: bool = True,
        device: str | torch.device = "cpu",
        show_progress: bool = False,
        progress_min_texts: int | None = None,
        long_text: str = "truncate",
    ) -> None:
        path = Path(model_path).expanduser()
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ConfigError(
                f"llm_model_path '{model_path}' is not a local Hugging Face model folder "
                "(expected a directory with config.json, weights and tokenizer files). Set the "
                "config key 'llm_model_path' to such a folder; models are never downloaded."
            )
        if is_bag_of_words(path):
            raise not_fine_tunable(model_path)
        if pooling not in POOLINGS:
            raise ConfigError(f"llm_pooling must be one of {', '.join(POOLINGS)}, got '{pooling}'.")
        if int(max_length) < 1 or int(batch_size) < 1:
            raise ConfigError("llm_max_length and llm_batch_size must be positive integers.")
        if long_text not in LONG_TEXT_MODES:
            raise ConfigError(f"llm_long_text must be one of {', '.join(LONG_TEXT_MODES)}, got "
                              f"'{long_text}'.")
        self.long_text = long_text
        from transformers import AutoModel, AutoTokenizer

        self.model_path = path.resolve()
        self.pooling = pooling
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.normalize = bool(normalize)
        self.device = torch.device(device)
        self.show_progress = show_progress
        self.progress_min_texts = progress_min_texts
        start = time.perf_counter()
        with quiet_model_loading():
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        if self.tokenizer.pad_token is None:  # decoder LMs often ship without one
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        with quiet_model_loading():
            self.model = AutoModel.from_pretrained(self.model_path, local_files_only=True)
        self.model.to(self.device).eval()
        logger.info(
            "Loaded text encoder %s in %.1f s", self.model_path, time.perf_counter() - start
        )

    @property
    def dim(self) -> int:
        """Width of the embeddings (the model's hidden size)."""
        return int(self.model.config.hidden_size)

    @property
    def precision(self) -> str:
        """Numeric precision of the forward pass (:func:`forward_precision`)."""
        return forward_precision(self.device)

    def _autocast(self):
        if self.device.type != "cuda":
            return nullcontext()
        return torch.autocast("cuda", dtype=getattr(torch, self.precision))

    def _progress(self, total: int):
        """A tqdm bar counting texts (so its ETA is in texts), or ``None`` for short encodes."""
        wanted = self.show_progress or (
            self.progress_min_texts is not None and total >= self.progress_min_texts
        )
        if not wanted:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc="Encoding texts", unit="text")

    def _token_ids(self, texts: list[str]) -> tuple[list[list[int]], list[int] | None]:
        """Token ids per forward row and, for ``chunk``, the text each row belongs to."""
        if self.long_text == "truncate":
            return self.tokenizer(texts, truncation=True, max_length=self.max_length,
                                  add_special_tokens=True)["input_ids"], None
        plain = self.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        prefix, suffix = self._special_tokens()
        room = max(self.max_length - len(prefix) - len(suffix), 1)
        ids, owner = [], []
        for t, tokens in enumerate(plain):
            for at in range(0, max(len(tokens), 1), room):
                ids.append(prefix + tokens[at:at + room] + suffix)
                owner.append(t)
        return ids, owner

    def _special_tokens(self) -> tuple[list[int], list[int]]:
        """The ids the tokenizer puts before and after a text (``[CLS]`` / ``[SEP]`` for BERT)."""
        plain = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        at = next((i for i in range(len(full) - len(plain) + 1)
                   if full[i:i + len(plain)] == plain), 0)
        return full[:at], full[at + len(plain):]

    def encode(self, texts: Sequence[str], grad: bool = False) -> torch.Tensor:
        """Embed ``texts`` -> float32 ``[len(texts), dim]`` on ``self.device``, in input order.

        With ``grad=True`` the forward keeps its autograd graph (for end-to-end fine-tuning);
        otherwise it runs under ``torch.inference_mode``.
        """
        texts = list(texts)
        if not texts:
            return torch.zeros(0, self.dim, device=self.device)
        start = time.perf_counter()
        ids, owner = self._token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        bar = self._progress(len(ids))
        chunks = []
        context = nullcontext() if grad else torch.inference_mode()
        with context, self._autocast():
            for batch in batches:
                padded = self.tokenizer.pad(
                    {"input_ids": [ids[i] for i in batch]}, return_tensors="pt"
                )
                padded = {k: v.to(self.device) for k, v in padded.items()}
                hidden = self.model(**padded).last_hidden_state
                chunks.append(pool(hidden, padded["attention_mask"], self.pooling).float())
                if bar is not None:
                    bar.update(len(batch))
        if bar is not None:
            bar.close()
        out = torch.cat(chunks)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        out = out[inverse.to(out.device)]
        if owner is not None:  # chunk-and-pool: token-weighted mean of each text's windows
            index = torch.tensor(owner, device=out.device)
            weight = torch.tensor([float(len(i)) for i in ids], device=out.device)
            total = torch.zeros(len(texts), device=out.device).index_add(0, index, weight)
            share = (weight / total[index]).unsqueeze(1).to(out.dtype)  # exactly 1: one window
            out = torch.zeros(len(texts), out.shape[1], device=out.device,
                              dtype=out.dtype).index_add(0, index, out * share)
        if self.normalize:
            out = F.normalize(out, dim=-1)
        seconds = time.perf_counter() - start
        logger.info(
            "Encoded %d texts in %.2f s (%.0f texts/s)",
            len(texts),
            seconds,
            len(texts) / max(seconds, 1e-9),
        )
        return out


_LOADED: dict[tuple, TextEncoder | BagOfWordsEncoder] = {}


def get_encoder(
    model_path: str | os.PathLike,
    pooling: str = "mean",
    max_length: int = 64,
    batch_size: int = 128,
    normalize: bool = True,
    device: str | torch.device = "cpu",
    show_progress: bool = False,
    progress_min_texts: int | None = None,
    long_text: str = "truncate",
) -> TextEncoder | BagOfWordsEncoder:
    """A shared frozen encoder: loading a model takes seconds, so one per settings is kept.

    A folder whose ``config.json`` declares the bag-of-words encoder gets that instead of a
    language model (:mod:`~recbole_llmkg.llm.bag_of_words`).
    """
    settings = (
        str(Path(model_path).expanduser().resolve()),
        pooling,
        int(max_length),
        int(batch_size),
        bool(normalize),
        long_text,
    )
    key = (*settings, str(torch.device(device)))
    encoder = _LOADED.get(key)
    if encoder is None:
        for other in [k for k in _LOADED if k[:-1] != settings]:
            del _LOADED[other]  # one model in memory (one replica per device)
        if is_bag_of_words(model_path):
            encoder = BagOfWordsEncoder(model_path, normalize=normalize, device=device)
        else:
            encoder = TextEncoder(model_path, pooling, max_length, batch_size, normalize, device,
                                  long_text=long_text)
        _LOADED[key] = encoder
    encoder.show_progress = show_progress
    encoder.progress_min_texts = progress_min_texts
    return encoder


def encode_across(encoders: Sequence[TextEncoder], texts: Sequence[str]) -> torch.Tensor:
    """Embed ``texts`` with several encoder replicas at once (one per device), in input order,
    on the CPU.

    Texts are dealt out round-robin in order of length, so every replica gets a like share of
    long and short ones; each replica encodes its share in its own thread (a CUDA forward
    releases the GIL). One encoder: its plain :meth:`TextEncoder.encode`.
    """
    texts = list(texts)
    if len(encoders) == 1 or len(texts) < 2:
        return encoders[0].encode(texts).cpu()
    from concurrent.futures import ThreadPoolExecutor

    by_length = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    shares = [by_length[k::len(encoders)] for k in range(len(encoders))]
    with ThreadPoolExecutor(max_workers=len(encoders)) as pool:
        parts = list(pool.map(lambda job: job[0].encode([texts[i] for i in job[1]]).cpu(),
                              zip(encoders, shares, strict=True)))
    out = torch.empty(len(texts), parts[0].shape[1], dtype=parts[0].dtype)
    for share, part in zip(shares, parts, strict=True):
        out[torch.tensor(share, dtype=torch.long)] = part
    return out
