"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with k-reciprocal Encoding",
CVPR 2017), with the exact semantics of the widely used implementation (zhunzhong07/person-re-ranking as kept in
torchreid 0.2.5, `torchreid/reid/utils/rerank.py`), blocked and sparse:

* original distance: the (N, N) matrix D = [[q_q, q_g], [q_g^T, g_g]] (N = Q + G) is squared, cast to float32
  and each column divided by its maximum; row i of the result, od[i], is column i of D squared / its max.
  We build od a block of rows at a time and never hold all of it (torchreid holds several N x N arrays).
* R(i), the k-reciprocal set: j among the k1+1 nearest of i (self included) such that i is among the k1+1 nearest
  of j. Expansion (Eq. 12): for each j in R(i), its half set R_h(j) (same rule with round(k1/2)+1 neighbours) is
  added when |R_h(j) & R(i)| > 2/3 |R_h(j)|.
* V[i, j] = exp(-od[i, j]) / sum over the expanded set (Eq. 7), a sparse row of a few dozen entries.
* local query expansion (Eq. 13 with k2): V[i] <- mean of V over the k2 nearest of i -- a sparse product.
* Jaccard distance (Eq. 10-11): 1 - s/(2 - s) with s = sum_k min(V[i, k], V[j, k]), computed from the
  non-zeros only: every (query, k, gallery item) triple sharing column k, summed with a bincount.
* final = (1 - lambda) * jaccard + lambda * od (Eq. 14), for queries x gallery.

Neighbour lists come from torch.topk on each od block. On exact ties torchreid's `np.argsort` (an unstable
quicksort) orders equal distances arbitrarily; we break them by index (a stable order), recomputing any block row
whose k+1 smallest values contain a tie with a stable argsort. Intermediate values follow torchreid's float32
arithmetic; only summation orders differ (results agree to ~1e-6).
The float16 casts of the original re-ranking code are not applied: torchreid replaced them by float32 (its
docstring says so), and so do we.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
import torch

from ..utils.arrays import to_numpy
from ..utils.system import usable_cpus

_BLOCK_ELEMENTS = 1 << 22  # od elements per block of rows (16 MB as float32)
_TRIPLE_BUDGET = 1 << 21  # (query, k, gallery) triples per Jaccard block (~100 MB of temporaries)
_JACCARD_ROWS_ELEMENTS = 1 << 19  # query rows x G per Jaccard block: the float64 overlaps stay in cache (4 MB)
_MAX_THREADS = 4  # blocks of the first pass in flight at once
_TRANSPOSE_TILE = 256  # source rows per tile when reading columns of an input (4-5x faster than one strided pass)


def rerank(q_g, q_q, g_g, k1: int = 20, k2: int = 6, lambda_value: float = 0.3, *,
           chunk_size: int | None = None) -> np.ndarray:
    """Re-ranked (Q, G) float32 distances from query-gallery `q_g` (Q, G), query-query `q_q` (Q, Q) and
    gallery-gallery `g_g` (G, G) distances (as `vidreid.eval.distance` returns them; numpy or torch).

    k1: size of the k-reciprocal neighbourhood; k2: neighbours averaged by local query expansion (1 = none);
    lambda_value: weight of the original distance in the final blend (paper: k1=20, k2=6, lambda=0.3).
    chunk_size: rows per block (default: about 4M distance elements per block); the result does not depend on it.
    Memory beyond the inputs and the (Q, G) output: a few blocks of chunk_size x (Q+G) floats and sparse matrices
    with tens of non-zeros per row (~70 on MARS-sized random features), so a 50,000-tracklet gallery needs little
    more than its 10 GB float32 g_g (measured, Q = 1980, G = 50,000: 0.49 GiB above the 9.7 GiB of inputs, 0.37 GiB
    of it the output; BENCHMARKS.md, "Re-ranking")."""
    q_g, q_q, g_g = to_numpy(q_g), to_numpy(q_q), to_numpy(g_g)
    if q_g.ndim != 2:
        raise ValueError(f"q_g must be a 2-D (num_query, num_gallery) array, got shape {q_g.shape}")
    num_q, num_g = q_g.shape
    if q_q.shape != (num_q, num_q) or g_g.shape != (num_g, num_g):
        raise ValueError(f"with q_g of shape {q_g.shape}, q_q must be {(num_q, num_q)} and g_g {(num_g, num_g)}; "
                         f"got {q_q.shape} and {g_g.shape}")
    if int(k1) < 1 or int(k2) < 1:
        raise ValueError(f"k1 and k2 must be >= 1, got k1={k1}, k2={k2}")
    if not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda_value must be in [0, 1], got {lambda_value}")
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if num_q == 0 or num_g == 0:
        return np.zeros((num_q, num_g), dtype=np.float32)
    od = _OriginalDistance(q_g, q_q, g_g)
    num = od.num
    rows = int(chunk_size) if chunk_size is not None else max(1, _BLOCK_ELEMENTS // num)

    # k-nearest lists (self included); at least k1+1 for R(i) and k2 for query expansion
    k_forward = min(k1 + 1, num)
    k_half = min(int(round(k1 / 2)) + 1, num)  # Python's round, like np.around, rounds half to even
    k_expand = min(k2, num)
    neighbours = np.empty((num, max(k_forward, k_expand)), dtype=np.int64)

    def nearest_block(bounds):
        a, b = bounds
        neighbours[a:b] = _nearest(od.squared_rows(a, b), od.row_max[a:b], neighbours.shape[1])

    blocks = list(od.blocks(rows))
    workers = min(len(blocks), _MAX_THREADS, usable_cpus())
    if workers > 1:  # numpy's ufuncs release the GIL: two blocks are squared while another is in topk
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(nearest_block, blocks))
    else:
        for bounds in blocks:
            nearest_block(bounds)

    v = _encode(od, neighbours[:, :k_forward], neighbours[:, :k_half], rows)  # (N, N) sparse, Eq. 7 + 12
    if k_expand != 1:  # local query expansion: mean of the k2 nearest rows (float32, like np.mean)
        avg = sp.csr_matrix((np.ones(num * k_expand, dtype=np.float32), neighbours[:, :k_expand].ravel(),
                             np.arange(0, num * k_expand + 1, k_expand)), shape=(num, num))
        v = avg @ v
        v.data /= np.float32(k_expand)
    v = v.tocsr()

    # final = (1 - lambda) * jaccard + lambda * od (float32, as torchreid). jaccard is 1 wherever the two V rows
    # share no column, so the blend is done densely for that case and overwritten where the overlap is > 0.
    out = np.empty((num_q, num_g), dtype=np.float32)
    for a, b, overlap in _jaccard_overlaps(v, num_q, max(1, min(rows, _JACCARD_ROWS_ELEMENTS // num_g))):
        block = out[a:b]
        od.query_gallery(a, b, out=block)
        shared = np.flatnonzero(overlap)  # (i, j) pairs with overlap > 0
        od_shared = block.ravel()[shared]
        block *= lambda_value
        block += 1.0 * (1 - lambda_value)  # jaccard = 1 there
        s = overlap.ravel()[shared].astype(np.float32)
        block.ravel()[shared] = (1 - s / (2.0 - s)) * (1 - lambda_value) + od_shared * lambda_value
    return out


class _OriginalDistance:
    """Rows of od (torchreid's `original_dist`) computed on demand from the three input blocks."""

    def __init__(self, q_g, q_q, g_g):
        self.q_g, self.q_q, self.g_g = q_g, q_q, g_g
        self.num_q, self.num_g = q_g.shape
        self.num = self.num_q + self.num_g
        dtype = np.result_type(q_g, q_q, g_g)  # what np.concatenate gives torchreid; squared in it
        self.dtype = dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)
        self.row_max = np.zeros(self.num, dtype=np.float32)  # filled by squared_rows(), used by values()

    def blocks(self, rows):
        """Row ranges that never straddle the query/gallery boundary."""
        for lo, hi in ((0, self.num_q), (self.num_q, self.num)):
            for a in range(lo, hi, rows):
                yield a, min(a + rows, hi)

    def _square(self, x, out):
        # np.power(x, 2).astype(np.float32) with x cast to the concatenation's dtype: the ufunc loop runs in
        # `dtype` and rounds into the float32 `out`, in one pass
        if x.ndim == 2 and abs(x.strides[1]) > abs(x.strides[0]):  # a column block read as rows: tile the
            for t in range(0, x.shape[1], _TRANSPOSE_TILE):             # transpose so reads stay in cache
                np.square(x[:, t:t + _TRANSPOSE_TILE], out=out[:, t:t + _TRANSPOSE_TILE], dtype=self.dtype)
        else:
            np.square(x, out=out, dtype=self.dtype)

    def squared_rows(self, a, b) -> np.ndarray:
        """od[a:b] * row_max[a:b]: (b-a, N) float32, row i = column i of D squared; stores the row maxima."""
        nq = self.num_q
        block = np.empty((b - a, self.num), dtype=np.float32)
        if b <= nq:  # column i < Q of D = [q_q[:, i]; q_g[i, :]]
            self._square(self.q_q[:, a:b].T, block[:, :nq])
            self._square(self.q_g[a:b], block[:, nq:])
        else:  # column Q+h of D = [q_g[:, h]; g_g[:, h]]
            self._square(self.q_g[:, a - nq:b - nq].T, block[:, :nq])
            self._square(self.g_g[:, a - nq:b - nq].T, block[:, nq:])
        peak = block.max(axis=1)
        if not (np.isfinite(peak).all() and (peak > 0).all()):
            raise ValueError("re-ranking needs finite distances and no all-zero row/column in [[q_q, q_g], [q_g^T, "
                             "g_g]] (each column is divided by its maximum)")
        self.row_max[a:b] = peak
        return block

    def values(self, i, j) -> np.ndarray:
        """od[i, j] for index arrays i, j (rows i must have been through squared_rows())."""
        nq = self.num_q
        raw = np.empty(len(i), dtype=self.dtype)
        iq, jq = i < nq, j < nq
        for mask, matrix, r, c in ((iq & jq, self.q_q, j, i), (iq & ~jq, self.q_g, i, j - nq),
                                   (~iq & jq, self.q_g, j, i - nq), (~iq & ~jq, self.g_g, j - nq, i - nq)):
            raw[mask] = matrix[r[mask], c[mask]]  # D[j, i]
        squared = np.empty(len(i), dtype=np.float32)
        self._square(raw, squared)
        return squared / self.row_max[i]

    def query_gallery(self, a, b, out) -> np.ndarray:
        """od[a:b, Q:] for query rows a..b, written into `out`: q_g[a:b] squared over the row maxima."""
        self._square(self.q_g[a:b], out)
        out /= self.row_max[a:b, None]
        return out


def _nearest(squared: np.ndarray, row_max: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest od = squared / row_max values of each row, ascending, ties by index (as a stable
    argsort). Dividing a row by its (positive) maximum keeps the order but may merge values, so the k+1 smallest
    squared values are divided and checked: if they are distinct, the order is that of od; a row with a tie among
    them is re-ranked with a stable argsort of its od values (rare with real-valued distances)."""
    take = min(k + 1, squared.shape[1])  # one extra value tells whether the k-th is tied with the next
    values, index = torch.topk(torch.from_numpy(squared), take, dim=1, largest=False, sorted=True)
    values = values.numpy() / row_max[:, None]  # od of the candidates
    tied = np.flatnonzero((values[:, 1:] == values[:, :-1]).any(1))
    out = index.numpy()[:, :k].astype(np.int64)
    if tied.size:
        od_rows = squared[tied] / row_max[tied, None]
        out[tied] = np.argsort(od_rows, axis=1, kind="stable")[:, :k]
    return out


def _reciprocal(forward: np.ndarray, first: np.ndarray, self_index: np.ndarray) -> np.ndarray:
    """mask[i, x]: node forward[i, x] has self_index[i] among its first `first.shape[1]` neighbours."""
    return (first[forward] == self_index[:, None, None]).any(2)


def _encode(od: _OriginalDistance, forward: np.ndarray, half: np.ndarray, rows: int) -> sp.csr_matrix:
    """V of Eq. 7 over the expanded k-reciprocal sets (Eq. 12) as a CSR matrix, blockwise over rows."""
    num = od.num
    half_recip = np.concatenate([_reciprocal(half[a:b], half, np.arange(a, b)) for a, b in od.blocks(rows)])
    indptr, indices, data = [np.zeros(1, dtype=np.int64)], [], []
    nnz = 0
    for a, b in od.blocks(rows):
        node = np.arange(a, b)
        fwd = forward[a:b]  # (c, k1+1)
        recip = _reciprocal(fwd, forward, node)  # (c, k1+1): R(i) = fwd[recip]
        cand_half = half[fwd]  # (c, k1+1, kh): each candidate's half neighbourhood
        cand_set = half_recip[fwd] & recip[:, :, None]  # R_h(candidate), for candidates in R(i)
        in_r = ((cand_half[..., None] == fwd[:, None, None, :]) & recip[:, None, None, :]).any(3)
        overlap = (in_r & cand_set).sum(2)
        accepted = recip & (overlap > 2.0 / 3 * cand_set.sum(2))
        members = np.concatenate([np.where(recip, fwd, num),
                                  np.where(accepted[..., None] & cand_set, cand_half, num).reshape(b - a, -1)], 1)
        members.sort(axis=1)
        keep = members < num
        keep[:, 1:] &= members[:, 1:] != members[:, :-1]  # np.unique
        counts = keep.sum(1)
        row = np.repeat(node, counts)
        col = members[keep]
        weight = np.exp(-od.values(row, col))  # float32
        starts = np.cumsum(counts) - counts
        total = np.ones(b - a, dtype=np.float32)
        filled = counts > 0  # R(i) is empty only if i is not among its own k1+1 nearest
        if filled.any():
            total[filled] = np.add.reduceat(weight, starts[filled])
        data.append(weight / np.repeat(total, counts))
        indices.append(col)
        indptr.append(nnz + np.cumsum(counts))
        nnz += int(counts.sum())
    return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), np.concatenate(indptr)), shape=(num, num))


def _jaccard_overlaps(v: sp.csr_matrix, num_q: int, rows: int):
    """Yield (a, b, s) for blocks of query rows: s[i - a, j] = sum_k min(V[i, k], V[Q + j, k]) (float64)."""
    v_query = v[:num_q]
    v_gallery = v[num_q:].tocsc()  # column k -> the gallery rows using it
    num_g = v_gallery.shape[0]
    col_nnz = np.diff(v_gallery.indptr)
    triples = np.concatenate([[0], np.cumsum(col_nnz[v_query.indices])])[v_query.indptr]  # cumulative, per row
    a = 0
    while a < num_q:
        b = int(np.searchsorted(triples, triples[a] + _TRIPLE_BUDGET, side="right")) - 1
        b = min(max(b, a + 1), a + rows, num_q)
        lo, hi = v_query.indptr[a], v_query.indptr[b]
        k, vk = v_query.indices[lo:hi], v_query.data[lo:hi]
        counts = col_nnz[k]
        row_base = np.repeat(np.arange(b - a, dtype=np.int64) * num_g, np.diff(v_query.indptr[a:b + 1]))
        # triple t of non-zero (i, k) reads the gallery entry at v_gallery.indptr[k] + (t - first triple of (i, k))
        shift = np.repeat(v_gallery.indptr[k] - (np.cumsum(counts) - counts), counts)
        pos = np.arange(len(shift), dtype=shift.dtype) + shift
        smaller = np.minimum(np.repeat(vk, counts), v_gallery.data[pos])
        flat = np.repeat(row_base, counts) + v_gallery.indices[pos]
        sims = np.bincount(flat, weights=smaller, minlength=(b - a) * num_g)
        yield a, b, sims.reshape(b - a, num_g)
        a = b
