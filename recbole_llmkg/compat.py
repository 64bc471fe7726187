"""Fixes that let RecBole 1.2.1 run on today's numpy, scipy, torch and pandas.

RecBole's last release (1.2.1, 2023) predates numpy 2, scipy 1.13, torch 2.6 and pandas 3, and
upstream has merged none of the fix PRs. Each fix below is as narrow as we could make it, says
what it repairs and why, and has a test in ``tests/test_compat.py`` that fails without it.

1. numpy 2 aliases: ``Config.compatibility_settings`` assigns ``np.float = np.float_``; numpy 2
   removed ``float_``/``complex_``/``unicode_``, so building any Config raised. Our
   :class:`recbole_llmkg.config.Config` replaces that method with :func:`restore_numpy_aliases`,
   which sets only the short names RecBole's code still reads (``np.float`` in its metrics and
   ``_fill_nan``, ``np.bool``...) and never touches numpy's removed names.
2. scipy >= 1.13 removed ``dok_matrix._update``; RecBole's LightGCN, NGCF, NCL, GCMC, SpectralCF,
   KGIN and MCCLK build their adjacency with it. :func:`patch_scipy_dok_update` adds it back
   (vectorised fancy assignment through the public API) only when it is missing.
3. torch >= 2.6 loads with ``weights_only=True``; RecBole's checkpoints pickle the Config, so the
   best-model reload after training failed. :func:`trusted_checkpoint` lifts the restriction
   for one named file (a checkpoint the run itself wrote) for the duration of a ``with`` block;
   every other ``torch.load`` in the process keeps torch's safe default. Used by
   :mod:`recbole_llmkg.trainer`.
4. pandas 3 is copy-on-write only: RecBole's ``df[field].fillna(..., inplace=True)`` (dataset.py
   lines ~501, ~648, ~650) silently stops filling, leaving NaN in token and float fields (wrong
   numbers, no error). Rewriting RecBole's loaders would mean carrying a fork of them, so we pin
   ``pandas<3`` (where those calls work) and :func:`check_pandas` refuses to run under pandas 3
   with a message that says how to fix the environment, instead of silently computing on NaN.
5. RecBole's beyond-accuracy metrics (ItemCoverage, GiniIndex, AveragePopularity,
   TailPercentage) crash in its Collector (``.cpu()`` on an int; ``train_data.dataset`` missing
   on the KG loader): :func:`repair_beyond_accuracy_metrics` wraps the two methods.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

# Short names RecBole 1.2.1 reads (np.float in evaluator/metrics.py and Dataset._fill_nan,
# np.bool in metrics.py, np.str in hyper_tuning.py); numpy >= 1.24 removed them.
_NUMPY_ALIASES = {
    "bool": np.bool_,
    "int": np.int_,
    "float": np.float64,
    "complex": np.complex128,
    "object": np.object_,
    "str": np.str_,
    "long": np.int_,
    "unicode": np.str_,
}


def restore_numpy_aliases() -> None:
    """Give numpy the short type names RecBole uses, without touching names numpy 2 removed."""
    for name, target in _NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, target)


def _dok_update(self: sp.dok_matrix, data: dict) -> None:
    """``dict.update`` for a dok_matrix, as scipy < 1.13 had it: keys are ``(row, col)``."""
    if not data:
        return
    keys = np.fromiter((k for key in data for k in key), dtype=np.int64, count=2 * len(data))
    values = np.fromiter(data.values(), dtype=self.dtype, count=len(data))
    self[keys[0::2], keys[1::2]] = values


def patch_scipy_dok_update() -> None:
    """Re-add ``dok_matrix._update`` (gone in scipy >= 1.13; RecBole graph models call it)."""
    if not hasattr(sp.dok_matrix, "_update"):
        sp.dok_matrix._update = _dok_update


def check_pandas() -> None:
    """Refuse pandas >= 3, under which RecBole 1.2.1 silently leaves missing values as NaN."""
    major = int(pd.__version__.split(".")[0])
    if major >= 3:
        raise RuntimeError(
            f"pandas {pd.__version__} is installed, but RecBole 1.2.1 fills missing values with "
            "chained `fillna(inplace=True)`, which pandas >= 3 (copy-on-write) silently ignores: "
            "NaN would reach the model. Install a supported pandas: pip install 'pandas<3'."
        )


def _same_file(a: object, b: str) -> bool:
    if not isinstance(a, (str, os.PathLike)):
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(os.fspath(a)) == os.path.abspath(b)


@contextmanager
def trusted_checkpoint(path: str | os.PathLike) -> Iterator[None]:
    """Inside the block, ``torch.load(path)`` of this one file unpickles fully.

    RecBole checkpoints hold the pickled Config, which torch >= 2.6's weights-only loader
    rejects. Only use it for checkpoints this process (or the user's own run) wrote.
    """
    original = torch.load
    trusted = os.fspath(path)

    def load(f, *args, **kwargs):
        if _same_file(f, trusted):
            kwargs["weights_only"] = False
        return original(f, *args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original


def repair_beyond_accuracy_metrics() -> None:
    """Let RecBole 1.2.1 compute ItemCoverage, GiniIndex, AveragePopularity, TailPercentage.

    Two bugs in its ``Collector`` stop them: ``get_data_struct`` calls ``.cpu()`` on every
    collected value, but these metrics store a plain int (``data.num_items``) or a Counter
    (``data.count_items``): ``AttributeError: 'int' object has no attribute 'cpu'``; and
    ``data_collect`` reads ``train_data.dataset``, which knowledge-aware models' training loader
    (``KnowledgeBasedDataLoader``) lacks: ``AttributeError: ... no attribute 'dataset'``.
    Non-tensor values are set aside around the original method and handed back unchanged; a
    loader without ``dataset`` is given its ``_dataset`` (the training split). Idempotent.
    """
    from recbole.evaluator.collector import Collector

    get_original = Collector.get_data_struct
    if not getattr(get_original, "_scalar_safe", False):

        def get_data_struct(self):
            stored = self.data_struct._data_dict
            scalars = {k: v for k, v in stored.items() if not isinstance(v, torch.Tensor)}
            for key in scalars:
                del stored[key]
            try:
                returned = get_original(self)
            finally:
                stored.update(scalars)
            for key, value in scalars.items():
                returned.set(key, copy.deepcopy(value))
            return returned

        get_data_struct._scalar_safe = True
        Collector.get_data_struct = get_data_struct

    collect_original = Collector.data_collect
    if not getattr(collect_original, "_loader_safe", False):

        def data_collect(self, train_data):
            if not hasattr(train_data, "dataset") and hasattr(train_data, "_dataset"):
                train_data = SimpleNamespace(dataset=train_data._dataset)
            return collect_original(self, train_data)

        data_collect._loader_safe = True
        Collector.data_collect = data_collect


def apply() -> None:
    """Apply every process-wide fix; idempotent. Called when ``recbole_llmkg`` is imported."""
    check_pandas()
    restore_numpy_aliases()
    patch_scipy_dok_update()
    repair_beyond_accuracy_metrics()
