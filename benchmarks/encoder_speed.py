"""Throughput of the plugin's TextEncoder against sentence-transformers' own ``encode()``.

Both encode the ml-100k item texts (the plugin's template, RecBole's bundled copy) with the bundled
all-MiniLM-L6-v2, the same batch size, max length and torch thread count, on the CPU. Runs are
interleaved and repeated; the best run of each is compared. Prints texts/s of each, their ratio
and the largest absolute difference between the two sets of (L2-normalised) embeddings.

    python benchmarks/encoder_speed.py [--repeats 3] [--batch-size 128] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import torch


def item_texts() -> list[str]:
    """ml-100k item texts, built by the plugin's dataset class from its dataset YAML."""
    from recbole_llmkg.config import Config
    from recbole_llmkg.data import LLMTextDataset

    config = Config(
        "BPR", "ml-100k", config_dict={"llm_cache_dir": False, "state": "ERROR"}, cmd_args=[]
    )
    return LLMTextDataset(config).item_texts()[1:]


def timed(encode: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = encode()
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from sentence_transformers import SentenceTransformer

    from recbole_llmkg.data.settings import default_model_path
    from recbole_llmkg.llm.encoder import TextEncoder

    texts = item_texts()
    path = default_model_path()
    ours = TextEncoder(path, max_length=args.max_length, batch_size=args.batch_size)
    theirs = SentenceTransformer(path, device="cpu")
    theirs.max_seq_length = args.max_length

    def run_ours() -> torch.Tensor:
        return ours.encode(texts)

    def run_theirs() -> torch.Tensor:
        return theirs.encode(
            texts, batch_size=args.batch_size, convert_to_tensor=True, normalize_embeddings=True
        )

    best = {"TextEncoder": float("inf"), "sentence-transformers": float("inf")}
    outputs = {}
    for repeat in range(args.repeats):
        for name, run in (("TextEncoder", run_ours), ("sentence-transformers", run_theirs)):
            seconds, outputs[name] = timed(run)
            best[name] = min(best[name], seconds)
            print(f"repeat {repeat + 1}: {name:22s} {len(texts) / seconds:7.1f} texts/s")
    rate = {name: len(texts) / seconds for name, seconds in best.items()}
    diff = (outputs["TextEncoder"].cpu() - outputs["sentence-transformers"].cpu()).abs().max()
    print(
        f"{len(texts)} ml-100k item texts, batch {args.batch_size}, max length "
        f"{args.max_length}, {torch.get_num_threads()} thread(s), best of {args.repeats}:"
    )
    for name, value in rate.items():
        print(f"  {name:22s} {value:7.1f} texts/s")
    ratio = rate["TextEncoder"] / rate["sentence-transformers"]
    print(f"  ratio TextEncoder / sentence-transformers: {ratio:.2f}")
    print(f"  max abs difference of the embeddings: {diff.item():.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
