"""Distance-level fusion of two feature sets (a network's and a classical one), on arrays.

    d_fused = sqrt((1 - w) * (d_net / s_net)^2 + w * (d_cls / s_cls)^2)

d_* Euclidean distances of L2-normalised features, s_* the median distance over distinct pairs of a validation set
(puts both on one scale before weighting), w chosen on validation data by grid search on mAP. The same fusion as an
embedding (a scaled concatenation whose Euclidean distance is d_fused) is vidreid.models.fused.fuse; see there and
docs/models.md for why the squares.
"""
from __future__ import annotations

import numpy as np

from .metrics import evaluate

WEIGHT_GRID = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))
TIE_MAP = 1e-3          # validation mAPs closer than this (0.1 mAP points) are ties: see choose_weight


def l2_rows(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, np.float64)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def pairwise_euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(Q, D), (G, D) -> (Q, G) Euclidean distances (float64)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2, 0))


def median_pair_distance(f: np.ndarray) -> float:
    """Median Euclidean distance over the distinct pairs (i < j) of the rows of f (N >= 2)."""
    d = pairwise_euclidean(f, f)
    iu = np.triu_indices(len(f), 1)
    return float(np.median(d[iu]))


def fused_distance(d_net: np.ndarray, d_cls: np.ndarray, weight: float, scale_net: float, scale_cls: float
                   ) -> np.ndarray:
    """The fused distance matrix (module docstring)."""
    return np.sqrt((1 - weight) * (d_net / scale_net) ** 2 + weight * (d_cls / scale_cls) ** 2)


def choose_weight(f_net: np.ndarray, f_cls: np.ndarray, pids: np.ndarray, cams: np.ndarray,
                  grid=WEIGHT_GRID, protocol: str = "mars") -> dict:
    """Validation tracklets' two feature sets (N, D1), (N, D2) -> {"weight", "scale_net", "scale_cls", "table":
    [(w, mAP, R1)]}: every tracklet queried against all of them under `protocol` (mars: the same identity in the
    same camera, the query itself included, is left out), the weight of best mAP. Weights within `TIE_MAP` of the best
    are ties the validation cannot separate -- typically a network that trained on these very identities and ranks
    them perfectly alone -- and the one closest to an equal share (0.5) wins: it keeps the most of the second feature
    at no measurable cost, where "the smallest" would drop the classical feature whenever the network has memorised
    its training identities (an STA at 400 steps: mAP 1.0 from w = 0 to 0.3)."""
    f_net, f_cls = l2_rows(f_net), l2_rows(f_cls)
    s_net, s_cls = median_pair_distance(f_net), median_pair_distance(f_cls)
    d_net, d_cls = pairwise_euclidean(f_net, f_net), pairwise_euclidean(f_cls, f_cls)
    table = []
    for w in grid:                                                     # 21 weights
        r = evaluate(fused_distance(d_net, d_cls, float(w), s_net, s_cls), pids, pids, cams, cams, protocol=protocol)
        table.append((float(w), float(r["mAP"]), float(r["cmc"][0])))
    top = max(m for _, m, _ in table)
    best = min((t for t in table if t[1] >= top - TIE_MAP), key=lambda t: (abs(t[0] - 0.5), t[0]))
    return {"weight": best[0], "scale_net": s_net, "scale_cls": s_cls, "table": table}


def fused_distmat(net_q: np.ndarray, net_g: np.ndarray, cls_q: np.ndarray, cls_g: np.ndarray, weight: float,
                  scale_net: float, scale_cls: float) -> np.ndarray:
    """(Q, G) fused distances of query / gallery features of both kinds (each L2-normalised here). Scales and
    weight from `choose_weight` on validation features (or e.g. the median distances of the gallery itself)."""
    return fused_distance(pairwise_euclidean(l2_rows(net_q), l2_rows(net_g)),
                          pairwise_euclidean(l2_rows(cls_q), l2_rows(cls_g)), weight, scale_net, scale_cls)
