"""The synthetic generator: seeded bytes, realistic shape, and files the plugin loads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recbole_llmkg.benchmark.synthetic import SyntheticSpec, generate, main, write_dataset
from recbole_llmkg.errors import ConfigError


def test_same_seed_same_bytes_other_seed_other_bytes():
    spec = SyntheticSpec(users=300, items=200, seed=3, emb_dim=8)
    again = generate(SyntheticSpec(users=300, items=200, seed=3, emb_dim=8))
    assert generate(spec) == again
    other = generate(SyntheticSpec(users=300, items=200, seed=4, emb_dim=8))
    assert other["inter"] != again["inter"]


def test_cli_writes_every_atomic_file(tmp_path):
    main(["--users", "120", "--items", "90", "--out", str(tmp_path), "--seed", "1",
          "--name", "syn", "--emb-dim", "4"])
    names = sorted(p.name for p in (tmp_path / "syn").iterdir())
    assert names == [f"syn.{s}" for s in
                     ("inter", "item", "itememb", "kg", "link", "user", "useremb")]


def test_popularity_is_heavy_tailed_and_genres_carry_signal(tmp_path):
    folder = write_dataset(SyntheticSpec(users=2000, items=1000, seed=0), tmp_path)
    inter = pd.read_csv(folder / "synth.inter", sep="\t")
    counts = np.sort(inter["item_id:token"].value_counts().to_numpy())[::-1]
    assert counts[: len(counts) // 10].sum() > 0.35 * counts.sum()  # top 10% items: >35% of data
    per_user = inter.groupby("user_id:token").size()
    assert per_user.max() > 4 * per_user.median()  # heavy-tailed activity
    assert len(inter) == len(inter.drop_duplicates(["user_id:token", "item_id:token"]))
    # a user's items share genres far more often than random pairs of items do
    item = pd.read_csv(folder / "synth.item", sep="\t").set_index("item_id:token")
    first_genre = item["class:token_seq"].str.split().str[0]
    def modal_share(items: pd.Series) -> float:
        genre = pd.DataFrame({"u": inter["user_id:token"], "g": items.map(first_genre).values})
        return genre.groupby("u")["g"].agg(lambda g: g.value_counts(normalize=True).iloc[0]).mean()

    shuffled = inter["item_id:token"].sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert modal_share(inter["item_id:token"]) > 1.3 * modal_share(shuffled)  # 0.39 vs 0.27
    kg = pd.read_csv(folder / "synth.kg", sep="\t")
    assert kg["relation_id:token"].nunique() >= 5
    degree = kg["tail_id:token"].value_counts()
    assert degree.max() > 50 * degree.median()


def test_files_load_through_the_plugin_as_a_knowledge_dataset(tmp_path):
    from recbole_llmkg import Config, create_dataset

    write_dataset(SyntheticSpec(users=150, items=100, seed=2, emb_dim=8), tmp_path / "data")
    config = Config("KGLLMGNN", "synth", cmd_args=[], config_dict={
        "data_path": str(tmp_path / "data"), "use_gpu": False, "device": "cpu",
        "llm_cache_dir": False,
    })
    dataset = create_dataset(config)
    assert dataset.inter_num > 1000 and dataset.item_num > 90
    assert dataset.relation_num > 6  # six relations plus genre (and RecBole's extras)
    text = dataset.item_text_embeddings()  # the precomputed .itememb, not a language model
    assert text.shape == (dataset.item_num, 8)


def test_bad_size_names_the_argument():
    with pytest.raises(ConfigError, match="--inter-per-user"):
        generate(SyntheticSpec(users=10, items=10, interactions_per_user=50))
