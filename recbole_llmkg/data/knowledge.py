"""Knowledge profiles: which KG entities describe an item, and a user through their items.

An item's profile is the TF-IDF-weighted bag of entities one hop away in the KG (either
direction; the item's own entity excluded), each row L2-normalised, so an entity shared by every
film (a common genre) weighs little and a rare director weighs a lot. A user's profile is the sum
of the profiles of the items in their training interactions. Both stay sparse (scipy CSR inside,
``torch.sparse_coo_tensor`` out): a dense users x entities matrix of ml-100k would hold ~33M
floats.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def item_entity_profile(
    head: np.ndarray, tail: np.ndarray, item_num: int, entity_num: int
) -> sp.csr_matrix:
    """``[item_num, entity_num]`` TF-IDF of one-hop entities per item, rows L2-normalised.

    Items are entities ``0..item_num-1`` (RecBole's KnowledgeBasedDataset merges the id spaces).
    tf = number of triples joining the item and the entity; idf = ln((1+n)/(1+df)) + 1, with n
    the number of items that have any neighbour and df the number of items the entity touches.
    """
    head = np.asarray(head, dtype=np.int64)
    tail = np.asarray(tail, dtype=np.int64)
    rows = np.concatenate([head, tail])
    cols = np.concatenate([tail, head])
    keep = (rows > 0) & (rows < item_num) & (cols != rows) & (cols > 0)
    rows, cols = rows[keep], cols[keep]
    tf = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(item_num, entity_num)
    )
    tf.sum_duplicates()
    df = np.bincount(tf.indices, minlength=entity_num)
    n_items = int((np.diff(tf.indptr) > 0).sum())
    idf = np.log((1.0 + n_items) / (1.0 + df)) + 1.0
    tfidf = tf.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.diags(inv).dot(tfidf).tocsr().astype(np.float32)


def user_entity_profile(
    users: np.ndarray, items: np.ndarray, user_num: int, item_profile: sp.csr_matrix
) -> sp.csr_matrix:
    """``[user_num, entity_num]``: sum of the profiles of each user's distinct items."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    seen = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)),
        shape=(user_num, item_profile.shape[0]),
    )
    seen.sum_duplicates()
    seen.data[:] = 1.0  # an item read twice counts once
    return seen.dot(item_profile).tocsr()


def to_torch_sparse(matrix: sp.spmatrix, device: torch.device | str) -> torch.Tensor:
    """A scipy matrix as a coalesced float32 ``torch.sparse_coo_tensor``."""
    coo = matrix.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    out = torch.sparse_coo_tensor(indices, values, size=coo.shape, check_invariants=False)
    return out.coalesce().to(device)
