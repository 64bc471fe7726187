"""Evaluation protocols: how a run's data is split, as RecBole config the run receives.

Both protocols are split files written once per (dataset, seed, protocol) by
:mod:`~recbole_llmkg.benchmark.splits` and read by every model through ``benchmark_filename``.

``standard``
    RecBole's default split, written out so no model or dataset YAML can change it: interactions
    shuffled, split 8:1:1 per user, full ranking on valid and test.
``cold_item``
    A seeded ``cold_fraction`` of the items (default 10%) is held out entirely: every interaction
    with a cold item is in the test set, none in train or valid. Warm interactions are split per
    user, about 8:1, into train and valid. Test ranks all items, so the test metrics measure how
    well a model finds items it never saw an interaction for (text and KG models can still score
    them: .item/.link/.kg are kept whole). RecBole applies no filtering to split files, so no
    cold item or interaction is dropped (the worker checks this on the loaded dataset).
    ``candidates: cold`` ranks only the cold items at test (warm items are scored -inf): with all
    items as candidates a model must also rank never-seen items above the popular warm ones, and
    on ml-100k every model we ran scores about 0 there, so ``cold`` is what separates models that
    can describe a new item (text, KG) from those that cannot. Rows use the configuration tuned
    on ``standard`` (no study of their own): cold items are only in test, so this protocol's
    validation holds warm items only, the same kind of data ``standard`` tunes on, and a second
    study per row would double the board's tuning cost (~10 CPU-hours on ml-100k) for it.
``cold_user``
    A seeded ``cold_fraction`` of the users (default 10%) is held out entirely
    (:mod:`~recbole_llmkg.benchmark.cold_user`): the model trains and early-stops on the other
    users only; then each held-out user is served as a new user from its profile text plus its
    first ``n`` interactions by time, for ``n`` in 0, 1, 3, 5, and scored on its later
    interactions. One run gives every ``n``; the report shows one table per ``n`` (with
    significance over the same held-out users) and the curve. Rows use the configuration tuned
    on the ``standard`` protocol (no study of their own: tuning reads validation of warm users,
    which is what ``standard`` tunes on).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recbole_llmkg.benchmark.splits import PARTS, Split, split_for_config
from recbole_llmkg.config import Config
from recbole_llmkg.errors import ConfigError, DataError

# name -> parameter defaults; a parameter not listed here (or in OPTIONAL) is an error.
PROTOCOLS: dict[str, dict[str, Any]] = {
    "standard": {},
    "cold_item": {"cold_fraction": 0.1},
    "cold_user": {"cold_fraction": 0.1},
}
# protocols whose rows take the tuned configuration of another protocol instead of a study:
# their validation data is of the same kind (warm items and users), see the module docstring
TUNED_ON = {"cold_item": "standard", "cold_user": "standard"}
# name -> {parameter: (default, allowed values)}: parameters that join a run's identity only
# when set to a non-default value, so adding one never changes the keys of finished runs.
OPTIONAL: dict[str, dict[str, tuple[Any, tuple[Any, ...]]]] = {
    "cold_item": {"candidates": ("all", ("all", "cold"))},
}

_FULL_RANKING = {"valid": "full", "test": "full"}
STANDARD_EVAL_ARGS = {
    "split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user", "mode": _FULL_RANKING,
}


@dataclass(frozen=True)
class ProtocolEntry:
    """An evaluation protocol by name, with its parameters (defaults filled in)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    # labels of the rows run under this protocol (empty: every row); not part of a run's
    # identity, so narrowing the list never changes the keys of the runs that remain
    models: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        """Short, file-name-safe id; parameters appear only when they differ from defaults."""
        return protocol_slug(self)


def parse_protocol(entry: Any, where: str, key: str) -> ProtocolEntry:
    """A protocol from the file: a name, or ``{name: ..., <param>: ...}``; defaults filled in."""
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"{where}: key '{key}' must be a protocol name or a mapping with "
                          f"'name' (protocols: {', '.join(PROTOCOLS)}).")
    name = entry["name"]
    if name not in PROTOCOLS:
        raise ConfigError(f"{where}: key '{key}': unknown protocol '{name}' "
                          f"(protocols: {', '.join(PROTOCOLS)}).")
    params = dict(PROTOCOLS[name])
    optional = OPTIONAL.get(name, {})
    models = entry.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise ConfigError(f"{where}: key '{key}.models' must be a list of model labels (the "
                          f"rows this protocol runs), got {models!r}.")
    for param, value in entry.items():
        if param in ("name", "models"):
            continue
        if param in optional:
            default, allowed_values = optional[param]
            if value not in allowed_values:
                raise ConfigError(f"{where}: key '{key}.{param}' must be one of "
                                  f"{', '.join(map(str, allowed_values))}, got {value!r}.")
            if value != default:
                params[param] = value
            continue
        if param not in params:
            allowed = ", ".join([*PROTOCOLS[name], *optional]) or "none"
            raise ConfigError(f"{where}: unknown key '{key}.{param}' for protocol '{name}' "
                              f"(parameters: {allowed}).")
        params[param] = value
    if name in ("cold_item", "cold_user"):
        fraction = params["cold_fraction"]
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not 0 < fraction < 1:
            raise ConfigError(f"{where}: key '{key}.cold_fraction' must be a number strictly "
                              f"between 0 and 1, got {fraction!r}.")
        params["cold_fraction"] = float(fraction)
    return ProtocolEntry(name, params, tuple(models))


def protocol_slug(protocol: ProtocolEntry) -> str:
    """``standard``, ``cold_item``, or ``cold_item-cold_fraction0.2`` when a default changed."""
    defaults = PROTOCOLS.get(protocol.name, {})
    changed = [f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}"
               for k, v in sorted(protocol.params.items()) if defaults.get(k) != v]
    return "-".join([protocol.name, *changed])


def prepare(run: Any, data_root: Path) -> tuple[dict[str, Any], Split]:
    """Config entries that put ``run`` on its protocol's split, and that split.

    ``run`` is a :class:`recbole_llmkg.benchmark.spec.RunSpec` (``dataset``, ``model.name``,
    ``seed``, ``protocol``, ``config``). The split of (dataset, seed, protocol) is written once
    under ``data_root`` (:mod:`~recbole_llmkg.benchmark.splits`) and every model reads it.
    """
    if run.protocol.name not in PROTOCOLS:
        raise ConfigError(f"Unknown protocol '{run.protocol.name}'.")
    base = Config(run.model.name, run.dataset, config_dict=copy.deepcopy(run.config),
                  cmd_args=[])
    split = split_for_config(base, run.seed, data_root, run.protocol.name, run.protocol.params,
                             run.side_files)
    return {**split.config(), "eval_args": copy.deepcopy(STANDARD_EVAL_ARGS)}, split


def test_candidates(run: Any, dataset: Any, split: Split) -> Any:
    """Internal item ids the test ranking is restricted to, or None for all items.

    The trainer applies it (``restrict_candidates``): other items are scored -inf and ties are
    broken at random, seeded by the run's seed.
    """
    if run.protocol.params.get("candidates", "all") == "all":
        return None
    return cold_item_ids(dataset, split)


def cold_item_ids(dataset: Any, split: Split) -> Any:
    """Internal ids of the split's cold items, as a tensor."""
    import torch

    ids = dataset.token2id(dataset.iid_field, list(split.cold_items))
    return torch.as_tensor(np.atleast_1d(ids), dtype=torch.long)


def verify_loaded(run: Any, dataset: Any, split: Split) -> dict[str, Any]:
    """Check that RecBole loaded the split as written; returns counts for the run record.

    Raises if the part sizes differ from the files, or (cold_item) a cold item leaked into train
    or valid or is unknown to the dataset: a silently different test set never reaches the board.
    """
    loaded = {"interactions": int(len(dataset.inter_feat)), "users": int(dataset.user_num - 1),
              "items": int(dataset.item_num - 1)}  # minus RecBole's [PAD] id
    sizes = list(getattr(dataset, "file_size_list", []) or [])
    expected = [split.counts[name]["interactions"] for name in PARTS]
    if sizes != expected:
        raise DataError(f"{run.protocol.name} split: RecBole loaded {sizes} train/valid/test "
                        f"interactions, the split files hold {expected}.")
    if run.protocol.name == "cold_user":
        user_field = dataset.uid_field
        users = dataset.id2token(user_field, np.asarray(dataset.inter_feat[user_field]))
        if np.isin(users[: sizes[0] + sizes[1]], list(split.cold_users)).any():
            raise DataError("cold_user split: a held-out user appears in train or valid.")
        return {**loaded, "cold_users": len(split.cold_users)}
    if run.protocol.name != "cold_item":
        return loaded
    item_field = dataset.iid_field
    tokens = dataset.id2token(item_field, np.asarray(dataset.inter_feat[item_field]))
    cold = set(split.cold_items)
    warm_part, test_part = tokens[: sizes[0] + sizes[1]], tokens[sizes[0] + sizes[1]:]
    if np.isin(warm_part, list(cold)).any():
        raise DataError("cold_item split: a cold item appears in train or valid.")
    if not np.isin(test_part, list(cold)).all():
        raise DataError("cold_item split: a warm item appears in test.")
    missing = cold - set(dataset.field2token_id[item_field])
    if missing:
        raise DataError(f"cold_item split: {len(missing)} cold items unknown to the dataset.")
    return {**loaded, "cold_items": len(cold)}
