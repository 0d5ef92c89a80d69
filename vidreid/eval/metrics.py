"""Exact, vectorised CMC / mAP / mINP under the `mars` and `gao` evaluation protocols.

Both protocols rank the gallery by ascending distance, ties broken by gallery order (a stable sort, as MATLAB's
`sort` in the official MARS code; torchreid's `np.argsort` is an unstable quicksort, so on exact ties it may order
items differently), drop the "junk" items from the ranked list, and score the positions of the true matches left
("good" items):

* ``mars`` -- Zheng et al., "MARS: A Video Benchmark for Large-Scale Person Re-identification", ECCV 2016; the
  official MATLAB code (github.com/liangzheng06/MARS-evaluation, `utils/evaluation_mars.m` + `compute_AP.m`).
  The gallery is all test tracklets, queries included. good = same pid, other camera; junk = gallery pid -1, plus
  same pid and same camera (which removes the query itself). pid 0 items are ordinary negatives. AP is the
  trapezoid rule over the junk-free ranked list starting from precision 1 at recall 0:
  ``ap += (recall - old_recall) * (old_precision + precision) / 2``. CMC, mAP and mINP are averaged over *all*
  queries; ``num_valid_queries`` is that denominator (every query).
* ``gao`` -- Gao & Nevatia, "Revisiting Temporal Modeling for Video-based Person ReID", arXiv 2018, whose code is
  torchreid's `eval_market1501`: junk = same pid and same camera; AP = mean of the precision at each true match (no
  interpolation); queries with no good item are skipped and ``num_valid_queries`` counts the others.

mINP (Ye et al., "Deep Learning for Person Re-identification: A Survey and Outlook", TPAMI 2021) is, per query, the
number of good items over the junk-free rank of the last (hardest) one; under ``mars`` it is averaged like AP.

Where we deliberately differ from the MATLAB code (neither case occurs on MARS, whose 1980 queries all have a good
item and none has pid -1):
* a query with no good item: MATLAB computes recall = 0/0 = NaN, so its AP -- and the mean AP -- is NaN (its CMC
  column stays 0). We count it as AP 0, CMC 0 and INP 0, still dividing by all queries.
* a query with pid -1: MATLAB lists the other-camera pid -1 items as both good and junk, so they never add to AP
  but do mark the CMC. We let junk win: such a query has no good item (AP 0, CMC 0).

How: every metric above depends only on the junk-free ranks r_1 < ... < r_P of a query's P good items --
AP_gao = (1/P) sum_i i/r_i; AP_mars = (1/P) sum_i (i/r_i + p_i)/2 with p_i = (i-1)/(r_i-1), the precision one
place before the i-th hit (1 when r_i = 1); CMC hits from rank r_1; INP = P/r_P -- and the rank of good item g is
1 + #{non-junk h : d_h < d_g} + #{non-junk h : d_h = d_g and h < g}. So each block of query rows is sorted by value
(numpy's SIMD sort; blocks run on a thread pool) and the good items' distances are binary-searched in it, all
queries of a block at once; the rare ties with another non-junk item are then counted exactly by direct comparison.
No argsort, no Python loop over queries or gallery items.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import ConfigError
from ..utils.arrays import to_numpy
from ..utils.system import usable_cpus

PROTOCOLS = ("mars", "gao")
_BLOCK_ELEMENTS = 1 << 21  # distance-matrix elements sorted per task (8 MB as float32)
_TIE_ELEMENTS = 1 << 22  # elements compared per batch when resolving ties exactly


def evaluate(distmat, q_pids, g_pids, q_camids, g_camids, protocol: str = "mars", max_rank: int = 50, *,
             chunk_size: int | None = None, num_threads: int | None = None) -> dict:
    """CMC, mAP and mINP of a (Q, G) distance matrix (smaller = more similar) under `protocol` ("mars" | "gao").

    Returns {"cmc": float64 array of length max_rank (cmc[k] = fraction of counted queries with a true match
    within the first k+1 junk-free results), "mAP": float, "mINP": float, "num_valid_queries": int}, all as
    fractions in [0, 1]. With no query counted (gao, no query has a true match) everything is 0.
    chunk_size: query rows per block (default: about 2M distance elements); num_threads: blocks sorted at once
    (default: the CPUs this process may use, at most 8). Results do not depend on either."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown evaluation protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    if int(max_rank) < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    max_rank = int(max_rank)
    dist = _as_distmat(distmat)
    num_q, num_g = dist.shape
    q_pids = _as_ids(q_pids, "q_pids", num_q)
    g_pids = _as_ids(g_pids, "g_pids", num_g)
    q_camids = _as_ids(q_camids, "q_camids", num_q)
    g_camids = _as_ids(g_camids, "g_camids", num_g)

    good_q, good_g, junk_q, junk_g, keep_mask = _match_pairs(q_pids, g_pids, q_camids, g_camids, protocol)
    ranks = _good_ranks(dist, good_q, good_g, junk_q, junk_g, keep_mask, chunk_size, num_threads)
    return _summarise(good_q, ranks, num_q, protocol, max_rank)


# ---------------------------------------------------------------------------------------------------- inputs

def _as_distmat(distmat) -> np.ndarray:
    dist = to_numpy(distmat)
    if dist.ndim != 2:
        raise ValueError(f"distmat must be a 2-D (num_query, num_gallery) array, got shape {dist.shape}")
    if dist.dtype not in (np.float32, np.float64):
        # float16 -> float32 and integers -> float64 are exact, so the order and the ties are unchanged
        dist = dist.astype(np.float32 if dist.dtype == np.float16 else np.float64)
    return dist


def _as_ids(ids, name: str, length: int) -> np.ndarray:
    ids = to_numpy(ids)
    if ids.ndim != 1 or ids.shape[0] != length:
        raise ValueError(f"{name} must be a 1-D array of length {length} (the distmat side), got shape {ids.shape}")
    return ids


def _match_pairs(q_pids, g_pids, q_camids, g_camids, protocol):
    """The sparse (query, gallery) pairs sharing a pid, split into good and junk, without a dense (Q, G) mask.

    Returns good_q, good_g (sorted by query, then gallery index), junk_q, junk_g (same-pid junk, same order) and
    keep_mask: True at the gallery columns that are not junk for every query (mars: pid != -1); None: all."""
    order = np.argsort(g_pids, kind="stable")  # equal pids keep gallery order
    sorted_pids = g_pids[order]
    lo = np.searchsorted(sorted_pids, q_pids, side="left")
    counts = np.searchsorted(sorted_pids, q_pids, side="right") - lo
    pair_q = np.repeat(np.arange(len(q_pids)), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    pair_g = order[np.repeat(lo, counts) + within]
    same_cam = g_camids[pair_g] == q_camids[pair_q]
    keep_mask = None
    if protocol == "mars":
        column_junk = g_pids == -1
        if column_junk.any():
            keep_mask = ~column_junk
        ordinary = g_pids[pair_g] != -1  # pid -1 pairs are junk through keep_mask already
        pair_q, pair_g, same_cam = pair_q[ordinary], pair_g[ordinary], same_cam[ordinary]
    good = ~same_cam
    return pair_q[good], pair_g[good], pair_q[same_cam], pair_g[same_cam], keep_mask


# ---------------------------------------------------------------------------------------------------- ranks

def _bsearch(values, lo, hi, targets, side):
    """Vectorised np.searchsorted: for each target, the insertion point into the sorted run values[lo:hi]."""
    lo = lo.astype(np.int64, copy=True)
    hi = hi.astype(np.int64, copy=True)
    steps = int(np.max(hi - lo, initial=0)).bit_length()  # each step at least halves every run
    for _ in range(steps):
        active = lo < hi
        mid = (lo + hi) >> 1
        probe = values[np.where(active, mid, 0)] if values.size else np.zeros(len(mid), values.dtype)
        right = (probe < targets) if side == "left" else (probe <= targets)
        right &= active
        lo = np.where(right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)
    return lo


def _good_ranks(dist, good_q, good_g, junk_q, junk_g, keep_mask, chunk_size, num_threads):
    """1-based junk-free rank of every good pair (same order as good_q/good_g)."""
    num_q, num_g = dist.shape
    rows = int(chunk_size) if chunk_size is not None else max(1, _BLOCK_ELEMENTS // max(num_g, 1))
    if rows < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    starts = list(range(0, num_q, rows))
    good_bounds = np.searchsorted(good_q, [min(s + rows, num_q) for s in starts], side="left")
    junk_bounds = np.searchsorted(junk_q, [min(s + rows, num_q) for s in starts], side="left")

    def block(k):
        a, b = starts[k], min(starts[k] + rows, num_q)
        g0 = good_bounds[k - 1] if k else 0
        j0 = junk_bounds[k - 1] if k else 0
        return _block_ranks(dist[a:b], a, good_q[g0:good_bounds[k]], good_g[g0:good_bounds[k]],
                            junk_q[j0:junk_bounds[k]], junk_g[j0:junk_bounds[k]], keep_mask)

    if num_threads is None:
        num_threads = min(8, usable_cpus())
    if num_threads > 1 and len(starts) > 1:
        # numpy's sort and ufuncs release the GIL, so the blocks sort in parallel
        with ThreadPoolExecutor(min(num_threads, len(starts))) as pool:
            parts = list(pool.map(block, range(len(starts))))
    else:
        parts = [block(k) for k in range(len(starts))]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _block_ranks(dist_rows, row0, good_q, good_g, junk_q, junk_g, keep_mask):
    if np.isnan(dist_rows).any():
        raise ValueError("distmat contains NaN: distances must be comparable (inf is fine)")
    num_g = dist_rows.shape[1]
    # (rows, G') the columns that can count; compress() keeps rows contiguous (fancy indexing would not)
    counted = dist_rows if keep_mask is None else dist_rows.compress(keep_mask, axis=1)
    width = counted.shape[1]
    sorted_rows = np.sort(counted, axis=1).ravel()  # numpy's SIMD sort; values only, no argsort
    r = good_q - row0
    values = dist_rows[r, good_g]  # distance of each good item
    base = r * width
    left = _bsearch(sorted_rows, base, base + width, values, "left")  # items strictly closer
    right = _bsearch(sorted_rows, base, base + width, values, "right")
    closer = left - base
    equal = right - left  # counted items at exactly the same distance, the good item included

    if len(junk_q):  # same-pid-same-camera junk: subtract those closer than / equal to each good item
        jr = junk_q - row0
        jv = dist_rows[jr, junk_g]
        order = np.lexsort((jv, jr))
        jr, jv, jg = jr[order], jv[order], junk_g[order]
        seg_lo = np.searchsorted(jr, r, side="left")
        seg_hi = np.searchsorted(jr, r, side="right")
        junk_left = _bsearch(jv, seg_lo, seg_hi, values, "left")
        junk_right = _bsearch(jv, seg_lo, seg_hi, values, "right")
        closer -= junk_left - seg_lo
        equal -= junk_right - junk_left
    ranks = closer + 1

    tied = np.flatnonzero(equal > 1)  # another non-junk item at exactly this distance: order by gallery index
    if tied.size:
        extra = np.zeros(tied.size, dtype=np.int64)
        cols = np.arange(num_g)
        batch = max(1, _TIE_ELEMENTS // max(num_g, 1))
        for s in range(0, tied.size, batch):
            t = tied[s:s + batch]
            before = (dist_rows[r[t]] == values[t, None]) & (cols < good_g[t, None])
            if keep_mask is not None:
                before &= keep_mask
            extra[s:s + batch] = before.sum(1)
        if len(junk_q):  # junk items among those counted: equal value (junk_left..junk_right) and lower index
            lens = (junk_right - junk_left)[tied]
            owner = np.repeat(np.arange(tied.size), lens)
            pos = np.repeat(junk_left[tied], lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens))
            extra -= np.bincount(owner[jg[pos] < good_g[tied][owner]], minlength=tied.size)
        ranks[tied] += extra
    return ranks


# ---------------------------------------------------------------------------------------------------- metrics

def per_query_metrics(distmat, q_pids, g_pids, q_camids, g_camids, protocol: str = "mars") -> dict:
    """Per-query results under `protocol`, the parts `evaluate` averages: {"ap", "inp" (float64 (Q,), 0 for a query
    without a good item), "first_rank" (int64 (Q,), junk-free rank of the first true match, 0 = none),
    "num_good" (int64 (Q,))}. `evaluate`'s mAP is ap.sum() / num_valid_queries."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown evaluation protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    dist = _as_distmat(distmat)
    num_q, num_g = dist.shape
    q_pids, g_pids = _as_ids(q_pids, "q_pids", num_q), _as_ids(g_pids, "g_pids", num_g)
    q_camids, g_camids = _as_ids(q_camids, "q_camids", num_q), _as_ids(g_camids, "g_camids", num_g)
    good_q, good_g, junk_q, junk_g, keep_mask = _match_pairs(q_pids, g_pids, q_camids, g_camids, protocol)
    ranks = _good_ranks(dist, good_q, good_g, junk_q, junk_g, keep_mask, None, None)
    return _per_query(good_q, ranks, num_q, protocol)


def _per_query(good_q, ranks, num_q, protocol) -> dict:
    num_good = np.bincount(good_q, minlength=num_q)
    order = np.lexsort((ranks, good_q))  # each query's good items by rank
    q = good_q[order]
    r = ranks[order].astype(np.float64)
    first = np.cumsum(num_good) - num_good  # index of each query's first good item in `order`
    hit = np.arange(len(q)) - first[q] + 1.0  # i: this is the query's i-th hit
    precision = hit / r
    if protocol == "mars":
        before = np.where(r == 1, 1.0, (hit - 1) / np.maximum(r - 1, 1))
        precision = 0.5 * (precision + before)
    ap = np.bincount(q, weights=precision, minlength=num_q) / np.maximum(num_good, 1)
    has = num_good > 0
    inp = np.zeros(num_q)
    first_rank = np.zeros(num_q, np.int64)
    inp[has] = num_good[has] / r[first[has] + num_good[has] - 1]
    first_rank[has] = ranks[order][first[has]]
    return {"ap": ap, "inp": inp, "first_rank": first_rank, "num_good": num_good}


def _summarise(good_q, ranks, num_q, protocol, max_rank):
    p = _per_query(good_q, ranks, num_q, protocol)
    has_good = p["num_good"] > 0
    denominator = num_q if protocol == "mars" else int(has_good.sum())
    if denominator == 0:
        return {"cmc": np.zeros(max_rank), "mAP": 0.0, "mINP": 0.0, "num_valid_queries": 0}
    first_rank = p["first_rank"][has_good]
    hits_at = np.bincount(np.minimum(first_rank, max_rank + 1) - 1, minlength=max_rank + 1)[:max_rank]
    return {
        "cmc": np.cumsum(hits_at) / denominator,
        "mAP": float(p["ap"][has_good].sum() / denominator),
        "mINP": float(p["inp"][has_good].sum() / denominator),
        "num_valid_queries": int(denominator),
    }
