"""Shared pieces of the exploration scripts: the board's standard split as numpy matrices,
item side information (genres, year, KG entities, text embeddings) and a full-ranking
evaluator that follows RecBole's (history masked, NDCG@10 over users with a target).

Everything is closed-form numpy / scipy on CPU so screening costs seconds, not a RecBole run.

Result: none of its own; every experiment here reads its split, side information and evaluator.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import recbole
import scipy.sparse as sp

from recbole_llmkg.benchmark.splits import write_standard_split

SOURCE = Path(os.path.dirname(recbole.__file__)) / "dataset_example" / "ml-100k"
WORK = Path(os.environ.get("EXPLORE_WORK", "/tmp/explore-ml100k"))
SEEDS = (2020, 2021, 2022, 2023, 2024)


@cache
def items_table() -> pd.DataFrame:
    """``.item`` rows in file order; the row index is the item index used everywhere here."""
    df = pd.read_csv(SOURCE / "ml-100k.item", sep="\t", dtype=str)
    df.columns = [c.split(":")[0] for c in df.columns]
    return df


@cache
def users_table() -> pd.DataFrame:
    df = pd.read_csv(SOURCE / "ml-100k.user", sep="\t", dtype=str)
    df.columns = [c.split(":")[0] for c in df.columns]
    return df


def item_index() -> dict[str, int]:
    return {t: i for i, t in enumerate(items_table()["item_id"])}


def user_index() -> dict[str, int]:
    return {t: i for i, t in enumerate(users_table()["user_id"])}


class SplitData:
    """Train / valid / test of one seed of the board's standard split as CSR matrices."""

    def __init__(self, seed: int):
        split = write_standard_split(SOURCE, "ml-100k", seed, WORK / "splits")
        self.seed, self.fingerprint = seed, split.fingerprint
        folder = split.data_path / "ml-100k"
        ii, ui = item_index(), user_index()
        self.n_users, self.n_items = len(ui), len(ii)
        mats = {}
        for part in ("train", "valid", "test"):
            df = pd.read_csv(folder / f"ml-100k.{part}.inter", sep="\t", dtype=str)
            df.columns = [c.split(":")[0] for c in df.columns]
            u = df["user_id"].map(ui).to_numpy()
            i = df["item_id"].map(ii).to_numpy()
            m = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)),
                              shape=(self.n_users, self.n_items))
            m.data[:] = 1.0  # duplicates count once
            mats[part] = m
        self.train, self.valid, self.test = mats["train"], mats["valid"], mats["test"]


@cache
def split(seed: int) -> SplitData:
    return SplitData(seed)


def ndcg_per_user(scores: np.ndarray, history: sp.csr_matrix, target: sp.csr_matrix,
                  k: int = 10) -> np.ndarray:
    """NDCG@k of every user with a target (RecBole's definition), history items masked.

    Returns ``[n_users_with_target]`` in user order.
    """
    users = np.flatnonzero(np.diff(target.indptr) > 0)
    s = np.array(scores[users], dtype=np.float64, copy=True)
    h = history[users].tocoo()
    s[h.row, h.col] = -np.inf
    top = np.argpartition(-s, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, top, 1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, 1)
    t = target[users]
    hit = np.asarray(t[np.arange(len(users))[:, None], top].todense()) > 0
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hit * disc).sum(1)
    npos = np.minimum(np.diff(t.indptr), k)
    idcg = np.cumsum(disc)[npos - 1]
    return dcg / idcg


def valid_ndcg(scores: np.ndarray, data: SplitData, k: int = 10) -> float:
    return float(ndcg_per_user(scores, data.train, data.valid, k).mean())


def test_ndcg_per_user(scores: np.ndarray, data: SplitData, k: int = 10) -> np.ndarray:
    """Test: train and valid items masked, as RecBole does for the test phase."""
    return ndcg_per_user(scores, data.train + data.valid, data.test, k)


# -- side information ----------------------------------------------------------------------
def genre_matrix() -> sp.csr_matrix:
    genres = items_table()["class"].fillna("").str.split()
    vocab = sorted({g for gs in genres for g in gs})
    col = {g: j for j, g in enumerate(vocab)}
    rows = [i for i, gs in enumerate(genres) for _ in gs]
    cols = [col[g] for gs in genres for g in gs]
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                         shape=(len(genres), len(vocab)))


def decade() -> np.ndarray:
    """Release decade per item (-1 when unknown)."""
    year = pd.to_numeric(items_table()["release_year"], errors="coerce")
    return np.where(year.isna(), -1, (year.fillna(0) // 10).astype(int)).astype(int)


@cache
def kg_matrix(drop_relations: tuple[str, ...] = (), relinked: bool = False) -> sp.csr_matrix:
    """Item x entity incidence: one-hop tail entities of the item's linked entity (either
    direction), excluding the item entities themselves. ``relinked``: use the item -> entity
    map rebuilt through ML-1M ids (relink.py) instead of the bundled ``.link``."""
    link_file = WORK / "relinked.link" if relinked else SOURCE / "ml-100k.link"
    link = pd.read_csv(link_file, sep="\t", dtype=str)
    link.columns = ["item", "entity"]
    kg = pd.read_csv(SOURCE / "ml-100k.kg", sep="\t", dtype=str)
    kg.columns = ["h", "r", "t"]
    kg = kg[~kg["r"].isin(drop_relations)]
    ii = item_index()
    ent2item = dict(zip(link["entity"], link["item"].map(ii), strict=True))
    a = kg[kg["h"].isin(ent2item)][["h", "t"]].rename(columns={"h": "e", "t": "o"})
    b = kg[kg["t"].isin(ent2item)][["t", "h"]].rename(columns={"t": "e", "h": "o"})
    pairs = pd.concat([a, b]).drop_duplicates()
    pairs = pairs[~pairs["o"].isin(ent2item)]
    ents = {e: j for j, e in enumerate(pairs["o"].unique())}
    rows = pairs["e"].map(ent2item).to_numpy()
    cols = pairs["o"].map(ents).to_numpy()
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                      shape=(len(ii), len(ents)))
    m.data[:] = 1.0
    return m


def kg_relations() -> pd.Series:
    kg = pd.read_csv(SOURCE / "ml-100k.kg", sep="\t", dtype=str)
    return kg.iloc[:, 1].value_counts()


def text_embeddings() -> np.ndarray:
    """``[n_items, 384]`` item text embeddings, from the plugin's LLMTextDataset (cached)."""
    path = WORK / "item_text.npy"
    if path.is_file():
        return np.load(path)
    from recbole_llmkg.config import Config
    from recbole_llmkg.registry import create_dataset

    config = Config("TextKNN", "ml-100k", config_dict={"show_progress": False}, cmd_args=[])
    ds = create_dataset(config)
    emb = ds.item_text_embeddings().cpu().numpy()
    tokens = ds.field2id_token[ds.iid_field]
    out = np.zeros((len(item_index()), emb.shape[1]), np.float32)
    ii = item_index()
    for rid, tok in enumerate(tokens):
        if rid and tok in ii:
            out[ii[tok]] = emb[rid]
    WORK.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def cosine(x: np.ndarray | sp.spmatrix) -> np.ndarray:
    """Dense item-item cosine, diagonal zeroed."""
    if sp.issparse(x):
        x = x.toarray()
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=1)
    norm[norm == 0] = 1.0
    xn = x / norm[:, None]
    s = xn @ xn.T
    np.fill_diagonal(s, 0.0)
    return s
