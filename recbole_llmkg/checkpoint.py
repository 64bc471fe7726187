"""Checkpoint files: a unique name per run, and a loader that unpickles only what is safe.

Two runs started in the same second must never share a checkpoint (one would evaluate the
other's weights), so every name carries time, pid and a random suffix and is created with
``O_EXCL``. RecBole's checkpoints pickle the Config; torch >= 2.6 loads with
``weights_only=True`` and refuses it. :func:`load_checkpoint` keeps torch's safe loader and
lets the pickle call only torch's own safe globals and a few value types; the Config and the
model class come back through stand-ins that are never called (see :func:`load_checkpoint`).
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
# Where torch's own safe loader resolves globals; everything else in a pickle is stood in for.
_TORCH_MODULES = ("torch", "collections", "builtins", "__builtin__", "_codecs")
ENTRY_POINT_GROUP = "recbole_llmkg.models"


def _fixed_safe_globals() -> list[Any]:
    """Value types a RecBole checkpoint holds besides tensors. Calling them only builds a value
    (an enum member, a dtype, a numpy scalar, a device), so the pickle may call them."""
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
        torch.device, np.dtype, scalar, *numpy_dtypes,
    ]


def _global_path(value: Any) -> str:
    return f"{value.__module__}.{value.__qualname__}"


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


class _StandIn:
    """What a checkpoint's pickle gets instead of a class from outside torch (a Config, a
    model class, yaml's loader): it may be referenced, and rebuilt from state (NEWOBJ + BUILD,
    as every checkpoint RecBole writes does), but calling it with arguments (REDUCE) is
    refused. The real class is put back afterwards without running any of its code: RecBole's
    ``Config.__init__`` ``eval``s string values, so a pickle must never call it."""

    qualname = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _StandIn:
        if args or kwargs:
            raise pickle.UnpicklingError(
                f"the pickle calls {cls.qualname} with arguments, which no checkpoint this "
                "plugin or RecBole writes does"
            )
        return super().__new__(cls)

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _stand_in(module: str, name: str) -> type[_StandIn]:
    qualname = f"{module}.{name}"
    return type(f"StandIn[{qualname}]", (_StandIn,), {"qualname": qualname})


def _entry_point_modules() -> set[str]:
    """Modules of the models installed packages register under ``recbole_llmkg.models``."""
    from importlib.metadata import entry_points

    return {ep.value.split(":")[0] for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _resolve_class(qualname: str, trusted_modules: tuple[str, ...]) -> type | None:
    """The class ``qualname`` names, importing its module only when it is the plugin's or
    RecBole's, registered as an entry point, or trusted by the caller; None otherwise."""
    module, _, name = qualname.rpartition(".")
    loaded = sys.modules.get(module)
    allowed = (module.startswith(_TRUSTED_PACKAGES) or module in trusted_modules
               or module in _entry_point_modules())
    if loaded is None and allowed:
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            return None
    candidate = getattr(loaded, name, None)
    return candidate if isinstance(candidate, type) else None


def _refusal(path: str, qualname: str, why: str) -> CheckpointError:
    module = qualname.rpartition(".")[0]
    return CheckpointError(
        f"Refusing checkpoint '{path}': it references {qualname}, {why}. If that is your own "
        f"model class, import {module} before loading, register it under the "
        f"'{ENTRY_POINT_GROUP}' entry point of its package, or trust its module explicitly "
        f"(recommend --trust-module {module}; Python: trusted_modules=['{module}'])."
    )


def _put_back(value: Any, path: str, trusted: tuple[str, ...]) -> Any:
    """``value`` with every stand-in replaced by its real class (class references) or by an
    instance of it rebuilt from the pickled state without calling its ``__init__`` (Config)."""
    from recbole.config import Config as RecBoleConfig
    from recbole.model.abstract_recommender import AbstractRecommender

    # Only plain containers are rebuilt: a state_dict (an OrderedDict with _metadata) or a
    # named tuple keeps its type; stand-ins only ever sit in the checkpoint dict and Config.
    if type(value) is dict:
        return {key: _put_back(item, path, trusted) for key, item in value.items()}
    if type(value) in (list, tuple, set):
        return type(value)(_put_back(item, path, trusted) for item in value)
    if isinstance(value, type) and issubclass(value, _StandIn):
        real = _resolve_class(value.qualname, trusted)
        if real is yaml.loader.FullLoader or (real is not None
                                              and issubclass(real, AbstractRecommender)):
            return real
        raise _refusal(path, value.qualname, "which is not a known RecBole model class")
    if isinstance(value, _StandIn):
        real = _resolve_class(value.qualname, trusted)
        state = getattr(value, "state", None)
        if real is None or not issubclass(real, RecBoleConfig) or not isinstance(state, dict):
            raise _refusal(path, value.qualname, "an object outside RecBole's checkpoint format")
        config = real.__new__(real)
        config.__dict__.update(_put_back(state, path, trusted))
        return config
    return value


def _reason(error: Exception) -> str:
    """The unpickler's own reason from torch's long weights-only message."""
    text = str(error).strip()
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1].strip()
    return text.splitlines()[0] if text else type(error).__name__


def load_checkpoint(path: str | os.PathLike, map_location: Any = None,
                    trusted_modules: tuple[str, ...] | list[str] = ()) -> dict:
    """Load a RecBole checkpoint with torch's weights-only loader (no code from the file runs).

    Only torch's own safe globals and a few value types may be called by the pickle. The
    Config and the model class are unpickled into stand-ins and put back afterwards: the model
    class only when its module is the plugin's, RecBole's, an entry point's, already imported
    or in ``trusted_modules``; the Config by restoring its state, never by calling it (its
    ``__init__`` evaluates strings). Raises :class:`~recbole_llmkg.errors.CheckpointError`
    naming the file and the refused global otherwise.
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
    fixed = _fixed_safe_globals()
    fixed_paths = {_global_path(value) for value in fixed}
    stand_ins = [
        (_stand_in(module, name), f"{module}.{name}") for module, name in sorted(names)
        if f"{module}.{name}" not in fixed_paths
        and module.split(".")[0] not in _TORCH_MODULES and module.split(".")[0] != "numpy"
    ]
    try:
        with torch.serialization.safe_globals([*fixed, *stand_ins]):
            loaded = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"Refusing to load checkpoint '{path}': it holds objects outside RecBole's "
            f"checkpoint format, and unpickling them could run code ({_reason(error)}). Load "
            "only files you trust; if you wrote this one yourself, "
            "torch.load(path, weights_only=False) loads it fully."
        ) from error
    return _put_back(loaded, path, tuple(trusted_modules))


def load_own_checkpoint(path: str | os.PathLike, map_location: Any = None) -> dict:
    """Fully unpickle a checkpoint this process wrote in this run (and only such a file)."""
    return torch.load(Path(path), map_location=map_location, weights_only=False)
