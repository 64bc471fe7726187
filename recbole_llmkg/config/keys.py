"""The config keys anyone knows, so that a misspelled key is an error instead of being ignored.

A key is known when RecBole or the plugin gives it a default (any YAML file under their
``properties/`` folders, including every model's: benchmark files set keys shared by several
models), when RecBole's or the plugin's code reads it (``config["key"]``; RecBole reads some keys
that no YAML lists, e.g. ``nproc``, ``world_size``, ``benchmark_filename``), when it names a
field of one of the dataset's atomic files, or when the user declares it intentional in
``extra_config_keys``.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

from recbole_llmkg.config.checks import RULES_KEY
from recbole_llmkg.errors import ConfigError

# The key that lists intentional extra keys (a user's own model reading its own key, say).
EXTRA_KEYS_KEY = "extra_config_keys"

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the recbole_llmkg package
_TOP_LEVEL_KEY = re.compile(r"""^["']?([A-Za-z_][\w-]*)["']?\s*:""", flags=re.MULTILINE)
# ``config["key"]``, ``config_dict["key"]``, ``config.get("key")``, ``setting(config, "key")``,
# ``self._setting("key")``, ``"key" in config``.
_READ_PATTERNS = (
    re.compile(r"""config(?:_dict)?\s*\[\s*["']([A-Za-z_][\w-]*)["']\s*\]"""),
    re.compile(r"""config\w*\.get\(\s*["']([A-Za-z_][\w-]*)["']"""),
    re.compile(r"""setting\(\s*(?:[\w.]+\s*,\s*)?["']([A-Za-z_][\w-]*)["']"""),
    re.compile(r"""["']([A-Za-z_][\w-]*)["']\s+in\s+(?:self\.)?config\b"""),
)


def _yaml_keys(folder: Path, skip: tuple[str, ...] = ()) -> set[str]:
    """Top-level keys of the YAML files under ``folder``: unindented ``key:`` lines (a regex, as
    parsing ~150 files with PyYAML costs most of a second)."""
    keys: set[str] = set()
    for path in folder.rglob("*.yaml"):
        if any(part in skip for part in path.relative_to(folder).parts):
            continue
        keys |= yaml_keys_of(path)
    return keys


def yaml_keys_of(path: Path) -> set[str]:
    """Top-level keys of one YAML file (its value rules are no key)."""
    keys = set(_TOP_LEVEL_KEY.findall(path.read_text(encoding="utf-8")))
    keys.discard(RULES_KEY)
    return keys


def _keys_read_in(folder: Path) -> set[str]:
    keys: set[str] = set()
    for path in folder.rglob("*.py"):
        text = path.read_text(encoding="utf-8", errors="replace")
        for pattern in _READ_PATTERNS:
            keys.update(pattern.findall(text))
    return keys


def recbole_dir() -> Path:
    """RecBole's package folder (:func:`recbole_llmkg.paths.recbole_dir`), or a ConfigError."""
    from recbole_llmkg.paths import recbole_dir as find

    root = find()
    if root is None:
        raise ConfigError("RecBole is not installed: pip install --no-deps recbole==1.2.1")
    return root


def _argument_lists(path: Path) -> set[str]:
    """The names in ``recbole/utils/argument_list.py``'s ``*_arguments`` lists, read from the
    source (importing ``recbole.utils`` loads torch)."""
    from recbole_llmkg.registry import parse_python

    names: set[str] = set()
    for node in parse_python(path).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.List)
                and any(isinstance(t, ast.Name) and t.id.endswith("_arguments")
                        for t in node.targets)):
            names.update(e.value for e in node.value.elts
                         if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return names


@cache
def static_known_keys() -> frozenset[str]:
    """Keys known whatever the model and dataset: RecBole's and the plugin's YAML defaults and
    the keys their code reads (computed once per process, about 0.1 s, importing neither torch
    nor RecBole)."""
    from recbole_llmkg.paths import properties_dir

    root = recbole_dir()
    keys = _yaml_keys(root / "properties")
    keys |= _yaml_keys(properties_dir(), skip=("benchmark",))
    keys |= _keys_read_in(root)
    keys |= _keys_read_in(_PACKAGE_DIR)
    keys |= _argument_lists(root / "utils" / "argument_list.py")
    keys.update({"model", "dataset", EXTRA_KEYS_KEY})
    return frozenset(keys)


def atomic_file_fields(folder: Path, dataset: str) -> set[str]:
    """Field names in the headers of ``<folder>/<dataset>.*`` (``user_id:token`` -> ``user_id``)."""
    fields: set[str] = set()
    if not folder.is_dir():
        return fields
    for path in folder.glob(f"{dataset}.*"):
        if not path.is_file() or path.suffix in (".yaml", ".json", ".md", ".pth"):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            header = f.readline()
        fields.update(column.split(":")[0].strip() for column in header.split("\t"))
    fields.discard("")
    return fields


def extra_keys(value: object, origin: str) -> set[str]:
    """The keys an ``extra_config_keys`` value declares (a list of names, or one name)."""
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    if isinstance(value, (list, tuple, set)) and all(isinstance(v, str) for v in value):
        return set(value)
    raise ConfigError(
        f"Config key '{EXTRA_KEYS_KEY}' ({origin}) must be a list of key names; got {value!r}."
    )


def check_known(
    origins: Mapping[str, str], known: Iterable[str], allowed_extra: Iterable[str] = ()
) -> None:
    """Raise a :class:`ConfigError` for the first key of ``origins`` nobody knows.

    ``origins`` maps each user-given key to where it came from (``command line``,
    ``config_dict``, ``config file 'x.yaml'``). The message suggests the closest known key.
    """
    known_set = set(known) | set(allowed_extra)
    unknown = [key for key in origins if key not in known_set]
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(key, sorted(known_set), n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    others = f" (also unknown: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
    raise ConfigError(
        f"Unknown config key '{key}' ({origins[key]}).{hint}{others} A key no model, dataset "
        f"or RecBole reads would be ignored. If it is intentional (read by your own code), "
        f"list it in '{EXTRA_KEYS_KEY}'."
    )
