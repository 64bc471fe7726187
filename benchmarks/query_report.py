"""How far a request in words moves the top-10, what it costs in accuracy, and which default
query weight to ship (ml-100k).

    PYTHONPATH=. python benchmarks/query_report.py [--workdir /tmp/serve_bench]
        [--queries datasets/ml-100k-queries.yaml] [--out results/queries/ml-100k.md]

For each text model and each request of the query set, over all users: the share of top-10
items whose genres (ml-100k's ``class`` field) include one the request asks for, without and
with the request, and NDCG@10 without and with it. The default weight is chosen on the
**validation** split only (training items masked, validation items relevant): the weight of
``WEIGHTS`` with the highest mean over models and requests of ``genre match with the request x
(NDCG@10 with / NDCG@10 without)``, i.e. how much of the list follows the request times how much
of the user's own taste it keeps. Test (training and validation items masked) is reported for
every weight, never used to choose.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

WEIGHTS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75)


def ndcg_at_k(top: torch.Tensor, relevant: torch.Tensor, k: int = 10) -> torch.Tensor:
    """Per-user NDCG@k of ranked item ids ``top`` [U, k] against a boolean ``relevant`` [U, n]."""
    import torch

    hits = relevant.gather(1, top[:, :k]).float()
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float32))
    dcg = (hits * discount).sum(dim=1)
    ideal_len = relevant.sum(dim=1).clamp(max=k)
    ideal = torch.cumsum(discount, 0)[(ideal_len - 1).clamp(min=0)] * (ideal_len > 0)
    return dcg / ideal.clamp_min(1e-12)


def evaluate(scores: torch.Tensor, masked: torch.Tensor, relevant: torch.Tensor,
             wanted: torch.Tensor) -> tuple[float, float]:
    """(genre match of the top-10, mean test NDCG@10 over users with test items)."""
    import torch

    top = scores.masked_fill(masked, -torch.inf).topk(10, dim=1).indices
    has_test = relevant.any(dim=1)
    return wanted[top].float().mean().item(), ndcg_at_k(top, relevant)[has_test].mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["LLMAugRec", "KGLLMGNN", "KASimCF"])
    parser.add_argument("--workdir", default="/tmp/serve_bench")
    parser.add_argument("--queries", default="datasets/ml-100k-queries.yaml")
    parser.add_argument("--out", default="results/queries/ml-100k.md")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # RecBole's Config reads sys.argv for overrides

    import numpy as np
    import torch
    import yaml

    from benchmarks.serve_common import EPOCHS, checkpoints
    from recbole_llmkg.files import write_text_atomic
    from recbole_llmkg.serve import Recommender
    from recbole_llmkg.serve.query import DEFAULT_QUERY_WEIGHT, blend
    from recbole_llmkg.serve.recommender import read_item_column

    torch.set_num_threads(1)
    queries = yaml.safe_load(Path(args.queries).read_text())["queries"]
    paths = checkpoints(args.models, Path(args.workdir) / "checkpoints.json")
    summary, per_query = [], {}
    for model, path in paths.items():
        rec = Recommender.load(path)
        train, valid, test = rec.trained.splits
        genres = read_item_column(rec.trained.config, rec.dataset, ("class", "genre"))
        users = torch.arange(1, rec.dataset.user_num)
        scores = rec.scores(users)
        train_items = torch.as_tensor(train.inter_matrix(form="csr").toarray()[1:]) > 0
        valid_items = torch.as_tensor(valid.inter_matrix(form="csr").toarray()[1:]) > 0
        test_items = torch.as_tensor(test.inter_matrix(form="csr").toarray()[1:]) > 0
        train_items[:, 0] = True
        views = {"valid": (train_items, valid_items), "test": (train_items | valid_items,
                                                               test_items)}
        rows = {(view, w): [] for view in views for w in WEIGHTS}
        for q in queries:
            wanted = torch.as_tensor(
                [any(g in q["genres"] for g in str(t).split()) for t in genres])
            text = rec.text.similarity(rec.text.encode(q["text"]))
            for view, (masked, relevant) in views.items():
                base = evaluate(scores, masked, relevant, wanted)
                for w in WEIGHTS:
                    blended = blend(scores, text, w)
                    rows[view, w].append(
                        (q["text"], *base, *evaluate(blended, masked, relevant, wanted)))
        for (view, w), found in rows.items():
            a = np.array([r[1:] for r in found])  # match0, ndcg0, match1, ndcg1 per request
            kept = (a[:, 2] * a[:, 3] / a[:, 1]).mean()
            summary.append((model, EPOCHS.get(model), view, w, *a.mean(axis=0), kept))
        per_query[model] = rows
        print(f"done {model}", file=sys.stderr, flush=True)

    criterion = {w: np.mean([row[-1] for row in summary if row[2] == "valid" and row[3] == w])
                 for w in WEIGHTS}
    chosen = max(WEIGHTS, key=criterion.get)
    lines = [
        "# Requests in words on ml-100k: genre match, accuracy cost, the default weight",
        "",
        "Generated by `PYTHONPATH=. python benchmarks/query_report.py` (models trained by",
        "`benchmarks/serve_common.py`: few epochs, RecBole's default split, seed 2020, one",
        f"thread). Query set: `{args.queries}` ({len(queries)} requests, each naming the genres",
        "it asks for).",
        "Genre match: share of the top-10 items (over all users and requests) having one of the",
        "requested genres. Blend: `(1 - w) z(model score) + w z(cos(query, item text))` per user.",
        "NDCG@10 on valid: training items masked, validation items relevant; on test: training",
        "and validation items masked. The NDCG cost is measured against the items each user went",
        "on to rate, which no request was about: it says how far following a request moves the",
        "list from the user's unprompted taste, not that the list is worse for the request.",
        "",
        "**Default weight, chosen on valid**: the weight with the highest mean (over models and",
        "requests) of `genre match with x NDCG@10 with / NDCG@10 without` on the validation",
        f"split: **{chosen}** (`recbole_llmkg.serve.query.DEFAULT_QUERY_WEIGHT`; the code's",
        f"value is {DEFAULT_QUERY_WEIGHT}). Criterion per weight: "
        + ", ".join(f"{w}: {criterion[w]:.3f}" for w in WEIGHTS) + ".",
        "",
        "| model | epochs | split | query weight | genre match without | genre match with "
        "| NDCG@10 without | NDCG@10 with | NDCG change | criterion |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, epochs, view, w, m0, n0, m1, n1, kept in sorted(
            summary, key=lambda r: (list(paths).index(r[0]), r[2] != "valid", r[3])):
        lines.append(f"| {model} | {epochs} | {view} | {w} | {m0:.3f} | {m1:.3f} | {n0:.4f} "
                     f"| {n1:.4f} | {100 * (n1 - n0) / n0:+.1f}% | {kept:.3f} |")
    lines += ["", f"Per request, test split, query weight {chosen} (the chosen default): genre "
              "match without -> with.", "",
              "| request | " + " | ".join(per_query) + " |",
              "|---|" + "---|" * len(per_query)]
    for i, q in enumerate(queries):
        cells = [f"{per_query[m]['test', chosen][i][1]:.2f} -> "
                 f"{per_query[m]['test', chosen][i][3]:.2f}" for m in per_query]
        lines.append(f"| {q['text']} | " + " | ".join(cells) + " |")
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
