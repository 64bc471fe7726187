"""Checkpoint files: a unique name per run, and a loader that unpickles only what is safe.

Two runs started in the same second must never share a checkpoint (one would evaluate the
other's weights), so every name carries time, pid and a random suffix and is created with
``O_EXCL``. RecBole's checkpoints pickle the Config; torch >= 2.6 loads with
``weights_only=True`` and refuses it. :func:`load_checkpoint` keeps torch's safe loader and
allow-lists exactly what a RecBole checkpoint holds (Config, RecBole's enums, the model class
when it is a registered or already imported recommender); anything else is refused.
"""

from __future__ import annotations

import importlib
import os
import pickle
import pickletools
import secrets
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from recbole_llmkg.errors import CheckpointError

_NAME_ATTEMPTS = 100
# The atomic files whose contents decide a dataset's ids and its training interactions.
FINGERPRINT_SUFFIXES = ("inter", "item", "user", "kg", "link")


def data_fingerprint(config: Any) -> dict[str, str]:
    """sha256 of each atomic file the run's dataset reads (``<dataset>.inter`` or its
    ``benchmark_filename`` parts, ``.item``, ``.user``, ``.kg``, ``.link``), by file name.

    Saved in every checkpoint: serving the weights with other files (another split, a changed
    ``.item`` that reorders ids) would map ids to the wrong rows without any error, so the
    loader compares these first.
    """
    from recbole_llmkg.files import file_sha256

    folder = Path(str(config["data_path"]))
    dataset = str(config["dataset"])
    parts = config["benchmark_filename"] or []
    names = [f"{dataset}.{part}.inter" for part in parts] or [f"{dataset}.inter"]
    names += [f"{dataset}.{suffix}" for suffix in FINGERPRINT_SUFFIXES if suffix != "inter"]
    digests = {}
    for name in names:
        path = folder / name
        if name == f"{dataset}.link":  # the .link file the run reads (kg_link_file)
            from recbole_llmkg.data.link import link_file

            path = link_file(config, folder, dataset)
        if path.is_file():
            digests[name] = file_sha256(path)
    return digests


def new_checkpoint_path(checkpoint_dir: str, model_name: str) -> str:
    """Reserve ``<dir>/<model>-<time>-<pid>-<random>.pth`` (created empty, exclusively)."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    stamp = time.strftime("%b-%d-%Y_%H-%M-%S")
    for _ in range(_NAME_ATTEMPTS):
        path = os.path.join(
            checkpoint_dir, f"{model_name}-{stamp}-{os.getpid()}-{secrets.token_hex(4)}.pth"
        )
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        return path
    raise CheckpointError(f"Could not reserve a unique checkpoint name in '{checkpoint_dir}'.")


# Packages whose modules may be imported to resolve a checkpoint's model or Config class: the
# plugin's and RecBole's own code, never a module named only by the file.
_TRUSTED_PACKAGES = ("recbole_llmkg.", "recbole.")


def _fixed_safe_globals() -> list[Any]:
    """Types every RecBole checkpoint holds besides tensors: harmless to reconstruct."""
    from recbole.utils import enum_type

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar

    numpy_dtypes = [type(np.dtype(t)) for t in (np.float32, np.float64, np.int32, np.int64,
                                                np.bool_)]
    return [
        enum_type.ModelType, enum_type.InputType, enum_type.EvaluatorType,
        enum_type.FeatureType, enum_type.FeatureSource, enum_type.KGDataLoaderState,
        yaml.loader.FullLoader, torch.device, np.dtype, scalar, *numpy_dtypes,
    ]


def pickled_globals(path: str | os.PathLike) -> tuple[int, set[tuple[str, str]]]:
    """The pickle protocol of a torch checkpoint and the ``(module, name)`` of every global it
    references, read without unpickling."""
    with zipfile.ZipFile(path) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    protocol = 0
    found: set[tuple[str, str]] = set()
    pushed: list[Any] = []  # values of the latest pushes (strings, or None for anything else)
    memo: dict[int, Any] = {}
    for op, arg, _ in pickletools.genops(data):
        if op.name == "PROTO":
            protocol = arg
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            pushed.append(arg)
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            pushed.append(memo.get(arg))
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif op.name == "STACK_GLOBAL":
            module, name = pushed[-2:] if len(pushed) >= 2 else (None, None)
            if isinstance(module, str) and isinstance(name, str):
                found.add((module, name))
            pushed.append(None)
        elif op.name == "GLOBAL":
            module, name = arg.split(" ", 1)
            found.add((module, name))
            pushed.append(None)
        elif op.name != "FRAME":
            pushed.append(None)
    return protocol, found


def _known_class(module: str, name: str) -> type | None:
    """``module.name`` if it is a model or Config class from the plugin, RecBole, or a module
    this process has already imported (the user's own model); None otherwise."""
    from recbole.config import Config as RecBoleConfig
    from recbole.model.abstract_recommender import AbstractRecommender

    loaded = sys.modules.get(module)
    if loaded is None and module.startswith(_TRUSTED_PACKAGES):
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            return None
    candidate = getattr(loaded, name, None)
    if isinstance(candidate, type) and issubclass(candidate, (AbstractRecommender, RecBoleConfig)):
        return candidate
    return None


def load_checkpoint(path: str | os.PathLike, map_location: Any = None) -> dict:
    """Load a RecBole checkpoint with torch's weights-only loader (no arbitrary code runs).

    Raises :class:`~recbole_llmkg.errors.CheckpointError` naming the file when it holds
    anything besides tensors, RecBole's config and a known model class.
    """
    path = os.fspath(path)
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise CheckpointError(f"Checkpoint '{path}' does not exist or is empty.")
    try:
        protocol, names = pickled_globals(path)
    except (zipfile.BadZipFile, StopIteration, ValueError) as error:
        raise CheckpointError(f"'{path}' is not a torch checkpoint ({error}).") from error
    if protocol >= 4:
        raise CheckpointError(
            f"Checkpoint '{path}' is pickled with protocol {protocol} (plain RecBole's format), "
            "which torch's safe loader cannot read. If you trust the file, re-save it once: "
            "torch.save(torch.load(path, weights_only=False), path)."
        )
    classes = [cls for module, name in names if (cls := _known_class(module, name)) is not None]
    torch.serialization.add_safe_globals([*_fixed_safe_globals(), *classes])
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"Refusing to load checkpoint '{path}': it holds objects outside RecBole's "
            f"checkpoint format, and unpickling them could run code ({first}). Load only files "
            "you trust; if you wrote this one yourself, torch.load(path, weights_only=False) "
            "loads it fully."
        ) from error


def load_own_checkpoint(path: str | os.PathLike, map_location: Any = None) -> dict:
    """Fully unpickle a checkpoint this process wrote in this run (and only such a file)."""
    return torch.load(Path(path), map_location=map_location, weights_only=False)
