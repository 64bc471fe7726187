"""On-disk cache of text embeddings, so a second run with the same settings skips the encoder.

The key covers everything that changes the vectors: the model (resolved path, a hash of its
config and the size and mtime of every file in its folder), pooling, max length, normalisation,
the template, and a hash of all the texts in order. Files are written to a temp file and renamed
(``os.replace``), so a crash never leaves half a file; a file that cannot be read or whose stored
key or shape does not match is reported with a warning and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


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


def texts_hash(texts: Sequence[str]) -> str:
    """Hash of the texts in order (a text's length is hashed too, so joins cannot collide)."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def cache_key(settings: dict, texts: Sequence[str]) -> str:
    """One hex key from the encoder settings, template and texts."""
    payload = json.dumps(
        {"v": FORMAT_VERSION, **settings, "texts": texts_hash(texts)}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class EmbeddingCache:
    """A folder of ``<name>-<key>.pt`` files, each holding one embedding matrix and its key."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def path(self, name: str, key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.folder / f"{safe}-{key[:24]}.pt"

    def load(self, name: str, key: str, rows: int) -> torch.Tensor | None:
        """The cached matrix, or ``None`` (absent, unreadable or not matching: warned)."""
        path = self.path(name, key)
        if not path.is_file():
            return None
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            emb = stored["embeddings"]
            ok = (
                stored.get("key") == key
                and isinstance(emb, torch.Tensor)
                and emb.dim() == 2
                and emb.shape[0] == rows
            )
        except Exception as err:  # any unreadable file is rebuilt, never trusted
            logger.warning(
                "Embedding cache file %s is corrupt (%s: %s); rebuilding it.",
                path,
                type(err).__name__,
                err,
            )
            return None
        if not ok:
            logger.warning(
                "Embedding cache file %s does not match the current texts/settings; rebuilding it.",
                path,
            )
            return None
        return emb.float()

    def save(self, name: str, key: str, embeddings: torch.Tensor, meta: dict) -> Path | None:
        """Write atomically (temp file + ``os.replace``); a failure only costs a warning."""
        path = self.path(name, key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=path.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    torch.save(
                        {
                            "key": key,
                            "meta": json.dumps(meta, default=str),
                            "embeddings": embeddings.detach().float().cpu().contiguous(),
                        },
                        f,
                    )
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except OSError as err:
            logger.warning(
                "Could not write embedding cache %s (%s); continuing without it.", path, err
            )
            return None
        return path

    def get_or_compute(
        self,
        name: str,
        settings: dict,
        texts: Sequence[str],
        compute: Callable[[Sequence[str]], torch.Tensor],
    ) -> torch.Tensor:
        """Load ``name`` for these settings and texts, or compute, store and return it."""
        key = cache_key(settings, texts)
        cached = self.load(name, key, len(texts))
        if cached is not None:
            logger.info(
                "Using cached %s embeddings (%d texts) from %s",
                name,
                len(texts),
                self.path(name, key),
            )
            return cached
        emb = compute(texts)
        saved = self.save(name, key, emb, {**settings, "rows": len(texts)})
        if saved is not None:
            logger.info("Cached %s embeddings (%d texts) in %s", name, len(texts), saved)
        return emb
