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
   best-model reload after training failed. Fixed without touching ``torch.load``: the plugin's
   trainer fully unpickles only the checkpoint it wrote itself, and loads any other file with
   :func:`recbole_llmkg.checkpoint.load_checkpoint` (torch's safe loader, RecBole's checkpoint
   contents allow-listed).
4. pandas 3 is copy-on-write only: RecBole's ``df[field].fillna(..., inplace=True)`` (dataset.py
   lines ~501, ~648, ~650) silently stops filling, leaving NaN in token and float fields (wrong
   numbers, no error). Rewriting RecBole's loaders would mean carrying a fork of them, so we pin
   ``pandas<3`` (where those calls work) and :func:`check_pandas` refuses to run under pandas 3
   with a message that says how to fix the environment, instead of silently computing on NaN.
5. RecBole's beyond-accuracy metrics (ItemCoverage, GiniIndex, AveragePopularity,
   TailPercentage) crash in its Collector (``.cpu()`` on an int; ``train_data.dataset`` missing
   on the KG loader): :class:`RepairedCollector` subclasses it; the plugin's trainers use it.
6. RecBole triggers deprecation warnings of torch and pandas on every run:
   :func:`silence_host_warnings` hides exactly those (message, category and module), nothing
   else.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from recbole.evaluator.collector import Collector

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
    """Re-add ``dok_matrix._update`` (gone in scipy >= 1.13; RecBole graph models call it).

    The one method we add to a library class: RecBole's own models call ``A._update(...)`` on a
    matrix they build inside ``__init__``, so no subclass or public route can reach that call.
    """
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


class RepairedCollector(Collector):
    """RecBole's evaluation ``Collector`` with the two bugs that stop its beyond-accuracy
    metrics (ItemCoverage, GiniIndex, AveragePopularity, TailPercentage) fixed.

    ``get_data_struct`` calls ``.cpu()`` on every collected value, but these metrics store a
    plain int (``data.num_items``) or a Counter (``data.count_items``): ``AttributeError: 'int'
    object has no attribute 'cpu'``. ``data_collect`` reads ``train_data.dataset``, which the
    knowledge-aware training loader (``KnowledgeBasedDataLoader``) lacks. The plugin's trainers
    use this class (:mod:`recbole_llmkg.trainer`); RecBole's own class is left as it is.
    """

    def data_collect(self, train_data):
        if not hasattr(train_data, "dataset") and hasattr(train_data, "_dataset"):
            train_data = SimpleNamespace(dataset=train_data._dataset)
        return super().data_collect(train_data)

    def get_data_struct(self):
        stored = self.data_struct._data_dict
        scalars = {k: v for k, v in stored.items() if not isinstance(v, torch.Tensor)}
        for key in scalars:
            del stored[key]
        try:
            returned = super().get_data_struct()
        finally:
            stored.update(scalars)
        for key, value in scalars.items():
            returned.set(key, copy.deepcopy(value))
        return returned


# (message regex, category, module regex): deprecation warnings RecBole 1.2.1 triggers on every
# run with today's libraries; each is harmless on the supported versions.
HOST_WARNINGS = (
    # trainer.py builds torch.cuda.amp.GradScaler (deprecated for torch.amp.GradScaler('cuda'))
    (r"`torch\.cuda\.amp\.GradScaler\(args\.\.\.\)` is deprecated", FutureWarning,
     r"recbole\.trainer\.trainer"),
    # dataset.py fills NaN with chained fillna(inplace=True): works under pandas < 3 (the
    # versions we allow, see check_pandas), warns that pandas 3 will stop it
    (r"A value is trying to be set on a copy of a DataFrame or Series through chained "
     r"assignment using an inplace method", FutureWarning, r"recbole\.data\.dataset\.dataset"),
    # dataset.py splits token_seq fields with Series.agg(len), which pandas 2.x deprecates
    (r"using <built-in function len> in Series\.agg cannot aggregate", FutureWarning,
     r"recbole\.data\.dataset\.dataset"),
    # LightGCN, NGCF and other graph models build torch.sparse.FloatTensor adjacency matrices
    (r"torch\.sparse\.SparseTensor\(indices, values, shape, \*, device=\) is deprecated",
     UserWarning, r"recbole\.model\."),
    # KGIN / MCCLK normalise rows with np.power(rowsum, -1) and then zero the inf of empty rows
    (r"divide by zero encountered in power", RuntimeWarning, r"recbole\.model\."),
    # RecBole saves checkpoints with pickle protocol 4; torch's safe loader reads them, but notes
    # that 2 is its default
    (r"Detected pickle protocol 4 in the checkpoint", UserWarning, r"torch\.serialization"),
    # torch_geometric (our KG layers) scripts a class with torch.jit.script when imported
    (r"`torch\.jit\.script` is deprecated", DeprecationWarning, r"torch\.jit\._script"),
    # Interaction.sort hands torch tensors to numpy (np.lexsort), numpy 2 deprecates the wrap
    (r"__array_wrap__ must accept context and return_scalar arguments", DeprecationWarning,
     r"numpy\._core\.fromnumeric"),
    # the content kNNs keep their neighbour lists as CSR tensors, which torch calls beta
    (r"Sparse CSR tensor support is in beta state", UserWarning, r"recbole_llmkg\."),
)


@contextmanager
def quiet_model_loading() -> Iterator[None]:
    """transformers >= 5 draws a "Loading weights" progress bar for every ``from_pretrained``;
    hide it while the plugin loads its own models (and put the user's setting back)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def silence_host_warnings() -> None:
    """Hide exactly the known deprecation warnings of :data:`HOST_WARNINGS`, nothing else."""
    for message, category, module in HOST_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def apply() -> None:
    """Apply every process-wide fix; idempotent. Called when ``recbole_llmkg`` is imported."""
    check_pandas()
    restore_numpy_aliases()
    patch_scipy_dok_update()
    silence_host_warnings()
