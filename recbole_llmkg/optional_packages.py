"""Optional packages a model's code imports, found by reading its source (nothing is imported).

Some RecBole models import a library that RecBole does not install (LightGBM and XGBoost at
module level; NCL imports faiss inside a method, so it fails only after training starts). Reading
the ``import`` statements of the model's module tells, before anything runs, which package is
missing and how to install it.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model_names import parse_python

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
