"""The command line: fast start without torch, and ``recommend`` end to end with exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from recbole_llmkg.cli import main

NO_TORCH = """
import sys
from recbole_llmkg.cli import main
try:
    main({argv!r})
except SystemExit:  # argparse's --help
    pass
heavy = sorted(m for m in ('torch', 'recbole', 'transformers', 'numpy') if m in sys.modules)
print('HEAVY', heavy)
"""


@pytest.mark.parametrize("argv", [["--help"], ["--list-models"], ["recommend", "--help"]])
def test_help_and_list_models_do_not_import_torch(argv, subprocess_env):
    done = subprocess.run([sys.executable, "-c", NO_TORCH.format(argv=argv)],
                          capture_output=True, text=True, env=subprocess_env, timeout=120)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr


def test_package_import_is_light(subprocess_env):
    code = "import sys, recbole_llmkg; print('torch' in sys.modules, recbole_llmkg.__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=subprocess_env, timeout=120)
    assert done.stdout.split() == ["False", "0.1.0"], done.stderr


def test_lazy_names_resolve():
    import recbole_llmkg

    assert recbole_llmkg.Config.__name__ == "Config"
    assert callable(recbole_llmkg.run_recbole_llmkg)
    assert recbole_llmkg.Recommender.__name__ == "Recommender"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        recbole_llmkg.nothing  # noqa: B018


def test_listed_names_are_the_importable_models(capsys):
    from recbole_llmkg.registry import plugin_model_names, plugin_models, recbole_model_names

    assert plugin_model_names() == tuple(sorted(plugin_models()))
    assert main(["--list-models"]) == 0
    out = capsys.readouterr().out
    assert "LLMAugRec" in out and "KGLLMGNN" in out and "EASE" in out
    assert "BPR" in recbole_model_names()


@pytest.fixture(scope="module")
def checkpoint(served_checkpoints):
    return served_checkpoints("KASimCF")


def test_recommend_prints_titled_top_k(checkpoint, capsys):
    assert main(["recommend", "--checkpoint", checkpoint, "--user", "1", "--k", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Top 4 for user 1:"
    assert len(lines) == 5 and "The " in lines[1]


def test_recommend_json_shape(checkpoint, capsys):
    assert main(["recommend", "--checkpoint", checkpoint, "--user", "2", "--k", "3", "--json",
                 "--explain"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["user"] == "2" and data["model"] == "KASimCF"
    assert [i["rank"] for i in data["items"]] == [1, 2, 3]
    for item in data["items"]:
        assert set(item) == {"rank", "item", "title", "score", "explain"}
        assert item["explain"]["kind"] == "contribution"
        assert item["explain"]["history"] and "paths" in item["explain"]


def test_users_file_writes_jsonl(checkpoint, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("1\n5\n\n9\n")
    out = tmp_path / "out" / "recs.jsonl"
    assert main(["recommend", "--checkpoint", checkpoint, "--users", str(users), "--k", "2",
                 "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["user"] for r in rows] == ["1", "5", "9"]
    assert all(len(r["items"]) == 2 for r in rows)
    assert not list(out.parent.glob(".*.tmp"))


def test_all_users_and_new_user(checkpoint, capsys):
    assert main(["recommend", "--checkpoint", checkpoint, "--all-users", "--k", "1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 50
    assert main(["recommend", "--checkpoint", checkpoint, "--liked", "10,21", "--k", "2"]) == 0
    assert capsys.readouterr().out.startswith("Top 2 for user new:")


@pytest.mark.parametrize("args, message", [
    (["--user", "999"], "Unknown user id '999'"),
    (["--liked", "10,nope"], "Unknown item id 'nope'"),
    (["--user", "1", "--k", "0"], "--k must be >= 1; got 0"),
    (["--user", "1", "--query", " "], "--query is empty"),
    (["--user", "1", "--query", "x", "--query-weight", "2"], "between 0 and 1"),
    (["--user", "1", "--all-users"], "exactly one of"),
    (["--users", "/no/such/file"], "--users file '/no/such/file' cannot be read"),
    (["--liked", "10", "--explain"], "--explain needs a known --user"),
])
def test_bad_input_is_one_line_and_exit_code_2(checkpoint, capsys, args, message):
    assert main(["recommend", "--checkpoint", checkpoint, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_checkpoint_exit_code_2(capsys, tmp_path):
    assert main(["recommend", "--checkpoint", str(tmp_path / "x.pth"), "--user", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err


# ------------------------------------------------------------------------------- subcommands
@pytest.mark.parametrize("command", ["train", "bench", "recommend", "models"])
def test_each_subcommand_has_its_own_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: recbole-llmkg {command} ")


def test_top_level_help_names_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "{train,bench,recommend,models,knowledge}" in out
    assert "--benchmark" not in out and "--list-models" not in out  # aliases, not advertised


def test_models_subcommand_and_list_models_alias_print_the_same(capsys):
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    assert main(["--list-models"]) == 0
    assert capsys.readouterr().out == listed
    assert listed.startswith("Plugin models: GFCF, KASimCF")


def test_train_subcommand_and_plain_form_share_the_start_up_check(capsys):
    for argv in (["train", "-m", "BPR", "-d", "tiny", "--epochz=3"],
                 ["-m", "BPR", "-d", "tiny", "--epochz=3"]):
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("recbole-llmkg: error: Unknown config key 'epochz'")


def test_a_stray_positional_names_the_override_form(capsys):
    with pytest.raises(SystemExit):
        main(["-m", "BPR", "-d", "tiny", "--epochs", "3"])
    assert "config overrides are written --key=value" in capsys.readouterr().err


def test_recommend_refuses_config_overrides(capsys):
    with pytest.raises(SystemExit):
        main(["recommend", "--checkpoint", "x.pth", "--user", "1", "--epochs=3"])
    assert "unrecognised arguments for recommend: --epochs=3" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["bench", "board.yaml"], ["--benchmark", "board.yaml"]])
def test_bench_without_its_packages_stops_with_the_install_line(argv, monkeypatch, capsys):
    import recbole_llmkg.cli as cli

    monkeypatch.setattr(cli, "BENCH_PACKAGES", ("ray", "no_such_package_for_bench"))
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "no_such_package_for_bench" in line
    assert line.endswith('pip install "recbole-llmkg[bench]"')


def test_knowledge_without_its_module_says_so_in_one_line(monkeypatch, capsys):
    import recbole_llmkg.cli as cli

    monkeypatch.setattr(cli, "KNOWLEDGE_MODULE", "recbole_llmkg.llm.no_such_commands")
    assert main(["knowledge", "import", "--help"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "recbole_llmkg.llm.no_such_commands is missing" in line


def test_knowledge_delegates_to_its_module(monkeypatch, capsys):
    import types

    import recbole_llmkg.cli as cli

    module = types.ModuleType("fake_knowledge_commands")
    module.add_arguments = lambda parser: parser.add_argument("action")
    module.run = lambda args: print(f"ran {args.action}") or 0
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(cli, "KNOWLEDGE_MODULE", module.__name__)
    assert main(["knowledge", "generate"]) == 0
    assert capsys.readouterr().out == "ran generate\n"
    with pytest.raises(SystemExit):
        main(["knowledge", "--help"])
    assert capsys.readouterr().out.startswith("usage: recbole-llmkg knowledge ")
