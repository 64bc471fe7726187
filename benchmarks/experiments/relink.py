"""The bundled ml-100k.link keys Freebase entities by MovieLens-1M movie ids, not ml-100k ids.

Evidence: the KG's sequel chain m.0dtfn <-> m.0f3m1 <-> m.0ddjy (Star Wars IV, V, VI) is linked
to items 260, 1196, 1210: the ML-1M ids of those films (in ml-100k they are 50, 172, 181), and
"sequel" pairs read as ml-100k titles are unrelated films (Days of Thunder -> Chungking Express:
ML-1M 123 is Chungking Express). This module rebuilds the item -> entity map by matching each
ml-100k item to its ML-1M id through (normalised title, year), using RecBole's atomic
ml-1m.item (a public copy; put it at $EXPLORE_WORK/ml1m/ml-1m.item).

    PYTHONPATH=$PWD python benchmarks/experiments/relink.py
    (prints match counts, writes $EXPLORE_WORK/relinked.link)

Writes $EXPLORE_WORK/relinked.link, shipped as datasets/corrections/ml-100k.link
(docs/data-and-knowledge.md, results/explore/ml-100k.md, section 1).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402

ML1M_ITEM = common.WORK / "ml1m" / "ml-1m.item"


def _norm(title: str) -> str:
    title = re.sub(r"\s+", " ", str(title)).strip().lower()
    return re.sub(r"[^a-z0-9]", "", title)


def relinked() -> pd.DataFrame:
    """``item`` (ml-100k id) -> ``entity``, via the ML-1M id of the same (title, year)."""
    ml1m = pd.read_csv(ML1M_ITEM, sep="\t", dtype=str)
    ml1m.columns = [c.split(":")[0] for c in ml1m.columns]
    ml1m["key"] = ml1m["movie_title"].map(_norm) + "|" + ml1m["release_year"].fillna("")
    ml1m["tkey"] = ml1m["movie_title"].map(_norm)
    by_key = dict(zip(ml1m["key"], ml1m["item_id"], strict=False))
    tcount = ml1m["tkey"].value_counts()
    by_title = {t: i for t, i in zip(ml1m["tkey"], ml1m["item_id"], strict=False)
                if tcount[t] == 1}
    items = common.items_table()
    key = items["movie_title"].map(_norm) + "|" + items["release_year"].fillna("")
    ml1m_id = key.map(by_key)
    ml1m_id = ml1m_id.fillna(items["movie_title"].map(_norm).map(by_title))
    link = pd.read_csv(common.SOURCE / "ml-100k.link", sep="\t", dtype=str)
    link.columns = ["item", "entity"]
    entity = ml1m_id.map(dict(zip(link["item"], link["entity"], strict=True)))
    out = pd.DataFrame({"item": items["item_id"], "entity": entity}).dropna()
    # ml-100k lists a few films twice (two ids, one title): RecBole needs entity -> one item
    return out.drop_duplicates("entity", keep="first")


def main() -> None:
    out = relinked()
    items = common.items_table()
    print(f"ml-100k items: {len(items)}; linked after remap: {len(out)} "
          f"(original file: 1598 rows, keyed by ML-1M ids)")
    path = common.WORK / "relinked.link"
    with open(path, "w", encoding="utf-8") as f:
        f.write("item_id:token\tentity_id:token\n")
        for i, e in zip(out["item"], out["entity"], strict=True):
            f.write(f"{i}\t{e}\n")
    print("written", path)


if __name__ == "__main__":
    main()
