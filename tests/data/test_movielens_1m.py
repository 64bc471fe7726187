"""The MovieLens-1M converter: counts, RecBole reads its files, idempotence, bad input, lookup.

Reads the originals in ``../shared/datasets/ml-1m/`` (never committed): without them these tests
skip, naming what to download, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbole_llmkg.data import movielens_1m as ml1m
from recbole_llmkg.errors import DataError, DatasetFileNotFoundError
from recbole_llmkg.paths import dataset_search_roots


def _source() -> Path:
    found = ml1m.default_source_dir()
    if found is None:
        message = ("MovieLens-1M originals not found in "
                   f"{', '.join(map(str, ml1m.default_source_dirs()))}: download them as "
                   "datasets/README.md says (CoLaKG colakg_*.txt/.json, MKR mkr_*.txt, GroupLens "
                   "movies.dat/users.dat) into ../shared/datasets/ml-1m/")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """The dataset folder the dataset search converts on its own (``-d ml-1m``, no manual
    step), under a private ``RECBOLE_LLMKG_DATA``."""
    _source()
    root = tmp_path_factory.mktemp("converted")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECBOLE_LLMKG_DATA", str(root))
        roots = dataset_search_roots(dataset="ml-1m")
    assert root in roots
    return root / "ml-1m"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, quoting=3, keep_default_na=False)


def test_counts_every_interaction_kept_and_every_link_and_triple_accounted(converted):
    counts = json.loads((converted / ml1m.MANIFEST).read_text())["counts"]
    assert counts["interactions_read"] == counts["interactions"] == 998_539
    assert (counts["users"], counts["items"]) == (6_040, 3_260)
    assert counts["links_read"] == 2_347
    assert counts["links"] + counts["links_unknown_item"] == 2_347 and counts["links"] < 2_347
    assert counts["triples_read"] == 20_782 == counts["triples"] + counts["duplicate_triples"]
    assert counts["knowledge"] == 3_260

    inter = _read(converted / "ml-1m.inter")
    assert list(inter.columns) == ["user_id:token", "item_id:token"]
    assert len(inter) == 998_539 and not inter.duplicated().any()
    assert inter["user_id:token"].nunique() == 6_040 and inter["item_id:token"].nunique() == 3_260
    items = _read(converted / "ml-1m.item")
    assert list(items.columns) == ["item_id:token", "movie_title:token_seq",
                                   "release_year:token", "class:token_seq"]
    assert set(items["item_id:token"]) == set(inter["item_id:token"])
    toy = items[items["item_id:token"] == "1"].iloc[0].tolist()
    assert toy == ["1", "Toy Story", "1995", "Animation Children's Comedy"]
    users = _read(converted / "ml-1m.user")
    assert list(users.columns) == ["user_id:token", "age:token", "gender:token",
                                   "occupation:token", "zip_code:token"]
    assert users.iloc[0].tolist() == ["1", "under 18", "F", "K-12 student", "48067"]
    link = _read(converted / "ml-1m.link")
    kg = _read(converted / "ml-1m.kg")
    assert len(link) == counts["links"]
    assert set(link["item_id:token"]) <= set(items["item_id:token"])
    assert len(kg) == counts["triples"] and kg["relation_id:token"].nunique() == 7
    entities = pd.concat([kg["head_id:token"], kg["tail_id:token"], link["entity_id:token"]])
    assert entities.str.fullmatch(r"e\d+").all()
    assert not set(entities) & set(items["item_id:token"])  # no entity token is an item token


def test_knowledge_file_format(converted):
    lines = (converted / "ml-1m.knowledge").read_text(encoding="utf-8").split("\n")
    assert lines[0] == "item_id\tknowledge" and lines[-1] == ""
    rows = [line.split("\t") for line in lines[1:-1]]
    assert len(rows) == 3_260 and all(len(row) == 2 and row[1] for row in rows)
    items = set(_read(converted / "ml-1m.item")["item_id:token"])
    assert {row[0] for row in rows} == items
    toy = dict(rows)["1"]
    assert toy.startswith('"Toy Story (1995)" is') and "\r" not in toy


def test_recbole_loads_the_converted_files_found_without_data_path(converted, monkeypatch):
    from recbole_llmkg import Config, create_dataset

    monkeypatch.setenv("RECBOLE_LLMKG_DATA", str(converted.parent))
    config = Config("BPR", "ml-1m", cmd_args=[], config_dict={
        "use_gpu": False, "state": "ERROR", "show_progress": False,
        "load_col": {"inter": ["user_id", "item_id"],
                     "item": ["item_id", "movie_title", "release_year", "class"],
                     "user": ["user_id", "age", "gender", "occupation", "zip_code"]}})
    assert Path(config["data_path"]) == converted
    dataset = create_dataset(config)
    assert (dataset.user_num, dataset.item_num, dataset.inter_num) == (6_041, 3_261, 998_539)
    toy = dataset.token2id("item_id", "1")
    title = dataset.item_feat["movie_title"][toy]
    assert [dataset.field2id_token["movie_title"][t] for t in title[title > 0]] == ["Toy", "Story"]

    kg = create_dataset(Config("CKE", "ml-1m", cmd_args=[], config_dict={
        "use_gpu": False, "state": "ERROR", "show_progress": False}))
    linked = json.loads((converted / ml1m.MANIFEST).read_text())["counts"]["links"]
    assert len(kg.kg_feat) == 20_782 and kg.item_num == linked + 1  # RecBole keeps linked items


def _copy_source(tmp_path: Path) -> Path:
    copy = tmp_path / "source"
    copy.mkdir()
    for name in ml1m.SOURCE_FILES:
        shutil.copyfile(_source() / name, copy / name)
    return copy


def test_second_run_is_a_no_op_and_a_changed_input_reconverts(converted, tmp_path):
    stamps = {p.name: p.stat().st_mtime_ns for p in converted.iterdir()}
    again = ml1m.convert(_source(), converted)
    assert not again.converted and again.counts["interactions"] == 998_539
    assert {p.name: p.stat().st_mtime_ns for p in converted.iterdir()} == stamps

    source = _copy_source(tmp_path)
    out = tmp_path / "out"
    first = ml1m.convert(source, out)
    assert first.converted
    assert (out / "ml-1m.inter").read_bytes() == (converted / "ml-1m.inter").read_bytes()
    with open(source / "colakg_test.txt", "a", encoding="utf-8") as f:  # a new user's line
        last = (source / "colakg_test.txt").read_text().split("\n")[-2].split()[0]
        f.write(f"{int(last) + 1} 0\n")
    with pytest.raises(DataError, match=r"colakg_test\.txt', line 6041: user index 6040 is not"):
        ml1m.convert(source, out)
    shutil.copyfile(_source() / "colakg_test.txt", source / "colakg_test.txt")
    (out / "ml-1m.link").unlink()  # a folder with a file missing is converted again
    assert ml1m.convert(source, out).converted and (out / "ml-1m.link").is_file()


@pytest.mark.parametrize("name, edit, expected", [
    ("movies.dat", lambda lines: lines.__setitem__(9, "10::GoldenEye (1995)"),
     r"movies\.dat', line 10: expected 3 fields"),
    ("users.dat", lambda lines: lines.__setitem__(4, "5::M::25::x20::55455"),
     r"users\.dat', line 5: field 'occupation' is 'x20', not a whole number"),
    ("colakg_train.txt", lambda lines: lines.__setitem__(2, lines[2][:40] + "#" + lines[2][40:]),
     r"colakg_train\.txt', line 3: '#' is not part of"),
    ("colakg_test.txt", lambda lines: lines.__setitem__(6, lines[6].split()[0]),
     r"colakg_test\.txt', line 7: a user index with no item index"),
    ("mkr_kg.txt", lambda lines: lines.__setitem__(99, "749\tfilm.film.writer"),
     r"mkr_kg\.txt', line 100: expected 3 fields"),
    ("colakg_llm_response_item.json", lambda lines: lines.__delitem__(slice(20, None)),
     r"colakg_llm_response_item\.json', line \d+: not valid JSON"),
])
def test_a_garbled_line_is_one_clear_line_naming_file_and_line(tmp_path, capsys, name, edit,
                                                                expected):
    source = _copy_source(tmp_path)
    lines = (source / name).read_text(encoding="utf-8").split("\n")
    edit(lines)
    (source / name).write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataError, match=expected):
        ml1m.convert(source, tmp_path / "out")
    assert not (tmp_path / "out" / ml1m.MANIFEST).exists()
    assert ml1m.main(["--source", str(source), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "README.md" in err


def test_missing_originals_name_what_to_download(tmp_path, monkeypatch):
    source = _copy_source(tmp_path)
    monkeypatch.setenv("RECBOLE_LLMKG_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(ml1m, "default_source_dirs", lambda: [tmp_path / "nowhere"])
    with pytest.raises(DatasetFileNotFoundError, match=r"datasets/README\.md"):
        dataset_search_roots(dataset="ml-1m")
    assert dataset_search_roots(dataset="tiny")[2] == tmp_path / "empty"  # others: no conversion
    (source / "users.dat").unlink()
    with pytest.raises(DatasetFileNotFoundError, match=r"lacks users\.dat"):
        ml1m.convert(source, tmp_path / "out")


def test_within_user_order_is_seeded_not_colakgs(converted):
    inter = _read(converted / "ml-1m.inter")
    assert np.all(np.diff(inter["user_id:token"].astype(int).to_numpy()) >= 0)  # grouped by user
    first = inter[inter["user_id:token"] == "1"]["item_id:token"].tolist()
    colakg = (_source() / "colakg_train.txt").read_text().split("\n")[0].split()[1:]
    item_map = dict(line.split()[::-1] for line in
                    (_source() / "colakg_item_map.txt").read_text().split("\n") if line)
    assert sorted(first) != first and first[:len(colakg)] != [item_map[i] for i in colakg]


def test_ml1m_board_parses_and_plans(converted, monkeypatch):
    from recbole_llmkg.benchmark.runner import check_run_configs
    from recbole_llmkg.benchmark.spec import load_benchmark
    from recbole_llmkg.paths import properties_dir

    monkeypatch.setenv("RECBOLE_LLMKG_DATA", str(converted.parent))
    spec = load_benchmark(properties_dir() / "benchmark" / "ml-1m.yaml")
    assert spec.datasets == ["ml-1m"] and len(spec.seeds) == 5
    assert {p.name for p in spec.protocols} == {"standard", "cold_item", "cold_user"}
    runs = spec.runs()
    tuned = {m.label for m in spec.models if m.tune}
    assert tuned and all(m.skip is None for m in spec.models if m.tune)
    # tuned outside the main table: only the knowledge views, each with its own study
    views = {m.label: m.config.get("item_text_view") for m in spec.models
             if m.tune and m.table != "main"}
    assert views and set(views.values()) == {"knowledge", "separate"}
    skipped = [m for m in spec.models if m.skip]
    assert all("CPU" in m.skip and "cost.md" in m.skip for m in skipped)  # a measured reason
    assert {r.seed for r in runs} == set(spec.seeds)
    check_run_configs(spec, [r for r in runs if r.model.skip is None])  # every config builds
    quick = load_benchmark(properties_dir() / "benchmark" / "ml-1m.yaml", "quick")
    assert quick.n_trials == 0 and len(quick.runs()) < len(runs)
    # the first part of the board is the full board's own runs (same keys), nothing else
    part = load_benchmark(properties_dir() / "benchmark" / "ml-1m.yaml", "closed_forms")
    assert {r.key for r in part.runs()} < {r.key for r in runs}
