"""Multi-object tracking metrics with py-motmetrics' definitions (its `mota`, `motp`, `num_switches`, `idf1` ...).

CLEAR MOT (Bernardin & Stiefelhagen, "Evaluating Multiple Object Tracking Performance: The CLEAR MOT Metrics", 2008):
frame by frame, a ground-truth object and a hypothesis can match when their IoU >= `iou` (distance 1 - IoU <= 0.5
by default). Pairs matched in the previous frame stay matched while still valid; the other objects are matched by
the Hungarian algorithm minimising the summed distance. A match whose hypothesis differs from the one the object
was last matched to (in any earlier frame) is an ID switch. MOTA = 1 - (FN + FP + IDSW) / GT boxes; MOTP = mean
distance (1 - IoU) of the matches.

Identity measures (Ristani et al., "Performance Measures and a Data Set for Multi-Target, Multi-Camera Tracking",
2016): one global one-to-one assignment of ground-truth ids to hypothesis ids maximising IDTP, the number of frames
where the pair overlaps (IoU >= `iou`); IDF1 = 2 IDTP / (GT boxes + hypothesis boxes), IDP = IDTP / hypothesis
boxes, IDR = IDTP / GT boxes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .tracker import iou_matrix


@dataclass
class MotMetrics:
    num_frames: int
    num_gt: int              # ground-truth boxes
    num_hyp: int             # hypothesis (tracker) boxes
    matches: int
    fp: int
    fn: int
    id_switches: int
    mota: float
    motp: float              # mean 1 - IoU of the matches (py-motmetrics' convention: lower is better)
    idtp: int
    idf1: float
    idp: float
    idr: float
    gt_ids: int
    hyp_ids: int

    def to_dict(self) -> dict:
        return asdict(self)


def _by_frame(rows: np.ndarray) -> dict[int, np.ndarray]:
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    frames, starts = np.unique(rows[:, 0].astype(np.int64), return_index=True)
    return dict(zip(frames.tolist(), np.split(rows, starts[1:])))


def evaluate_mot(gt: np.ndarray, hyp: np.ndarray, iou: float = 0.5) -> MotMetrics:
    """gt, hyp: (N, >=6) MOTChallenge rows [frame, id, x, y, w, h, ...] -> MotMetrics."""
    gt = np.asarray(gt, np.float64).reshape(-1, gt.shape[1] if np.ndim(gt) == 2 else 6)
    hyp = np.asarray(hyp, np.float64).reshape(-1, hyp.shape[1] if np.ndim(hyp) == 2 else 6)
    g_by, h_by = _by_frame(gt), _by_frame(hyp)
    frames = sorted(set(g_by) | set(h_by))
    empty = np.zeros((0, 6))
    last: dict[int, int] = {}          # gt id -> the hypothesis id it was last matched to
    prev: dict[int, int] = {}          # the matches of the previous frame
    matches = fp = fn = switches = 0
    dist_sum = 0.0
    g_ids = np.unique(gt[:, 1]).astype(np.int64)
    h_ids = np.unique(hyp[:, 1]).astype(np.int64)
    overlap = np.zeros((len(g_ids), len(h_ids)))                        # IDTP candidates: frames with IoU >= iou
    for f in frames:                                                    # loop over frames (matching is sequential)
        g, h = g_by.get(f, empty), h_by.get(f, empty)
        gid, hid = g[:, 1].astype(np.int64), h[:, 1].astype(np.int64)
        ious = iou_matrix(g[:, 2:6], h[:, 2:6]) if len(g) and len(h) else np.zeros((len(g), len(h)))
        valid = ious >= iou
        if valid.any():
            gi, hi = np.nonzero(valid)
            np.add.at(overlap, (np.searchsorted(g_ids, gid[gi]), np.searchsorted(h_ids, hid[hi])), 1)
        cost = np.where(valid, 1.0 - ious, np.inf)
        pairs = []
        g_free, h_free = np.ones(len(g), bool), np.ones(len(h), bool)
        # 1. keep last frame's matches that are still valid
        h_index = {int(k): i for i, k in enumerate(hid.tolist())}
        for i, o in enumerate(gid.tolist()):                            # loop over this frame's objects
            j = h_index.get(prev.get(o, -10 ** 12))
            if j is not None and valid[i, j] and h_free[j]:
                pairs.append((i, j))
                g_free[i] = h_free[j] = False
        # 2. Hungarian on the rest (minimum total distance among valid pairs)
        gi, hi = np.flatnonzero(g_free), np.flatnonzero(h_free)
        if len(gi) and len(hi):
            sub = cost[np.ix_(gi, hi)]
            if np.isfinite(sub).any():
                big = np.where(np.isfinite(sub), sub, 1e6)
                r, c = linear_sum_assignment(big)
                ok = np.isfinite(sub[r, c])
                pairs += list(zip(gi[r[ok]].tolist(), hi[c[ok]].tolist()))
        cur = {}
        for i, j in pairs:
            o, k = int(gid[i]), int(hid[j])
            if o in last and last[o] != k:
                switches += 1
            last[o] = k
            cur[o] = k
            dist_sum += 1.0 - ious[i, j]
        prev = cur
        matches += len(pairs)
        fn += len(g) - len(pairs)
        fp += len(h) - len(pairs)
    num_gt, num_hyp = len(gt), len(hyp)
    idtp = 0
    if overlap.size:
        r, c = linear_sum_assignment(-overlap)
        idtp = int(overlap[r, c].sum())
    return MotMetrics(
        num_frames=len(frames), num_gt=num_gt, num_hyp=num_hyp, matches=matches, fp=fp, fn=fn,
        id_switches=switches, mota=1.0 - (fn + fp + switches) / num_gt if num_gt else float("nan"),
        motp=dist_sum / matches if matches else float("nan"), idtp=idtp,
        idf1=2 * idtp / (num_gt + num_hyp) if num_gt + num_hyp else float("nan"),
        idp=idtp / num_hyp if num_hyp else float("nan"), idr=idtp / num_gt if num_gt else float("nan"),
        gt_ids=len(g_ids), hyp_ids=len(h_ids))


def labelled_idf1(gt: np.ndarray, hyp: np.ndarray, weight: np.ndarray) -> float:
    """IDF1 of a labelling of items that are the ground truth's own boxes (tracklets scored by their frame counts):
    gt, hyp (N,) ids, weight (N,) boxes per item -> IDTP / sum(weight), IDTP the largest total weight of items whose
    hyp id is matched to their gt id under a one-to-one matching of ids (Ristani et al. 2016). With every box in
    both the truth and the hypothesis, IDP = IDR = IDF1."""
    g, gi = np.unique(gt, return_inverse=True)
    h, hi = np.unique(hyp, return_inverse=True)
    overlap = np.zeros((len(g), len(h)))
    np.add.at(overlap, (gi.reshape(-1), hi.reshape(-1)), np.asarray(weight, np.float64))
    r, c = linear_sum_assignment(-overlap)
    return float(overlap[r, c].sum() / overlap.sum()) if overlap.sum() else float("nan")


def evaluate_multicamera(gt: dict, hyp: dict, iou: float = 0.5) -> MotMetrics:
    """Multi-camera identity measures (Ristani et al. 2016): {camera: (N, >=6) rows} with ids global across
    cameras -> MotMetrics of all cameras at once. Each camera's frames are shifted onto a range of their own, so
    boxes match only within their camera while the IDTP assignment of ids is one for all cameras (a person's id
    must be the same in every camera to count)."""
    cams = sorted(set(gt) | set(hyp))
    span = 1 + max([int(r[:, 0].max()) for r in list(gt.values()) + list(hyp.values()) if len(r)] or [0])

    def shifted(rows: dict) -> np.ndarray:
        parts = [np.asarray(rows[c], np.float64)[:, :6] + np.array([k * span, 0, 0, 0, 0, 0])
                 for k, c in enumerate(cams) if c in rows and len(rows[c])]
        return np.concatenate(parts) if parts else np.zeros((0, 6))
    return evaluate_mot(shifted(gt), shifted(hyp), iou)
