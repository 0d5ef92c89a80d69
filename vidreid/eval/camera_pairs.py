"""R1 and mAP per (query camera, gallery camera) pair: where a deployment fails.

Cell (a, b) ranks the queries of camera a against the gallery tracklets of camera b only, under the evaluation
protocol's rules (its junk, its AP formula), and averages over the queries of camera a that have a true match in
camera b. Under `mars` (and `gao`) a true match is another camera's tracklet of the same person, so the diagonal
(a, a) has no query and is NaN; so is any pair without a matched query.
"""
from __future__ import annotations

import numpy as np

from .metrics import per_query_metrics


def camera_pair_metrics(distmat, q_pids, g_pids, q_camids, g_camids, protocol: str = "mars") -> dict:
    """-> {"query_cameras": (A,), "gallery_cameras": (B,) sorted camera ids, "r1", "mAP": float64 (A, B) fractions
    (NaN where no query counts), "queries": int64 (A, B) queries counted per cell}."""
    dist = np.asarray(distmat)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    q_cams, g_cams = np.unique(q_camids), np.unique(g_camids)
    q_cell = np.searchsorted(q_cams, q_camids)                  # (Q,) row of each query's camera
    shape = (len(q_cams), len(g_cams))
    r1, mean_ap, counted = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, np.int64)
    for j, cam in enumerate(g_cams):                            # loop over gallery cameras (a handful)
        cols = np.flatnonzero(g_camids == cam)
        per = per_query_metrics(dist[:, cols], q_pids, g_pids[cols], q_camids, g_camids[cols], protocol)
        valid = per["num_good"] > 0                             # queries with a true match in this camera
        n = np.bincount(q_cell[valid], minlength=len(q_cams))
        hits = np.bincount(q_cell[valid], weights=(per["first_rank"][valid] == 1), minlength=len(q_cams))
        ap = np.bincount(q_cell[valid], weights=per["ap"][valid], minlength=len(q_cams))
        has = n > 0
        r1[has, j] = hits[has] / n[has]
        mean_ap[has, j] = ap[has] / n[has]
        counted[:, j] = n
    return {"query_cameras": q_cams, "gallery_cameras": g_cams, "r1": r1, "mAP": mean_ap, "queries": counted}
