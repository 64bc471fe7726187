"""Direction 3: does text help a LightGCN backbone? One compact implementation, variants
differing by one switch each, trained with the same budget and early stopping on VALID NDCG@10.

Variants (``--variant``):
  mf          BPR-MF (no propagation): the BPR baseline
  lightgcn    LightGCN (He et al. SIGIR 2020), 2 layers, layer mean
  text-add    LightGCN whose item ego embedding is ID + Linear(text)   (text adapter)
  text-init   LightGCN with item ID embeddings initialised from the PCA of the text embedding
  text-only   LightGCN whose item ego embedding is Linear(text) only (IDs off for items)
  kg-add      LightGCN whose item ego embedding is ID + Linear(relinked KG incidence, SVD-256)
  text-kg-add LightGCN whose item ego embedding is ID + Linear([text, relinked KG SVD-256])

    PYTHONPATH=$PWD python benchmarks/experiments/neural.py --variant lightgcn --seed 2020

Writes one record per run to results/explore/neural/ (cited in results/explore/ml-100k.md,
section 3).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402

from recbole_llmkg.files import write_text_atomic  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "results" / "explore" / "neural"


def norm_adj(train: sp.csr_matrix) -> torch.Tensor:
    """Symmetric-normalised bipartite adjacency ``D^-1/2 A D^-1/2`` as a torch sparse CSR."""
    n_u, n_i = train.shape
    a = sp.bmat([[None, train], [train.T, None]]).tocsr().astype(np.float32)
    deg = np.asarray(a.sum(1)).ravel()
    d = np.where(deg > 0, deg ** -0.5, 0.0)
    a = sp.diags(d) @ a @ sp.diags(d)
    a = a.tocoo()
    t = torch.sparse_coo_tensor(np.vstack([a.row, a.col]), a.data, a.shape).coalesce()
    return t.to_sparse_csr()


def side_features(variant: str) -> torch.Tensor | None:
    if variant in ("text-add", "text-init", "text-only"):
        return torch.from_numpy(common.text_embeddings()).float()
    if variant in ("kg-add", "text-kg-add"):
        from closed_forms import normalise_rows
        kg = sp.csr_matrix(normalise_rows(common.kg_matrix(relinked=True)))
        u, s, _ = sp.linalg.svds(kg, k=256)
        kg_features = torch.from_numpy((u * s).astype(np.float32))
        if variant == "kg-add":
            return kg_features
        return torch.cat([torch.from_numpy(common.text_embeddings()).float(), kg_features], 1)
    return None


class Model(torch.nn.Module):
    def __init__(self, variant: str, n_users: int, n_items: int, dim: int, layers: int,
                 adj: torch.Tensor, side: torch.Tensor | None):
        super().__init__()
        self.variant, self.layers, self.adj, self.n_users = variant, layers, adj, n_users
        self.user = torch.nn.Embedding(n_users, dim)
        self.item = torch.nn.Embedding(n_items, dim)
        torch.nn.init.normal_(self.user.weight, std=0.1)
        torch.nn.init.normal_(self.item.weight, std=0.1)
        self.side = side
        self.adapter = None
        if variant == "text-init":
            centred = side - side.mean(0)
            _, _, v = torch.linalg.svd(centred, full_matrices=False)
            pcs = centred @ v[:dim].T
            self.item.weight.data = pcs / pcs.std() * 0.1
        elif side is not None:
            self.adapter = torch.nn.Linear(side.shape[1], dim, bias=False)
            torch.nn.init.normal_(self.adapter.weight, std=0.1 / side.shape[1] ** 0.5 * 4)

    def item_ego(self) -> torch.Tensor:
        if self.adapter is None:
            return self.item.weight
        side = self.adapter(self.side)
        return side if self.variant == "text-only" else self.item.weight + side

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        ego = torch.cat([self.user.weight, self.item_ego()])
        if self.variant == "mf" or self.layers == 0:
            out = ego
        else:
            out, h = ego, ego
            for _ in range(self.layers):
                h = self.adj @ h
                out = out + h
            out = out / (self.layers + 1)
        return out[: self.n_users], out[self.n_users:]


def train(variant: str, seed: int, dim: int = 64, layers: int = 2, lr: float = 2e-3,
          reg: float = 1e-4, batch: int = 4096, max_epochs: int = 400, eval_every: int = 5,
          patience: int = 6) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = common.split(seed)
    train_m = data.train.tocoo()
    users, items = train_m.row.astype(np.int64), train_m.col.astype(np.int64)
    model = Model(variant, data.n_users, data.n_items, dim, layers, norm_adj(data.train),
                  side_features(variant))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    dense_train = data.train.toarray() > 0
    best, best_epoch, best_state, bad, curve = -1.0, -1, None, 0, {}
    start = time.time()
    for epoch in range(max_epochs):
        model.train()
        order = rng.permutation(len(users))
        for b in range(0, len(order), batch):
            idx = order[b:b + batch]
            u, i = torch.from_numpy(users[idx]), torch.from_numpy(items[idx])
            j = torch.from_numpy(rng.integers(0, data.n_items, len(idx)))
            # resample negatives that are training positives once (cheap, as RecBole's sampler)
            hit = torch.from_numpy(dense_train[users[idx], j.numpy()])
            j[hit] = torch.from_numpy(rng.integers(0, data.n_items, int(hit.sum())))
            ue, ie = model()
            pos = (ue[u] * ie[i]).sum(1)
            neg = (ue[u] * ie[j]).sum(1)
            loss = torch.nn.functional.softplus(neg - pos).mean()
            ego_i = model.item_ego()
            loss = loss + reg * (model.user.weight[u].pow(2).sum() + ego_i[i].pow(2).sum()
                                 + ego_i[j].pow(2).sum()) / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (epoch + 1) % eval_every == 0:
            model.eval()
            with torch.no_grad():
                ue, ie = model()
                scores = (ue @ ie.T).numpy()
            v = common.valid_ndcg(scores, data)
            curve[epoch + 1] = v
            if v > best:
                best, best_epoch, bad = v, epoch + 1, 0
                best_state = {k: t.clone() for k, t in model.state_dict().items()}
            else:
                bad += 1
                if bad >= patience:
                    break
    model.load_state_dict(best_state)
    with torch.no_grad():
        ue, ie = model()
        scores = (ue @ ie.T).numpy()
    per_user_valid = common.ndcg_per_user(scores, data.train, data.valid)
    return {"variant": variant, "seed": seed, "valid_ndcg10": float(per_user_valid.mean()),
            "best_epoch": best_epoch, "epochs_run": epoch + 1, "seconds": time.time() - start,
            "curve": curve, "lr": lr, "reg": reg, "dim": dim, "layers": layers, "batch": batch,
            "per_user_valid": per_user_valid.tolist(),
            "per_user_test": common.test_ndcg_per_user(scores, data).tolist()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--variant", required=True)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--reg", type=float, default=1e-4)
    p.add_argument("--layers", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(1)
    rec = train(a.variant, a.seed, lr=a.lr, reg=a.reg, layers=a.layers)
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"{a.variant}-seed{a.seed}-lr{a.lr}-reg{a.reg}-L{a.layers}.json"
    write_text_atomic(OUT / name, json.dumps(rec))
    print(f"{a.variant} seed {a.seed} lr {a.lr} reg {a.reg} L{a.layers}: valid NDCG@10 "
          f"{rec['valid_ndcg10']:.4f} best epoch {rec['best_epoch']} / {rec['epochs_run']} "
          f"({rec['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
