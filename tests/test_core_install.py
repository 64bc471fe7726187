"""The core install (``pip install recbole-llmkg``, no ``[bench]`` extra) imports, trains and
serves without ray, optuna and matplotlib; the benchmark then stops with the install line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BENCH_PACKAGES = ("ray", "optuna", "matplotlib")

# A finder ahead of every other that refuses the benchmark's packages, as if not installed.
ABSENT = textwrap.dedent(f"""
    import sys

    class Absent:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {BENCH_PACKAGES!r}:
                raise ImportError(f"No module named {{name!r}} (absent in this test)")
            return None

    sys.meta_path.insert(0, Absent())
""")

CORE = ABSENT + textwrap.dedent("""
    import recbole_llmkg
    from recbole_llmkg import run_recbole_llmkg
    from recbole_llmkg.model import KASimCF, KGLLMGNN, LLMAugRec
    from recbole_llmkg.serve import Recommender

    result = run_recbole_llmkg("KASimCF", "tiny", config_dict={
        "epochs": 1, "use_gpu": False, "state": "ERROR", "show_progress": False,
        "checkpoint_dir": "saved", "sim_mode": "item", "knowledge_weight": 0.0}, cmd_args=[])
    served = Recommender.load(result["checkpoint"]).recommend(["1"], 3)
    print("served", len(served))
    print("loaded", sorted(m for m in sys.modules if m.split(".")[0] in {BENCH}))
""").replace("{BENCH}", repr(set(BENCH_PACKAGES)))


def test_core_trains_and_serves_without_the_bench_packages(tmp_path, subprocess_env):
    done = subprocess.run([sys.executable, "-c", CORE], cwd=tmp_path, env=subprocess_env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "served 3" in done.stdout and "loaded []" in done.stdout, done.stdout


def test_bench_without_the_bench_packages_prints_the_install_line(tmp_path, subprocess_env):
    script = ABSENT + ("from recbole_llmkg.cli import main\n"
                       "sys.exit(main(['bench', 'properties/benchmark/ml-100k.yaml']))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=subprocess_env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "recbole-llmkg: error: the benchmark needs matplotlib, optuna, ray (not installed): "
        'pip install "recbole-llmkg[bench]"']


def test_setup_keeps_the_bench_packages_in_the_extra_only():
    import ast

    from conftest import REPO_ROOT

    call = next(node for node in ast.walk(ast.parse((REPO_ROOT / "setup.py").read_text()))
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup")
    keywords = {k.arg: k.value for k in call.keywords}
    core = [ast.literal_eval(e).split(">")[0].split("=")[0]
            for e in keywords["install_requires"].elts]
    extras = ast.literal_eval(keywords["extras_require"])
    bench = {spec.split(">")[0] for spec in extras["bench"]}
    assert bench == set(BENCH_PACKAGES) and not bench & set(core)
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    assert all(f"\n{name}==" in requirements for name in BENCH_PACKAGES)  # make has them
