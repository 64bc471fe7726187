"""The one registry of models: names, classes, and what each needs to run.

A model is named one way everywhere (``-m`` on the command line, a board file's ``models``,
``recommend``, ``run_recbole_llmkg(model=...)``; a class is accepted too where Python passes one):

* a plugin model: a public recommender class in a module under
  ``recbole_llmkg/model/<sub-package>/`` (dropping a file there is all it takes; no hand-kept
  list), named by its class name;
* a model an installed package registers under the entry-point group ``recbole_llmkg.models``
  (``PopKGLLMGNN = pop_kgllmgnn:PopKGLLMGNN`` in its ``entry_points.txt``), named by the entry
  point's name;
* a RecBole built-in, named as RecBole's ``get_model`` names it;
* any model class by its import path, ``package.module:Class`` or ``package.module.Class``.

Names are listed without importing torch or RecBole (the plugin's and RecBole's model files are
read with :mod:`ast`, entry points from package metadata), so ``recbole-llmkg models`` and the
start-up check answer at once; classes are imported only when one is asked for. Which trainer
and dataset class a model uses is read from its class attributes (``trainer_class``,
``dataset_class``), found along its class hierarchy, falling back to RecBole's choice.

A model's code may import optional packages inside methods; :func:`file_imports` reads them from
its source so a missing one is named, with its ``pip install`` line, before anything runs.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import inspect
import pkgutil
import re
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from recbole_llmkg.errors import ConfigError, DataError, DatasetFileNotFoundError

ENTRY_POINT_GROUP = "recbole_llmkg.models"


# ---------------------------------------------------------------------- names (nothing imported)
_PLUGIN_MODEL_PACKAGE = "recbole_llmkg.model"
MODEL_SUBPACKAGES = ("general_recommender", "knowledge_aware_recommender")
_MODEL_DIR = Path(__file__).resolve().parent / "model"


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def parse_python(path: str | Path) -> ast.Module:
    """``ast.parse`` of a source file, run in a fresh thread: CPython 3.11 can raise a spurious
    ``SystemError: AST constructor recursion depth mismatch`` when earlier code left the calling
    thread's recursion counter off (seen in the test suite); a new thread starts clean."""
    source = Path(path).read_text(encoding="utf-8")
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(ast.parse, source, str(path)).result()


# RecBole's model sub-packages, in the order ``recbole.utils.get_model`` searches them.
RECBOLE_MODEL_SUBPACKAGES = (
    "general_recommender",
    "context_aware_recommender",
    "sequential_recommender",
    "knowledge_aware_recommender",
    "exlib_recommender",
)


@cache
def recbole_model_files() -> dict[str, Path]:
    """RecBole's built-in model classes by name, each with the file that defines it.

    The names RecBole's ``get_model`` resolves: a class whose lower-cased name is its module's
    name, in the first model sub-package holding that module (``Random`` has no YAML file of
    defaults; ``LightGBM`` lives in ``lightgbm.py``). Found by reading the files, so nothing is
    imported (importing ``exlib_recommender`` needs lightgbm and xgboost).
    """
    from recbole_llmkg.paths import recbole_dir

    package = recbole_dir()
    if package is None:
        return {}
    root = package / "model"
    found: dict[str, Path] = {}
    for sub in RECBOLE_MODEL_SUBPACKAGES:
        for path in sorted((root / sub).glob("*.py")):
            if path.stem.startswith("_") or any(p.stem == path.stem for p in found.values()):
                continue
            text = path.read_text(encoding="utf-8")
            for name in re.findall(r"^class (\w+)\b", text, flags=re.MULTILINE):
                if name.lower() == path.stem:
                    found.setdefault(name, path)
    return found


def recbole_model_names() -> tuple[str, ...]:
    """Names of RecBole's built-in models (see :func:`recbole_model_files`)."""
    return tuple(sorted(recbole_model_files()))


@cache
def plugin_model_modules() -> dict[str, str]:
    """The plugin's model classes by name, each with the module that defines it, found by
    parsing (not importing) the modules: a public class whose base is a RecBole
    ``*Recommender``, a RecBole model, or another plugin class."""
    known = set(recbole_model_names())
    classes: list[tuple[str, list[str], str]] = []
    for sub in MODEL_SUBPACKAGES:
        for path in sorted((_MODEL_DIR / sub).glob("*.py")):
            if path.stem.startswith("_"):
                continue
            module = f"{_PLUGIN_MODEL_PACKAGE}.{sub}.{path.stem}"
            classes += [
                (node.name, [_base_name(b) for b in node.bases], module)
                for node in parse_python(path).body
                if isinstance(node, ast.ClassDef)
            ]
    found: dict[str, str] = {}
    changed = True
    while changed:  # a plugin model may subclass another (possibly private) plugin class
        changed = False
        for name, bases, module in classes:
            if name not in found and any(
                b.endswith("Recommender") or b in known or b in found for b in bases
            ):
                found[name] = module
                changed = True
    return {name: found[name] for name in sorted(found) if not name.startswith("_")}


def plugin_model_names() -> tuple[str, ...]:
    """Names of the plugin's model classes (:func:`plugin_model_modules`)."""
    return tuple(plugin_model_modules())


def entry_point_models() -> dict[str, str]:
    """Models installed packages register under :data:`ENTRY_POINT_GROUP`: name -> its
    ``module:Class`` (read from package metadata; nothing is imported). Read again whenever
    ``sys.path`` changes (a test's ``*.dist-info`` folder, a package path added at run time)."""
    return dict(_entry_points_on(tuple(sys.path)))


@cache
def _entry_points_on(path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return tuple((ep.name, ep.value) for ep in found)


def model_names() -> dict[str, tuple[str, ...]]:
    """Every registered model name by where it comes from (for ``recbole-llmkg models``)."""
    return {"plugin": plugin_model_names(), "installed": tuple(sorted(entry_point_models())),
            "recbole": recbole_model_names()}


def split_class_path(name: str) -> tuple[str, str] | None:
    """``package.module:Class`` or ``package.module.Class`` as ``(module, Class)``; None for a
    plain name."""
    if ":" in name:
        module, _, attr = name.partition(":")
    elif "." in name:
        module, _, attr = name.rpartition(".")
    else:
        return None
    if not module or not attr.isidentifier():
        return None
    return module, attr


def find_module_file(module: str) -> Path | None:
    """The source file of ``module`` on ``sys.path``, found without running any package's
    ``__init__`` (``importlib.util.find_spec`` of a sub-module imports its parents)."""
    if module in sys.modules and getattr(sys.modules[module], "__file__", None):
        return Path(sys.modules[module].__file__)
    locations = None
    spec = None
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        try:
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth]), locations)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        locations = spec.submodule_search_locations
    origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin.endswith(".py") else None


def model_source(name: str) -> tuple[Path, str] | None:
    """Where the class a model name means is defined, ``(source file, class name)``, found
    without importing it; None when the name is unknown or its module cannot be found."""
    if name in plugin_model_modules():
        return find_module_file(plugin_model_modules()[name]), name
    target = entry_point_models().get(name)
    path = target if target is not None else name
    if target is None and name in recbole_model_files():
        return recbole_model_files()[name], name
    parts = split_class_path(path)
    if parts is None:
        return None
    source = find_module_file(parts[0])
    return (source, parts[1]) if source is not None else None


def source_lineage(path: Path, class_name: str) -> list[tuple[Path, str]]:
    """``(file, class)`` of a model class and of the ancestors its source names, nearest first,
    read with :mod:`ast` (a base imported with ``from module import Name`` is followed; a base
    built at run time is not; a RecBole class ends its branch). Lets the start-up check find
    the YAML files beside an out-of-tree model and its parents without importing torch."""
    from recbole_llmkg.paths import recbole_dir

    recbole = recbole_dir()
    lineage: list[tuple[Path, str]] = []
    todo = [(path, class_name)]
    while todo:
        path, class_name = todo.pop(0)
        if (path, class_name) in lineage or not path.is_file():
            continue
        lineage.append((path, class_name))
        if recbole is not None and path.resolve().is_relative_to(recbole.resolve()):
            continue  # RecBole's own ancestors hold no plugin YAML: not read
        tree = parse_python(path)
        imported = {alias.asname or alias.name: (node.module, alias.name)
                    for node in tree.body if isinstance(node, ast.ImportFrom) and node.module
                    and node.level == 0 for alias in node.names}
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == class_name:
                for base in map(_base_name, node.bases):
                    if base in imported:
                        module_file = find_module_file(imported[base][0])
                        if module_file is not None:
                            todo.append((module_file, imported[base][1]))
                    elif base:
                        todo.append((path, base))
    return lineage


def close_names(name: str, names: list[str]) -> list[str]:
    """The model names a mistyped ``name`` most likely meant (spelling, then letter case)."""
    import difflib

    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return close + [n for n in names if n.lower() == name.lower() and n not in close]


# ---------------------------------------------------------------------- optional packages
# Import name -> the name ``pip install`` wants, where the two differ.
PIP_NAMES = {
    "community": "python-louvain",
    "faiss": "faiss-cpu",
    "kmeans_pytorch": "kmeans-pytorch",
    "sklearn": "scikit-learn",
    "torch_scatter": "torch-scatter",
}


@dataclass(frozen=True)
class Imports:
    """Top-level package names a source file imports: at module level, and inside functions
    (keyed by the function's qualified name, e.g. ``KGAT.update_attentive_A``)."""

    module_level: frozenset[str]
    in_functions: dict[str, frozenset[str]]


@cache
def file_imports(path: str) -> Imports:
    """The absolute imports in the Python file ``path``, split by where they happen."""
    tree = parse_python(path)
    module_level: set[str] = set()
    in_functions: dict[str, set[str]] = {}

    def visit(node: ast.AST, scope: list[str], function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for name in names:
                target = module_level if function is None else in_functions.setdefault(
                    function, set())
                target.add(name.split(".")[0])
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = [*scope, child.name]
                is_function = not isinstance(child, ast.ClassDef)
                visit(child, inner, function or (".".join(inner) if is_function else None))
            else:
                visit(child, scope, function)

    visit(tree, [], None)
    return Imports(frozenset(module_level),
                   {name: frozenset(packages) for name, packages in in_functions.items()})


def is_installed(package: str) -> bool:
    """Whether ``import package`` can find the package (without importing it)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def missing(packages: Iterable[str]) -> list[str]:
    """The packages of ``packages`` that are not installed, sorted."""
    return sorted(p for p in set(packages) if not is_installed(p))


def install_hint(packages: Iterable[str]) -> str:
    """``pip install a b`` with the names pip wants."""
    return "pip install " + " ".join(PIP_NAMES.get(p, p) for p in sorted(set(packages)))


def require(model: str, packages: Iterable[str], why: str = "") -> None:
    """Raise a :class:`ConfigError` naming the missing ``packages`` and how to install them."""
    absent = missing(packages)
    if absent:
        raise ConfigError(
            f"Model '{model}' (config key 'model') needs the optional package(s) "
            f"{', '.join(absent)}{why}, not installed: {install_hint(absent)}"
        )


# ---------------------------------------------------------------------- classes


@cache
def plugin_models() -> dict[str, type]:
    """All plugin model classes by name, imported from the ``model`` sub-packages."""
    from recbole.model.abstract_recommender import AbstractRecommender

    models: dict[str, type] = {}
    for sub in MODEL_SUBPACKAGES:
        package = importlib.import_module(f"{_PLUGIN_MODEL_PACKAGE}.{sub}")
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, obj in inspect.getmembers(module, inspect.isclass):
                if (
                    issubclass(obj, AbstractRecommender)
                    and obj.__module__ == module.__name__
                    and not name.startswith("_")
                ):
                    models[name] = obj
    return models


def own_models() -> dict[str, type]:
    """Plugin models that are new here (not drop-in repairs of a RecBole model of the same name)."""
    builtin = set(recbole_model_names())
    return {name: cls for name, cls in plugin_models().items() if name not in builtin}


def _recbole_model(name: str) -> type | None:
    """RecBole's class for ``name``; None when RecBole has no such model.

    A sub-package whose modules import a package that is not installed is a :class:`ConfigError`
    naming every such package (not the first ``ModuleNotFoundError`` only). An unknown name
    imports nothing (RecBole's own ``get_model`` would end in ``exlib_recommender``, which
    needs lightgbm).
    """
    path = recbole_model_files().get(name)
    if path is None:
        return None
    try:
        module = importlib.import_module(f"recbole.model.{path.parent.name}.{path.stem}")
    except ModuleNotFoundError as error:
        package = (error.name or "").split(".")[0]
        if package in ("", "recbole"):
            raise
        needed = {package}
        for source in path.parent.glob("*.py"):
            needed |= file_imports(str(source)).module_level
        require(name, needed)
        raise
    return getattr(module, name)


def available_models() -> list[str]:
    """Every registered model name: the plugin's, installed packages' and RecBole's."""
    return sorted({name for names in model_names().values() for name in names})


def _checked_model_class(name: str, value: Any) -> type:
    """``value`` if it is a recommender class, else a ConfigError naming ``name``."""
    from recbole.model.abstract_recommender import AbstractRecommender

    if isinstance(value, type) and issubclass(value, AbstractRecommender):
        return value
    raise ConfigError(
        f"Model '{name}' is {value!r}, not a recommender class: name a subclass of RecBole's "
        "AbstractRecommender (e.g. GeneralRecommender), written package.module:Class."
    )


def _class_at(name: str, module_name: str, attr: str) -> type:
    """``module_name.attr`` imported, or a ConfigError naming the model and the fix."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):  # the module itself is missing
            raise missing_module_error(name, module_name) from None
        raise
    if not hasattr(module, attr):
        raise ConfigError(
            f"Model '{name}': module '{module_name}' ({getattr(module, '__file__', '?')}) "
            f"defines no '{attr}'. Check the class name's spelling."
        )
    return _checked_model_class(name, getattr(module, attr))


def resolve_model(name: str | type) -> type:
    """The model class ``name`` means (a class is returned as it is).

    In order: a plugin model, a model registered under :data:`ENTRY_POINT_GROUP` by an
    installed package, a RecBole built-in, then ``package.module:Class`` /
    ``package.module.Class``. Raises a :class:`ConfigError` naming the model and the fix.
    """
    if isinstance(name, type):
        return _checked_model_class(name.__name__, name)
    if name in plugin_model_modules():
        return getattr(importlib.import_module(plugin_model_modules()[name]), name)
    target = entry_point_models().get(name)
    if target is not None:
        module_name, _, attr = target.partition(":")
        return _class_at(f"{name} (entry point {target})", module_name, attr or name)
    model_class = _recbole_model(name)
    if model_class is not None:
        return model_class
    parts = split_class_path(name)
    if parts is not None:
        return _class_at(name, *parts)
    raise unknown_model_error(name)


def unknown_model_error(name: str, where: str = "config key 'model'") -> ConfigError:
    """The error for a name nothing registers: the closest names, and how to name one's own."""
    close = close_names(name, available_models())
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ConfigError(
        f"Unknown model '{name}' ({where}).{hint} `recbole-llmkg models` lists every "
        "registered name; a model class of your own is named package.module:Class (its folder "
        f"on PYTHONPATH), or registered by its package under the entry-point group "
        f"'{ENTRY_POINT_GROUP}'."
    )


def missing_module_error(name: str, module_name: str) -> ConfigError:
    """The error for a ``package.module:Class`` whose module is not on ``sys.path``."""
    return ConfigError(
        f"Model '{name}': module '{module_name}' not found on sys.path. Run from the folder "
        "that holds it, add that folder to PYTHONPATH, or install its package; "
        "`recbole-llmkg models` lists the registered names."
    )


def get_model(model_name: str | type) -> type:
    """RecBole's name for :func:`resolve_model` (``recbole.utils.get_model``'s signature)."""
    return resolve_model(model_name)


def trainer_for(model_class: type) -> type:
    """The trainer a model class declares, with the plugin's trainer features mixed in.

    Found along the class hierarchy: the nearest class that sets ``trainer_class`` wins; a
    RecBole model class with a trainer of its own name (``KGAT`` -> ``KGATTrainer``) counts as
    declaring it, so subclasses of built-ins keep their trainer. Otherwise RecBole's choice for
    the model type (``KGTrainer``, ``TraditionalTrainer``, ``Trainer``, ...).
    """
    import recbole.trainer
    from recbole.utils import get_trainer as recbole_get_trainer

    from recbole_llmkg.trainer import plugin_trainer

    for cls in model_class.__mro__:
        declared = cls.__dict__.get("trainer_class")
        if declared is None and cls.__module__.startswith("recbole."):
            declared = getattr(recbole.trainer, f"{cls.__name__}Trainer", None)
        if declared is not None:
            return plugin_trainer(declared)
    return plugin_trainer(recbole_get_trainer(model_class.type, model_class.__name__))


def get_trainer(model_type: Any, model_name: str | type) -> type:
    """RecBole's ``get_trainer`` signature, resolved through :func:`trainer_for`.

    ``model_name`` may also be a model class (one defined outside the package, for instance).
    """
    if isinstance(model_name, type):
        return trainer_for(model_name)
    try:
        model_class = get_model(model_name)
    except ConfigError:  # a RecBole name without a YAML of defaults: RecBole's own choice
        from recbole.utils import get_trainer as recbole_get_trainer

        from recbole_llmkg.trainer import plugin_trainer

        return plugin_trainer(recbole_get_trainer(model_type, model_name))
    return trainer_for(model_class)


def required_dataset_files(config: Any) -> dict[str, str]:
    """Atomic-file suffixes the run cannot do without, each with the reason (the config key or
    the model type that asks for it): the model's own, and every ``additional_feat_suffix``
    file (pretrained entity embeddings, for instance, which RecBole would otherwise skip)."""
    from recbole.utils import ModelType

    suffixes = {"inter": "every model reads interactions"}
    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        suffixes |= dict.fromkeys(["kg", "link"], "knowledge-aware models read the graph")
    for suffix in getattr(config.model_class, "required_dataset_files", ()):
        suffixes.setdefault(suffix, f"model {config['model']} reads it")
    for suffix in config["additional_feat_suffix"] or ():
        suffixes.setdefault(suffix, "config key 'additional_feat_suffix' names it")
    return suffixes


def check_dataset_files(config: Any) -> None:
    """Fail early, naming the missing file, why it is needed and the ``data_path`` it was looked
    for in, or the interaction file that holds a header and no data (RecBole would fail later,
    obscurely, or with a bare ``ValueError`` for an ``additional_feat_suffix`` file)."""
    folder = Path(config["data_path"])
    for suffix, reason in required_dataset_files(config).items():
        path = folder / f"{config['dataset']}.{suffix}"
        if not path.is_file():
            raise DatasetFileNotFoundError(
                f"Dataset file '{path}' not found: model {config['model']} needs "
                f"'{config['dataset']}.{suffix}' ({reason}). Put it in that folder, or point "
                f"the config key 'data_path' at the folder that holds the '{config['dataset']}' "
                "directory."
            )
        if suffix == "inter" and not _has_data_line(path):
            raise DataError(
                f"Dataset file '{path}' has a header and no interactions: add at least one "
                "data line (one interaction per line, fields as named in the header)."
            )


def _has_data_line(path: Path) -> bool:
    """Whether the file has a non-blank line after its header (stops at the first one)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        f.readline()
        return any(line.strip() for line in f)


def create_dataset(config: Any):
    """Build the dataset: the model's own ``dataset_class`` if it names one, else RecBole's."""
    check_dataset_files(config)
    dataset_class = getattr(config.model_class, "dataset_class", None)
    if dataset_class is None:
        from recbole.data import create_dataset as recbole_create_dataset
        from recbole.utils import ModelType

        from recbole_llmkg.data.validate import validate_atomic_files

        validate_atomic_files(config)  # RecBole's readers get the plugin's file checks too
        if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:  # the .link file kg_link_file picks
            from recbole_llmkg.data.link import CorrectedLinkDataset

            return CorrectedLinkDataset(config)
        return recbole_create_dataset(config)
    return dataset_class(config)
