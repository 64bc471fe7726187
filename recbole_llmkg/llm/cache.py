"""On-disk cache of text embeddings, keyed by text content: each distinct text is encoded once.

One store (a folder) per encoder setting: the model (resolved path, its config and the size and
mtime of every file in its folder), pooling, max length, normalisation and numeric precision.
Inside it, shard files each hold the SHA-256 of some texts, their vectors and a checksum of both.
A lookup hashes the wanted texts, takes the vectors the store already has, whatever dataset,
model or order they were first encoded for, encodes only the rest and adds them as a new shard.
So the text dataset (LLMAugRec) and the KG dataset (KGLLMGNN), which order the same item texts
differently, share one set of vectors.

A shard is written atomically (:mod:`recbole_llmkg.files`); a shard that cannot be read, fails
its checksum or holds a non-finite value is reported with a warning naming the file, deleted, and
its texts encoded again. Many small shards are merged into one once there are more than
:data:`MAX_SHARDS`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from recbole_llmkg.files import write_bytes_atomic

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
MAX_SHARDS = 16  # more shards than this in one store are merged into one
_SUFFIX = ".pt"


def model_fingerprint(model_path: str | os.PathLike) -> str:
    """Identity of a model folder: path, config.json content, size+mtime of each file."""
    path = Path(model_path).expanduser().resolve()
    digest = hashlib.sha256(str(path).encode())
    config = path / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    if path.is_dir():
        for file in sorted(p for p in path.iterdir() if p.is_file()):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def text_digest(text: str) -> bytes:
    """SHA-256 of one text (its cache address)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def settings_key(settings: dict) -> str:
    """One hex key for the encoder settings that change the vectors (not the texts)."""
    payload = json.dumps({"v": FORMAT_VERSION, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def shard_checksum(digests: torch.Tensor, embeddings: torch.Tensor) -> str:
    """SHA-256 over a shard's text digests and vector bytes."""
    digest = hashlib.sha256(digests.numpy().tobytes())
    digest.update(str(tuple(embeddings.shape)).encode())
    digest.update(embeddings.numpy().tobytes())
    return digest.hexdigest()


@dataclass
class _Shard:
    """The verified content of one shard file."""

    path: Path
    digests: torch.Tensor  # uint8 [n, 32]
    embeddings: torch.Tensor  # float32 [n, d]


class EmbeddingCache:
    """A folder of stores, ``<settings key>/<shard>.pt``, each shard a set of text vectors."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def store(self, settings: dict) -> Path:
        """The folder holding the vectors of one encoder setting."""
        return self.folder / settings_key(settings)[:24]

    # -- reading ------------------------------------------------------------------------------
    def _read_shard(self, path: Path) -> _Shard | None:
        """A verified shard, or ``None`` (vanished, or bad: warned and deleted)."""
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            digests, emb = stored["digests"], stored["embeddings"]
            problem = _shard_problem(stored, digests, emb)
        except FileNotFoundError:  # merged away by another process meanwhile
            return None
        except Exception as err:  # any unreadable file is rebuilt, never trusted
            problem = f"cannot be read ({type(err).__name__}: {err})"
        if problem is None:
            return _Shard(path, digests, emb)
        logger.warning(
            "Embedding cache file %s %s; it was deleted and its texts are encoded again.",
            path,
            problem,
        )
        path.unlink(missing_ok=True)
        return None

    def shards(self, settings: dict) -> list[_Shard]:
        """Every verified shard of the store for ``settings``, oldest first."""
        folder = self.store(settings)
        if not folder.is_dir():
            return []
        paths = sorted(folder.glob(f"*{_SUFFIX}"), key=_mtime)
        return [s for s in map(self._read_shard, paths) if s is not None]

    # -- writing ------------------------------------------------------------------------------
    def _write_shard(self, folder: Path, digests: torch.Tensor, emb: torch.Tensor, meta: dict):
        """Write one shard atomically, named by its checksum; ``None`` (warned) on failure."""
        digests = digests.contiguous()
        emb = emb.detach().float().cpu().contiguous()
        checksum = shard_checksum(digests, emb)
        path = folder / f"{checksum[:24]}{_SUFFIX}"
        buffer = io.BytesIO()
        torch.save(
            {
                "version": FORMAT_VERSION,
                "digests": digests,
                "embeddings": emb,
                "checksum": checksum,
                "meta": json.dumps(meta, default=str),
            },
            buffer,
        )
        try:
            write_bytes_atomic(path, buffer.getvalue())
        except OSError as err:
            logger.warning(
                "Could not write embedding cache %s (%s); continuing without it.", path, err
            )
            return None
        return path

    def _merge(self, settings: dict, shards: list[_Shard]) -> None:
        """Replace many shards by one holding each text once."""
        digests = torch.cat([s.digests for s in shards])
        emb = torch.cat([s.embeddings for s in shards])
        _, first = _first_occurrence(digests)
        merged = self._write_shard(self.store(settings), digests[first], emb[first], settings)
        if merged is not None:
            for shard in shards:
                if shard.path != merged:
                    shard.path.unlink(missing_ok=True)

    # -- the one call the datasets make -------------------------------------------------------
    def get_or_compute(
        self,
        settings: dict,
        texts: Sequence[str],
        compute: Callable[[list[str]], torch.Tensor],
        what: str = "text",
    ) -> torch.Tensor:
        """Vectors ``[len(texts), d]`` of ``texts``: cached ones loaded, the rest computed once.

        ``compute`` receives each distinct missing text once; its result is stored for every
        later lookup with the same ``settings``, whatever the order or the other texts.
        """
        texts = list(texts)
        wanted = [text_digest(t) for t in texts]
        shards = self.shards(settings)
        found = _index(shards)
        missing = list(dict.fromkeys(d for d in wanted if d not in found))
        new = None
        if missing:
            by_digest = dict(zip(wanted, texts, strict=True))
            new = compute([by_digest[d] for d in missing]).detach().float().cpu()
            new_digests = torch.tensor(list(map(list, missing)), dtype=torch.uint8)
            self._save_new(settings, shards, new_digests, new, what)
        logger.info(
            "%s embeddings: %d texts, %d distinct new ones encoded, the rest from cache %s",
            what.capitalize(),
            len(texts),
            len(missing),
            self.store(settings),
        )
        return _assemble(wanted, shards, found, missing, new)

    def _save_new(self, settings, shards, digests, emb, what) -> None:
        if not torch.isfinite(emb).all():
            logger.warning("The encoder returned non-finite %s vectors; they are not cached.", what)
            return
        saved = self._write_shard(self.store(settings), digests, emb, settings)
        if saved is not None and len(shards) + 1 > MAX_SHARDS:
            self._merge(settings, [*shards, _Shard(saved, digests, emb)])


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _shard_problem(stored, digests, emb) -> str | None:
    """Why a loaded shard cannot be trusted, or ``None``."""
    if stored.get("version") != FORMAT_VERSION:
        return f"has format version {stored.get('version')}, not {FORMAT_VERSION}"
    if not (
        isinstance(digests, torch.Tensor)
        and isinstance(emb, torch.Tensor)
        and digests.dtype == torch.uint8
        and digests.dim() == 2
        and digests.shape[1] == 32
        and emb.dim() == 2
        and emb.shape[0] == digests.shape[0]
    ):
        return "does not hold matching text digests and vectors"
    if stored.get("checksum") != shard_checksum(digests, emb):
        return "fails its checksum (its contents changed after it was written)"
    if not torch.isfinite(emb).all():
        return "holds non-finite values (NaN or inf)"
    return None


def _first_occurrence(digests: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(unique rows, index of each one's first occurrence)`` of a ``[n, 32]`` uint8 tensor."""
    unique, inverse = torch.unique(digests, dim=0, return_inverse=True)
    first = torch.full((len(unique),), len(digests), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(digests)), reduce="amin")
    return unique, first


def _index(shards: list[_Shard]) -> dict[bytes, tuple[int, int]]:
    """Text digest -> (shard, row); the oldest shard wins for a text stored twice."""
    index: dict[bytes, tuple[int, int]] = {}
    for s, shard in reversed(list(enumerate(shards))):  # older shards overwrite newer ones
        digests = shard.digests.numpy().view("V32").ravel().tolist()  # one bytes per row
        index.update(zip(digests, zip([s] * len(digests), range(len(digests)), strict=True),
                         strict=True))
    return index


def _assemble(wanted, shards, found, missing, new) -> torch.Tensor:
    """Gather the vectors of ``wanted`` from the shards and the newly computed rows."""
    sources = [s.embeddings for s in shards] + ([new] if new is not None else [])
    if not sources or not wanted:
        return torch.zeros(0, sources[0].shape[1] if sources else 0)
    new_row = {d: (len(shards), i) for i, d in enumerate(missing)}
    where = torch.tensor([found[d] if d in found else new_row[d] for d in wanted], dtype=torch.long)
    out = torch.empty(len(wanted), sources[0].shape[1])
    for s, source in enumerate(sources):
        rows = where[:, 0] == s
        if rows.any():
            out[rows] = source[where[rows, 1]]
    return out
