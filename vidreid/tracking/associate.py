"""Global identities across cameras: tracklets of one or more cameras -> one id per person (multi-camera tracking).

Constrained agglomerative clustering (average linkage, Lance & Williams 1967) of appearance distances under the
constraints a tracker knows, as cannot-link pairs (Wagstaff et al., "Constrained K-means Clustering with Background
Knowledge", ICML 2001, for the must/cannot-link formulation; Ristani & Tomasi, "Features for Multi-Target
Multi-Camera Tracking and Re-Identification", CVPR 2018, for the within-camera-then-across-cameras order):
  * two tracklets of one camera that overlap in time are two people;
  * nobody is in two cameras at once, nor gets from camera a's view to camera b's faster than transit[a, b]
    seconds (given a shared clock: a footage manifest). Without a shared clock only the first rule applies.
A cluster never holds a cannot-link pair. Stage 1 merges fragments within each camera, stage 2 across cameras; each
stage merges the closest allowed pair of clusters while its average distance is at most the stage's threshold.

The clustering runs on a sparse graph of candidate pairs: every pair (exact: the dense result) or the k nearest
neighbours of each tracklet from a FAISS index (vidreid.workflows.identities.neighbour_rows), never an N x N matrix.
The average distance of two clusters counts a pair outside the graph as `far` (with every pair in the graph it is the
plain average linkage), and only clusters joined by at least one graph pair are candidates. Constraints are checked
lazily, on the members of the two clusters a merge would join, and a refusal sticks to the pair of clusters (as in
the dense formulation, where the merged cluster inherits both rows of the cannot-link matrix).

Cost, for N tracklets and E graph pairs (E <= N k): building the graph O(E) (numpy), the merges a heap of the pairs
within the threshold (O(E log E)) plus, per merge, one Python step per neighbour of the merged clusters and one
vectorised constraint check of |A| x |B| member pairs; memory O(E) (no N x N array). With all pairs (E = N^2 / 2)
this is for a few thousand tracklets; 100k tracklets with k = 30 take about half a gigabyte (BENCHMARKS.md).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import VidReIDError


@dataclass
class AssociateConfig:
    threshold: float = 0.6             # stage 2 (across cameras): merge while the average distance is <= this
    within_threshold: float | None = None   # stage 1 (within a camera); None: the same as `threshold`
    constraints: bool = True           # False: appearance only (the baseline without the tracker's knowledge)
    slack: float = 0.0                 # seconds of tolerance subtracted from every transit time (clock drift)
    neighbours: int = 30               # k of the k-NN graph; with at most k + 1 tracklets every pair (exact)
    far: float = 1.0                   # distance assumed for a pair outside the graph (1 - cos of orthogonal features)

    def __post_init__(self):
        for option, value in (("--threshold", self.threshold), ("--within-threshold", self.within_threshold)):
            if value is not None and not 0 <= value <= 2:              # a distance 1 - cos lies in [0, 2]
                raise VidReIDError(f"{option} must be a distance (1 - cos) in [0, 2], got {value}")
        if not self.slack >= 0:
            raise VidReIDError(f"--slack must be >= 0 seconds, got {self.slack}")


@dataclass
class TrackletTimes:
    camera: np.ndarray                 # (N,) int camera index
    start: np.ndarray                  # (N,) seconds of the first box (on the shared clock, or the camera's own)
    end: np.ndarray                    # (N,) seconds of the last box
    shared_clock: bool                 # True: start / end of different cameras are comparable

    def take(self, rows: np.ndarray) -> "TrackletTimes":
        return TrackletTimes(self.camera[rows], self.start[rows], self.end[rows], self.shared_clock)


def cannot_link(t: TrackletTimes, i: np.ndarray, j: np.ndarray, transit: np.ndarray | None = None,
                slack: float = 0.0) -> np.ndarray:
    """(P,) bool: which of the pairs (i[p], j[p]) cannot be one person. transit: (C, C) least seconds between camera
    views (None: 0, i.e. only "not in two cameras at once"); used only with a shared clock. A tracklet paired with
    itself is never blocked."""
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    ci, cj, si, sj, ei, ej = t.camera[i], t.camera[j], t.start[i], t.start[j], t.end[i], t.end[j]
    same = ci == cj
    out = same & (si <= ej) & (sj <= ei)                                 # one camera, time intervals intersect
    if t.shared_clock:
        n_cam = int(t.camera.max()) + 1 if len(t.camera) else 0
        tr = np.zeros((n_cam, n_cam)) if transit is None else np.asarray(transit, np.float64)
        # strictly later (not two places at once) and after the walk from one camera's view to the other's
        i_then_j = (sj - ei > 0) & (sj - ei >= np.maximum(tr[ci, cj] - slack, 0.0))
        j_then_i = (si - ej > 0) & (si - ej >= np.maximum(tr[cj, ci] - slack, 0.0))
        out |= ~same & ~i_then_j & ~j_then_i
    return out & (i != j)


def all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of n items, (i, j) with i < j: the complete graph (exact clustering; O(n^2) memory)."""
    return np.triu_indices(n, 1)


def graph_pairs(neighbours: np.ndarray, queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Q, k) neighbour rows of items `queries` (an index search; -1: none; queries None: row q is item q) -> the
    unordered pairs (i, j), i < j, of the symmetric k-NN graph (a pair is in it when either item is among the
    other's k nearest)."""
    q, k = neighbours.shape
    queries = np.arange(q) if queries is None else np.asarray(queries, np.int64)
    n = int(max(queries.max(initial=-1), neighbours.max(initial=-1))) + 1
    i = np.repeat(queries, k)
    j = neighbours.reshape(-1).astype(np.int64)
    keep = (j >= 0) & (j != i)
    a, b = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    key = np.unique(a * n + b)
    return key // n, key % n


def agglomerate(i: np.ndarray, j: np.ndarray, dist: np.ndarray, labels: np.ndarray, threshold: float,
                blocked: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                fixed: np.ndarray | None = None, far: float = 1.0, allowed: np.ndarray | None = None) -> np.ndarray:
    """Average-linkage agglomeration on a sparse graph, starting from clusters `labels` (N,) of the N items.

    i, j, dist: (E,) the graph's pairs (each unordered pair once) and their distances; a pair outside it counts as
    `far`. blocked(a, b) -> (P,) bool: cannot-link pairs among the item pairs (a[p], b[p]) (a cluster never contains
    one; None: no constraints). fixed: (N,) bool, items of clusters that stay apart from each other (the existing
    identities of an incremental run). allowed: (E,) bool, the graph pairs that make their clusters candidates at
    this stage (None: all; stage 1 passes the same-camera pairs). Merges the closest candidate pair of clusters, not
    refused by `blocked` or `fixed`, while its average distance <= threshold; ties go to the pair of lowest cluster
    numbers and the merged cluster takes the lower number (as a dense argmin over a K x K matrix would). Returns the
    new labels (0..K'-1, in order of each cluster's lowest starting label). Cost: module docstring."""
    labels = np.unique(labels, return_inverse=True)[1].reshape(-1)
    n_items = len(labels)
    k = int(labels.max()) + 1 if n_items else 0
    size = np.bincount(labels, minlength=k).astype(np.float64).tolist()
    order = np.argsort(labels, kind="stable")
    members = [list(m) for m in np.split(order, np.cumsum(np.bincount(labels, minlength=k))[:-1])]
    fixed_c = (np.bincount(labels, weights=np.asarray(fixed, np.float64), minlength=k) > 0 if fixed is not None
               else np.zeros(k, bool)).tolist()
    # cluster pairs: (lower, higher) -> [sum of graph distances, graph pairs counted, refused, allowed]
    li, lj = labels[np.asarray(i, np.int64)], labels[np.asarray(j, np.int64)]
    cross = li != lj
    a, b = np.minimum(li[cross], lj[cross]), np.maximum(li[cross], lj[cross])
    key, inv = np.unique(a * k + b, return_inverse=True)
    sums = np.bincount(inv, weights=np.asarray(dist, np.float64)[cross], minlength=len(key))
    counts = np.bincount(inv, minlength=len(key)).astype(np.float64)
    ok = np.ones(len(key), bool) if allowed is None else \
        np.bincount(inv, weights=np.asarray(allowed, np.float64)[cross], minlength=len(key)) > 0
    ka, kb = key // k, key % k
    nbr: list[dict | None] = [{} for _ in range(k)]
    for x, y, s, c, o in zip(ka.tolist(), kb.tolist(), sums.tolist(), counts.tolist(), ok.tolist()):  # the graph
        nbr[x][y] = nbr[y][x] = [s, c, False, o]

    def average(e, x, y):
        pairs = size[x] * size[y]
        return (e[0] + (pairs - e[1]) * far) / pairs

    sz = np.asarray(size)
    start = (sums + (sz[ka] * sz[kb] - counts) * far) / (sz[ka] * sz[kb])
    near = ok & (start <= threshold)                                    # only these can be merged first
    heap = list(zip(start[near].tolist(), ka[near].tolist(), kb[near].tolist()))
    heapq.heapify(heap)
    parent = list(range(k))
    while heap:                                                          # one pop per candidate merge
        v, x, y = heapq.heappop(heap)
        if nbr[x] is None or nbr[y] is None:
            continue                                                     # a cluster merged away since
        e = nbr[x].get(y)
        if e is None or e[2] or not e[3] or average(e, x, y) != v:
            continue                                                     # refused, or a stale entry
        if fixed_c[x] and fixed_c[y]:
            e[2] = True
            continue
        if blocked is not None:
            mx, my = members[x], members[y]
            if blocked(np.repeat(mx, len(my)), np.tile(my, len(mx))).any():
                e[2] = True                                              # a superset would hold the pair too
                continue
        # merge y into x (x < y): Lance-Williams for average linkage is the sum of the two pairs' sums and counts
        del nbr[x][y], nbr[y][x]
        for z, f in nbr[y].items():                                      # loop over y's neighbours
            del nbr[z][y]
            g = nbr[x].get(z)
            if g is None:
                nbr[x][z] = nbr[z][x] = f
            else:
                g[0] += f[0]
                g[1] += f[1]
                g[2] = g[2] or f[2]
                g[3] = g[3] or f[3]
        nbr[y] = None
        members[x] += members[y]
        size[x] += size[y]
        fixed_c[x] = fixed_c[x] or fixed_c[y]
        parent[y] = x
        for z, f in nbr[x].items():                                      # loop over the merged cluster's neighbours
            if f[3] and not f[2]:
                w = average(f, x, z)
                if w <= threshold:
                    heapq.heappush(heap, (w, min(x, z), max(x, z)))
    root = np.asarray(parent)
    for _ in range(k):                                                   # pointer jumping: <= log2(K) passes
        nxt = root[root]
        if (nxt == root).all():
            break
        root = nxt
    return np.unique(root[labels], return_inverse=True)[1].reshape(-1)


def associate(feats: np.ndarray, times: TrackletTimes, cfg: AssociateConfig, transit: np.ndarray | None = None,
              pairs: tuple[np.ndarray, np.ndarray] | None = None, labels: np.ndarray | None = None,
              fixed: np.ndarray | None = None) -> np.ndarray:
    """L2-normalised features (N, D) and their times -> global identity (N,) per tracklet, 0..K-1.
    Stage 1 within each camera, stage 2 across cameras (module docstring). pairs: the graph's (i, j), e.g.
    graph_pairs of a k-NN search (None: every pair, exact). labels / fixed: starting clusters and the items whose
    clusters must stay apart (an incremental run: the existing identities; pairs of two fixed items may be left
    out of the graph, they are never used)."""
    n = len(feats)
    if n == 0:
        raise VidReIDError("no tracklets to associate")
    if not np.isfinite(feats).all():
        raise VidReIDError("some tracklet features are not finite (unreadable crops?)")
    i, j = all_pairs(n) if pairs is None else pairs
    f = np.asarray(feats, np.float64)
    dist = np.zeros(len(i))
    step = max(1, (1 << 22) // max(1, f.shape[1]))                       # pairs per block: 2 x 32 MB of rows
    for a in range(0, len(i), step):                                     # blocks of pairs: bounded temporaries
        dist[a:a + step] = np.clip(1.0 - np.einsum("pd,pd->p", f[i[a:a + step]], f[j[a:a + step]]), 0.0, 2.0)
    blocked = None
    if cfg.constraints:
        def blocked(a, b):
            return cannot_link(times, a, b, transit, cfg.slack)
    same = times.camera[i] == times.camera[j]
    within = cfg.threshold if cfg.within_threshold is None else cfg.within_threshold
    start = np.arange(n) if labels is None else labels
    labels = agglomerate(i, j, dist, start, within, blocked, fixed, cfg.far, allowed=same)
    return agglomerate(i, j, dist, labels, cfg.threshold, blocked, fixed, cfg.far)


def check_transit(transit: np.ndarray, cameras: list[str]) -> None:
    """Transit times must be finite, >= 0, and 0 on the diagonal."""
    t = np.asarray(transit, np.float64)
    if t.shape != (len(cameras), len(cameras)) or not np.isfinite(t).all() or (t < 0).any():
        raise VidReIDError(f"transit times must be a finite, non-negative {len(cameras)}x{len(cameras)} matrix")


__all__ = ["AssociateConfig", "TrackletTimes", "agglomerate", "all_pairs", "associate", "cannot_link",
           "check_transit", "graph_pairs"]
