"""Every module imports on its own, and the package's internal imports form no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

PACKAGE = "recbole_llmkg"
PACKAGE_DIR = REPO_ROOT / PACKAGE


def module_names() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (packages by their ``__init__``)."""
    names = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def internal_imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """Package modules that ``name`` imports anywhere in its file (function bodies too).

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``;
    the implicit import of parent packages is not an edge (every module would depend on the
    package ``__init__``).
    """
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_package_import_graph_has_no_cycle():
    modules = module_names()
    graph = {name: internal_imports(name, path, set(modules)) for name, path in modules.items()}
    assert graph["recbole_llmkg.benchmark.spec"], "the parser found no imports"
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_cycle_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_imports_alone(subprocess_env):
    """Each module is imported first, with no other package module loaded before it."""
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m == 'recbole_llmkg' "
        "or m.startswith('recbole_llmkg.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {type(error).__name__}: {error}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *module_names()], env=subprocess_env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]


# The one method the package adds to a library class: RecBole's graph models call
# ``A._update(...)`` on a scipy matrix they build themselves, and scipy >= 1.13 removed it.
ALLOWED_METHOD_ASSIGNMENTS = {("recbole_llmkg.compat", "sp.dok_matrix._update")}


def method_assignments(path: Path) -> list[str]:
    """``X.attr = f`` where ``f`` is a function (lambda or a ``def`` of the module), and
    ``setattr(X, name, f)`` likewise: a method replaced at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef,
                                                                 ast.AsyncFunctionDef))}

    def is_function(value: ast.AST) -> bool:
        return isinstance(value, ast.Lambda) or (
            isinstance(value, ast.Name) and value.id in functions)

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and is_function(node.value):
            found += [ast.unparse(t) for t in node.targets if isinstance(t, ast.Attribute)]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "setattr" and len(node.args) == 3
              and is_function(node.args[2])):
            found.append(ast.unparse(node))
    return found


def test_no_method_is_assigned_at_run_time():
    offending = [
        f"{name}: {target}"
        for name, path in module_names().items()
        for target in method_assignments(path)
        if (name, target) not in ALLOWED_METHOD_ASSIGNMENTS
    ]
    assert not offending, offending


def test_method_assignment_finder_sees_one(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def timed(self):\n    pass\n\nModel.__init__ = timed\n"
                      "obj.predict = lambda x: x\nsetattr(C, 'f', timed)\nobj.value = 3\n")
    assert method_assignments(source) == ["Model.__init__", "obj.predict",
                                          "setattr(C, 'f', timed)"]


def test_every_plugin_model_is_exported_from_model_and_its_sub_package():
    import importlib

    import recbole_llmkg.model as model_package
    from recbole_llmkg.registry import plugin_model_modules, plugin_models

    assert sorted(model_package.__all__) == sorted(plugin_model_modules())
    for name, module in plugin_model_modules().items():
        sub = importlib.import_module(module.rsplit(".", 1)[0])
        assert name in sub.__all__, f"{sub.__name__}/__init__.py does not export {name}"
        assert getattr(sub, name) is getattr(model_package, name) is plugin_models()[name]


def test_import_from_model_package_as_the_issue_writes_it():
    from recbole_llmkg.model import KGLLMGNN, KASimCF, LLMAugRec
    from recbole_llmkg.model.general_recommender import LLMAugRec as same

    assert same is LLMAugRec and {KASimCF.__name__, KGLLMGNN.__name__} == {"KASimCF", "KGLLMGNN"}


def test_light_modules_import_no_torch(subprocess_env):
    """The package, its registry, the config package's start-up check and the CLI load neither
    torch nor RecBole's model code (``recbole-llmkg --help`` and ``models`` answer at once)."""
    script = ("import sys\n"
              "import recbole_llmkg, recbole_llmkg.registry, recbole_llmkg.cli\n"
              "import recbole_llmkg.config.preflight, recbole_llmkg.model\n"
              "recbole_llmkg.registry.model_names()\n"
              "print(sorted(m for m in ('torch', 'recbole.model') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], env=subprocess_env,
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
