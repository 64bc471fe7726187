"""The knowledge file format and `knowledge import`: reading, checks, title matching, coverage."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from recbole_llmkg.errors import DataError
from recbole_llmkg.llm.knowledge_commands import main
from recbole_llmkg.llm.knowledge_file import read_knowledge, write_knowledge
from recbole_llmkg.llm.knowledge_import import title_keys

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "ml-1m"


def test_write_then_read_round_trip_and_cleans_tabs_and_newlines(tmp_path):
    path = write_knowledge(tmp_path / "k" / "x.knowledge", {"1": "a\tb\nc", "2": "  d  "})
    assert path.read_text().splitlines() == ["item_id\tknowledge", "1\ta b c", "2\td"]
    assert read_knowledge(path) == {"1": "a b c", "2": "d"}
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("content, message", [
    (b"id\tknowledge\n1\tx\n", "header must be exactly 'item_id<TAB>knowledge'"),
    (b"item_id\tknowledge\n1\tx\n2\ty\n1\tz\n", "id '1' is on line 2 and line 4"),
    (b"item_id\tknowledge\n1\tx\n2\t\xff\xfe bad\n", "line 3: not UTF-8"),
    (b"item_id\tknowledge\n1\tx\ty\n", "line 2: 3 tab-separated fields"),
])
def test_bad_knowledge_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "bad.knowledge"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_knowledge(path)


def test_empty_text_is_named_and_skipped(tmp_path, caplog):
    path = tmp_path / "e.knowledge"
    path.write_bytes(b"item_id\tknowledge\n1\tx\n2\t  \n")
    with caplog.at_level(logging.WARNING):
        assert read_knowledge(path) == {"1": "x"}
    assert "empty text on line(s) 3" in caplog.text


@pytest.mark.parametrize("a, b", [
    ("Shawshank Redemption, The (1994)", "The Shawshank Redemption"),
    ("Horseman on the Roof, The (Hussard sur le toit, Le)", "Hussard sur le toit"),
    ("City of Lost Children, The (Cité des enfants perdus, La)", "Cite des Enfants Perdus"),
    ("Seven (Se7en)", "Se7en"),
    ("Wings of the Dove, The (a.k.a. The Wings)", "Wings"),
    ("Face/Off", "Face-Off"),
])
def test_title_keys_match_articles_alternates_accents_and_punctuation(a, b):
    assert set(title_keys(a)) & set(title_keys(b))


def test_title_keys_keep_different_films_apart():
    assert not set(title_keys("Alien (1979)")) & set(title_keys("Aliens (1986)"))


def _tiny_titles(tmp_path: Path) -> Path:
    """A movies.dat-style titles file for tiny's items, source ids 1000 + item id."""
    from recbole_llmkg.config import datasets_dir

    lines = (datasets_dir() / "tiny" / "tiny.item").read_text().splitlines()[1:]
    out = []
    for line in lines:
        item, title, year, _ = line.split("\t")
        words = title.split()
        if words[0] == "The":  # written the MovieLens way: "Frozen River 1, The"
            title = " ".join(words[1:]) + ", The"
        out.append(f"{1000 + int(item)}::{title.upper()} ({year})::Drama")
    path = tmp_path / "movies.dat"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def test_import_by_title_and_year_writes_the_file_and_reports_coverage(tmp_path, capsys):
    titles = _tiny_titles(tmp_path)
    source = {str(1000 + i): f"knowledge of film {i}" for i in range(1, 81)}
    source["99999"] = "a film the dataset does not have"
    (tmp_path / "src.json").write_text(json.dumps(source))
    out = tmp_path / "out" / "tiny.knowledge"
    assert main(["import", "-d", "tiny", "--source", str(tmp_path / "src.json"),
                 "--source-titles", str(titles), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Matched 80 of 80 items (100.0%) by normalised title and year" in printed
    assert "Source texts matching no item: 1, e.g.: 99999" in printed
    texts = read_knowledge(out)
    assert texts["7"] == "knowledge of film 7"


def test_import_by_id_jsonl_and_tsv_and_id_map(tmp_path, capsys):
    jsonl = tmp_path / "src.jsonl"
    jsonl.write_text("\n".join(json.dumps({"item_id": str(i), "text": f"t{i}"})
                               for i in range(1, 61)))
    out = tmp_path / "a.knowledge"
    assert main(["import", "-d", "tiny", "--source", str(jsonl), "--out", str(out)]) == 0
    assert "Matched 60 of 80 items (75.0%) by id" in capsys.readouterr().out
    tsv = tmp_path / "src.tsv"
    tsv.write_text("id\ttext\n" + "".join(f"x{i}\tt{i}\n" for i in range(1, 81)))
    (tmp_path / "map.tsv").write_text("".join(f"x{i}\t{i}\n" for i in range(1, 81)))
    assert main(["import", "-d", "tiny", "--source", str(tsv), "--id-map",
                 str(tmp_path / "map.tsv"), "--out", str(out)]) == 0
    assert read_knowledge(out)["80"] == "t80"


def test_import_matching_too_little_is_one_line_error(tmp_path, capsys):
    (tmp_path / "src.json").write_text(json.dumps({str(i): "t" for i in range(500, 560)}))
    code = main(["import", "-d", "tiny", "--source", str(tmp_path / "src.json"),
                 "--out", str(tmp_path / "x.knowledge")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "matched 0 of 80 items (0.0%) by id, below 50%" in err
    assert not (tmp_path / "x.knowledge").exists()


def test_import_duplicated_source_id_names_both_entries(tmp_path, capsys):
    (tmp_path / "src.jsonl").write_text('{"id": "1", "text": "a"}\n{"id": "1", "text": "b"}\n')
    assert main(["import", "-d", "tiny", "--source", str(tmp_path / "src.jsonl"),
                 "--out", str(tmp_path / "x.knowledge")]) == 2
    assert "id '1' at line/entry 1 and 2" in capsys.readouterr().err


def _shared_or_skip() -> Path:
    if not (SHARED / "colakg_llm_response_item.json").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SHARED} is missing under CI=true")
        pytest.skip("needs ../shared/datasets/ml-1m (CoLaKG's colakg_llm_response_item.json and "
                    "MovieLens-1M movies.dat; see ../shared/datasets/README.md)")
    return SHARED


def test_ml100k_import_from_ml1m_descriptions_reaches_98_percent(tmp_path, capsys):
    shared = _shared_or_skip()
    out = tmp_path / "ml-100k.knowledge"
    assert main(["import", "-d", "ml-100k", "--source",
                 str(shared / "colakg_llm_response_item.json"), "--source-titles",
                 str(shared / "movies.dat"), "--out", str(out)]) == 0
    texts = read_knowledge(out)
    assert len(texts) / 1682 >= 0.98
    assert "Lasseter" in texts["1"]  # Toy Story (1995), ml-100k item 1, ML-1M movie 1
    assert "Matched" in capsys.readouterr().out
