"""Benchmark file format: validation errors name the file and the key; run keys are stable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from recbole_llmkg.benchmark.spec import load_benchmark, parse_overrides
from recbole_llmkg.config import properties_dir
from recbole_llmkg.errors import ConfigError

BENCHMARKS = properties_dir() / "benchmark"
BASE = {
    "name": "t",
    "datasets": ["tiny"],
    "models": ["Pop", "EASE"],
    "seeds": [1, 2],
    "protocols": ["standard"],
    "metrics": ["Recall", "NDCG"],
    "topk": [10],
    "headline": "NDCG@10",
    "eval_batch_size": 4096,
}


def write(tmp_path: Path, **changes) -> Path:
    body = {**BASE, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def error_of(path: Path, profile: str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_benchmark(path, profile)
    message = str(caught.value)
    assert str(path) in message, message
    return message


def test_shipped_files_load_with_every_profile():
    for name in ("tiny", "ml-100k"):
        path = BENCHMARKS / f"{name}.yaml"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        for profile in [None, *raw["profiles"]]:
            spec = load_benchmark(path, profile)
            assert spec.runs(), (name, profile)
            assert spec.eval_batch_size == raw["eval_batch_size"]


def test_ml100k_profiles_cover_the_board():
    quick = load_benchmark(BENCHMARKS / "ml-100k.yaml", "quick")
    full = load_benchmark(BENCHMARKS / "ml-100k.yaml", "full")
    main = {"Pop", "ItemKNN", "EASE", "SLIMElastic", "BPR", "NeuMF", "MultiVAE", "LightGCN",
            "CKE", "KGIN", "KGAT", "LLMAugRec", "KGLLMGNN", "KASimCF", "TextKNN", "KGKNN",
            "TextKGKNN", "GFCF", "L3AE"}
    untuned = {"CFKG", "KGCN", "KGNNLS", "KTUP", "RippleNet", "MCCLK"}
    by_table = {kind: {m.name for m in full.models if m.table == kind}
                for kind in ("main", "untuned", "ablation")}
    assert by_table["main"] == main and by_table["untuned"] == untuned
    assert by_table["ablation"] == {"LLMAugRec", "KGLLMGNN", "KASimCF"}
    assert all(m.tune == (m.table == "main") for m in full.models)
    assert full.n_trials >= 20 and quick.n_trials == 0  # quick reuses, never tunes
    assert {m.name for m in quick.models} <= main
    assert {p.name for p in full.protocols} == {"standard", "cold_item", "cold_user"}
    cold_user = next(p for p in full.protocols if p.name == "cold_user")
    assert {"Pop", "TextKNN", "BPR", "EASE"} <= set(cold_user.models) <= main
    assert len(full.seeds) >= 5
    # no epoch caps on the board: a generous `epochs`, early stopping decides
    assert full.config["epochs"] >= 300 and all(
        "epochs" not in m.config for m in full.models)
    # make run (quick) must never overwrite the committed full leaderboard
    assert full.results_dir.name == "ml-100k" and quick.results_dir.name == "ml-100k-quick"
    assert len(quick.runs()) < len(full.runs())
    # make run caps no epoch either (tests/benchmark/test_console.py checks the rest)
    assert all(run.config["epochs"] == full.config["epochs"] for run in quick.runs())
    assert full.runs()[0].config["eval_batch_size"] == quick.runs()[0].config["eval_batch_size"]
    # the full profile is the top-level settings: same run keys, results shared
    assert [r.key for r in full.runs()] == [
        r.key for r in load_benchmark(BENCHMARKS / "ml-100k.yaml").runs()]


def test_bare_name_finds_shipped_file():
    assert load_benchmark("tiny", "quick").name == "tiny"


def test_run_keys_are_stable_and_cover_what_changes_results(tmp_path):
    path = write(tmp_path, config={"epochs": 2})
    first = [r.key for r in load_benchmark(path).runs()]
    assert first == [r.key for r in load_benchmark(path).runs()]
    assert len(set(first)) == len(first) == 4
    assert set(first).isdisjoint(r.key for r in load_benchmark(path).runs({"epochs": 3}))
    changed = write(tmp_path, config={"epochs": 2}, eval_batch_size=2048)
    assert set(first).isdisjoint(r.key for r in load_benchmark(changed).runs())
    with_override = write(tmp_path, config={"epochs": 2},
                          models=["Pop", {"name": "EASE", "config": {"reg_weight": 10.0}}])
    keys = [r.key for r in load_benchmark(with_override).runs()]
    assert keys[:2] == first[:2] and set(keys[2:]).isdisjoint(first)


def test_a_change_to_a_models_code_changes_its_run_keys_only(tmp_path, monkeypatch):
    """The key covers the content of the model's module, the plugin's core and its default
    YAML: editing EASE's module changes EASE's keys and no other model's."""
    import inspect
    from pathlib import Path

    from recbole.model.general_recommender.ease import EASE

    from recbole_llmkg.benchmark import provenance

    path = write(tmp_path, config={"epochs": 2})
    before = {r.key: r.model.name for r in load_benchmark(path).runs()}
    assert {r.identity()["code"] for r in load_benchmark(path).runs()} == {
        provenance.code_identity("Pop"), provenance.code_identity("EASE")}
    ease_file = Path(inspect.getsourcefile(EASE)).resolve()
    assert ease_file in [p.resolve() for p in provenance._model_files("EASE")]
    read = Path.read_bytes

    def edited(self):
        data = read(self)
        return data + b"\n# edited\n" if self.resolve() == ease_file else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    provenance.code_identity.cache_clear()
    try:
        after = {r.key: r.model.name for r in load_benchmark(path).runs()}
    finally:
        provenance.code_identity.cache_clear()
    assert {k for k, m in after.items() if m == "Pop"} == {k for k, m in before.items()
                                                           if m == "Pop"}
    assert {k for k, m in after.items() if m == "EASE"}.isdisjoint(before)


def test_the_plugins_core_is_part_of_every_models_code_identity(monkeypatch):
    from recbole_llmkg.benchmark import provenance

    files = {path.relative_to(provenance.PACKAGE_ROOT).as_posix()
             for relative in provenance.CORE_PATHS
             for path in provenance._files_under(provenance.PACKAGE_ROOT / relative)}
    assert {"trainer.py", "compat.py", "data/dataset.py", "llm/encoder.py"} <= files
    assert any(name.startswith("model/layers/") for name in files)
    whole = provenance.code_identity("BPR")
    monkeypatch.setattr(provenance, "CORE_PATHS", ("trainer.py",))
    provenance.code_identity.cache_clear()
    try:
        assert provenance.code_identity("BPR") != whole  # the core's other files are hashed
    finally:
        provenance.code_identity.cache_clear()


def test_profile_overrides_and_merges(tmp_path):
    path = write(tmp_path, config={"epochs": 5, "learning_rate": 0.01}, profiles={
        "quick": {"seeds": [1], "config": {"epochs": 1},
                  "model_config": {"EASE": {"reg_weight": 1.0}}},
        "sub": {"models": ["EASE"]},
    })
    quick = load_benchmark(path, "quick")
    runs = quick.runs()
    assert quick.seeds == [1] and len(runs) == 2
    assert all(r.config["epochs"] == 1 and r.config["learning_rate"] == 0.01 for r in runs)
    assert runs[1].config["reg_weight"] == 1.0 and "reg_weight" not in runs[0].config
    assert [m.label for m in load_benchmark(path, "sub").models] == ["EASE"]


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"modles": ["Pop"]}, "modles"),
        ({"datasets": ["tiny", "no-such-data"]}, "datasets[1]"),
        ({"models": ["Pop", "NoSuchModel"]}, "models[1].name"),
        ({"models": [{"name": "Pop", "confg": {}}]}, "models[0].confg"),
        ({"protocols": ["standard", "warm_start"]}, "protocols[1]"),
        ({"protocols": [{"name": "cold_item", "fraction": 0.1}]}, "protocols[0].fraction"),
        ({"protocols": [{"name": "cold_item", "cold_fraction": 1.5}]},
         "protocols[0].cold_fraction"),
        ({"metrics": ["Recall", "Accuracy"]}, "metrics"),
        ({"metrics": ["Recall", "AUC"]}, "metrics"),
        ({"headline": "MRR@10"}, "headline"),
        ({"headline": "NDCG@20"}, "headline"),
        ({"config": {"seed": 3}}, "config.seed"),
        ({"config": {"eval_batch_size": 3}}, "config.eval_batch_size"),
        ({"eval_batch_size": None}, "eval_batch_size"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"isolation": "thread"}, "isolation"),
        ({"n_trials": -1}, "n_trials"),
        ({"gpus_per_run": "one"}, "gpus_per_run"),
        ({"num_cpus": 0}, "num_cpus"),
        ({"ray_address": ""}, "ray_address"),
        ({"models": [{"name": "Pop", "table": "side"}]}, "models[0].table"),
        ({"models": [{"name": "Pop", "tune": "yes"}]}, "models[0].tune"),
        ({"models": ["Pop", "Pop"]}, "models"),
        ({"side_files": {"ml-100k": {"link": "x.link"}}}, "side_files.ml-100k"),
        ({"side_files": {"tiny": {"inter": "datasets/tiny/tiny.inter"}}}, "side_files.tiny.inter"),
        ({"side_files": {"tiny": {"link": "no/such.link"}}}, "side_files.tiny.link"),
        ({"side_files": ["tiny"]}, "side_files"),
        ({"protocols": [{"name": "cold_user", "models": ["Pop", "BPX"]}]}, "protocols[0].models"),
        ({"protocols": [{"name": "cold_user", "models": "Pop"}]}, "protocols[0].models"),
        ({"protocols": [{"name": "cold_user", "cold_fraction": 0}]},
         "protocols[0].cold_fraction"),
        ({"profiles": {"quick": {"sedes": [1]}}}, "profiles.quick.sedes"),
        ({"profiles": {"quick": {"model_config": {"BPR": {"epochs": 1}}}}},
         "profiles.quick.model_config.BPR"),
    ],
)
def test_bad_files_name_file_and_key(tmp_path, changes, key):
    message = error_of(write(tmp_path, **changes), "quick" if "profiles" in changes else None)
    assert f"'{key}" in message, message


def test_profile_errors_name_the_profile_key(tmp_path):
    path = write(tmp_path, profiles={"quick": {"protocols": ["nope"]}})
    assert "'profiles.quick.protocols[0]'" in error_of(path, "quick")
    assert "unknown profile 'fast'" in error_of(path, "fast")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_benchmark(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    assert "YAML" in error_of(bad)


def test_overrides_parse_as_yaml_and_reserved_keys_are_refused(tmp_path):
    assert parse_overrides(["--epochs=3", "--learning_rate=1e-3", "--gpu_id=0",
                            "--use_gpu=False"]) == {
        "epochs": 3, "learning_rate": 0.001, "gpu_id": 0, "use_gpu": False}
    spec = load_benchmark(write(tmp_path))
    with pytest.raises(ConfigError, match="--seed"):
        spec.runs({"seed": 5})


def test_tables_and_tuning_defaults(tmp_path):
    path = write(tmp_path, models=["Pop", {"name": "BPR", "table": "untuned"},
                                   {"name": "EASE", "label": "EASE-x", "table": "ablation"}])
    spec = load_benchmark(path)
    assert [(m.table, m.tune) for m in spec.models] == [
        ("main", True), ("untuned", False), ("ablation", False)]
    assert spec.isolation == "ray" and spec.n_trials == 0 and spec.gpus_per_run == 0.0
    run = spec.runs()[0]
    assert type(run).from_dict(run.to_dict()) == run  # table and tune survive a Ray payload


def test_side_files_reach_every_run_and_its_key_by_content(tmp_path):
    link = tmp_path / "fixed.link"
    link.write_text((properties_dir().parent / "datasets/tiny/tiny.link").read_text())
    plain = load_benchmark(write(tmp_path))
    fixed = load_benchmark(write(tmp_path, side_files={"tiny": {"link": str(link)}}))
    assert all(run.side_files == {"link": str(link.resolve())} for run in fixed.runs())
    assert all(not run.side_files for run in plain.runs())
    keys = [run.key for run in fixed.runs()]
    assert keys != [run.key for run in plain.runs()]
    link.write_text(link.read_text() + "\n")  # same path, other content: other keys
    assert keys != [run.key for run in load_benchmark(fixed.path).runs()]


def test_a_protocol_runs_only_the_rows_it_lists_and_keys_stay(tmp_path):
    every = load_benchmark(write(tmp_path, protocols=["standard", "cold_user"]))
    narrowed = load_benchmark(write(tmp_path, protocols=[
        "standard", {"name": "cold_user", "models": ["EASE"]}]))
    cold = [run for run in narrowed.runs() if run.protocol.name == "cold_user"]
    assert {run.model.label for run in cold} == {"EASE"} and len(cold) == 2
    assert {run.key for run in cold} <= {run.key for run in every.runs()}


def test_runs_put_main_rows_of_every_protocol_before_ablations_and_untuned(tmp_path):
    path = write(tmp_path, protocols=["standard", "cold_item"], models=[
        {"name": "Pop", "table": "untuned"},
        {"name": "EASE", "label": "EASE-reg", "table": "ablation", "config": {"reg_weight": 1.0}},
        "EASE",
    ])
    order = [(r.model.table, r.protocol.name, r.model.label, r.seed)
             for r in load_benchmark(path).runs()]
    assert order == [(table, protocol, label, seed)
                     for table, label in [("main", "EASE"), ("ablation", "EASE-reg"),
                                          ("untuned", "Pop")]
                     for protocol in ["standard", "cold_item"] for seed in [1, 2]]


def test_a_protocol_models_list_gives_its_rows_and_their_order(tmp_path):
    path = write(tmp_path, models=["Pop", "EASE", "BPR"], seeds=[1], protocols=[
        "standard", {"name": "cold_item", "models": ["BPR", "Pop"]}])
    order = [(r.protocol.name, r.model.label) for r in load_benchmark(path).runs()]
    assert order == [("standard", "Pop"), ("standard", "EASE"), ("standard", "BPR"),
                     ("cold_item", "BPR"), ("cold_item", "Pop")]


def test_a_skipped_row_stays_in_the_plan_untuned_with_the_same_keys(tmp_path):
    plain = load_benchmark(write(tmp_path, models=["Pop", {"name": "EASE"}]))
    skipped = load_benchmark(write(tmp_path, models=[
        "Pop", {"name": "EASE", "skip": "too slow on this machine"}]))
    ease = [run for run in skipped.runs() if run.model.label == "EASE"]
    assert ease and all(run.model.skip == "too slow on this machine" for run in ease)
    assert not any(run.model.tune for run in ease)  # a row that never runs is never tuned
    # removing `skip` later runs exactly the runs the board listed
    assert [run.key for run in skipped.runs()] == [run.key for run in plain.runs()]


@pytest.mark.parametrize("reason", ["", "  ", 3, True])
def test_skip_must_say_why(tmp_path, reason):
    path = write(tmp_path, models=["Pop", {"name": "EASE", "skip": reason}])
    with pytest.raises(ConfigError, match=r"models\[1\]\.skip.*reason"):
        load_benchmark(path)


def test_ml100k_closed_forms_profile_runs_only_the_full_boards_own_runs():
    """The rerun's first part reuses the full board's studies and run keys: every run it plans
    is a run of `full` (same key), and it plans every protocol's runs of its rows."""
    board = BENCHMARKS / "ml-100k.yaml"
    part, full = load_benchmark(board, "closed_forms"), load_benchmark(board, "full")
    part_keys = {r.key for r in part.runs()}
    assert part_keys < {r.key for r in full.runs()}
    rows = {m.label for m in part.models}
    assert part_keys == {r.key for r in full.runs() if r.model.label in rows}
