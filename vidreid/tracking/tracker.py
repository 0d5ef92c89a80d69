"""A ByteTrack-style multi-object tracker (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every
Detection Box", ECCV 2022) on a constant-velocity Kalman filter over (cx, cy, aspect, height) as in SORT/DeepSORT.

Each step: predict every track; match high-score detections to tracked and lost tracks by IoU (Hungarian,
scipy.optimize.linear_sum_assignment); match the low-score detections to the tracks still unmatched (ByteTrack's
second association: occluded people give weak detections); match what is left of the high-score detections to
tentative tracks; start tentative tracks from the rest. A tentative track is confirmed on its second match (its
first observation is kept); a track unmatched for more than `track_buffer` steps is dropped.

All track state lives in arrays (means (M, 8), covariances (M, 8, 8)): predict and update are batched over tracks.
Observations are recorded for every match; `result()` keeps the confirmed tracks' and numbers them 1, 2, ...
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

TENTATIVE, TRACKED, LOST = 0, 1, 2


@dataclass
class TrackerConfig:
    high_score: float = 0.6        # detections at or above: first association and new tracks
    low_score: float = 0.1         # detections between low_score and high_score: second association only
    new_track_score: float = 0.7   # a new track needs a detection at least this confident
    match_iou: float = 0.2         # first association: minimum IoU of a match (ByteTrack: 1 - 0.8)
    low_match_iou: float = 0.5     # second association (low-score detections)
    tentative_iou: float = 0.3     # matching tentative tracks
    track_buffer: int = 30         # steps a lost track is kept for re-association
    max_height_ratio: float = 1.5  # no match between a track and a box this many times taller or shorter than its
                                   # prediction (HOG's loose boxes around groups otherwise capture tracks)
    std_position: float = 1 / 20   # Kalman process noise, relative to the box height (SORT/DeepSORT values)
    std_velocity: float = 1 / 160


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, >=4) x (M, >=4) boxes [x, y, w, h] -> (N, M) intersection over union."""
    a, b = np.asarray(a, np.float64)[:, :4], np.asarray(b, np.float64)[:, :4]
    ax1, ay1, ax2, ay2 = a[:, 0:1], a[:, 1:2], a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = iw * ih
    union = (a[:, 2:3] * a[:, 3:4]) + (b[:, 2] * b[:, 3]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match(iou: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian assignment maximising total IoU; pairs below min_iou are dropped -> (rows, cols)."""
    if iou.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    r, c = linear_sum_assignment(-iou)
    ok = iou[r, c] >= min_iou
    return r[ok], c[ok]


def xywh_to_xyah(b: np.ndarray) -> np.ndarray:
    return np.stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2, b[:, 2] / b[:, 3], b[:, 3]], 1)


def xyah_to_xywh(m: np.ndarray) -> np.ndarray:
    w = m[:, 2] * m[:, 3]
    return np.stack([m[:, 0] - w / 2, m[:, 1] - m[:, 3] / 2, w, m[:, 3]], 1)


class KalmanBoxes:
    """Constant-velocity Kalman filters over (cx, cy, a, h) for many boxes at once (DeepSORT's parameterisation)."""

    F = np.eye(8)
    F[:4, 4:] = np.eye(4)
    H = np.eye(4, 8)

    def __init__(self, std_position: float, std_velocity: float):
        self.sp, self.sv = std_position, std_velocity

    def initiate(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = xywh_to_xyah(boxes)                                           # (N, 4)
        mean = np.concatenate([z, np.zeros_like(z)], 1)                   # (N, 8)
        h = z[:, 3]
        std = np.stack([2 * self.sp * h, 2 * self.sp * h, np.full_like(h, 1e-2), 2 * self.sp * h,
                        10 * self.sv * h, 10 * self.sv * h, np.full_like(h, 1e-5), 10 * self.sv * h], 1)
        cov = np.einsum("ni,ij->nij", std ** 2, np.eye(8))                # (N, 8, 8) diagonal
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[:, 3]
        std = np.stack([self.sp * h, self.sp * h, np.full_like(h, 1e-2), self.sp * h,
                        self.sv * h, self.sv * h, np.full_like(h, 1e-5), self.sv * h], 1)
        mean = mean @ self.F.T
        cov = self.F @ cov @ self.F.T + np.einsum("ni,ij->nij", std ** 2, np.eye(8))
        return mean, cov

    def update(self, mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = xywh_to_xyah(boxes)                                           # (N, 4)
        h = mean[:, 3]
        std = np.stack([self.sp * h, self.sp * h, np.full_like(h, 1e-1), self.sp * h], 1)
        S = self.H @ cov @ self.H.T + np.einsum("ni,ij->nij", std ** 2, np.eye(4))   # (N, 4, 4)
        PHt = cov @ self.H.T                                              # (N, 8, 4)
        K = np.linalg.solve(S, PHt.transpose(0, 2, 1)).transpose(0, 2, 1)  # (N, 8, 4) = P H^T S^-1 (S symmetric)
        innovation = z - mean @ self.H.T
        mean = mean + np.einsum("nij,nj->ni", K, innovation)
        cov = cov - K @ self.H @ cov
        return mean, cov


class Tracker:
    """Feed `step(frame_number, detections (N, 5) [x, y, w, h, score])` frame after frame (any order of frame
    numbers: following backwards feeds them decreasing); `result()` -> the confirmed tracks' observations."""

    def __init__(self, cfg: TrackerConfig | None = None):
        self.cfg = cfg or TrackerConfig()
        self.kf = KalmanBoxes(self.cfg.std_position, self.cfg.std_velocity)
        self.mean = np.zeros((0, 8))
        self.cov = np.zeros((0, 8, 8))
        self.state = np.zeros(0, np.int64)
        self.uid = np.zeros(0, np.int64)         # internal track number (also tentative tracks)
        self.missed = np.zeros(0, np.int64)      # steps since the last match
        self.next_uid = 0
        self.confirmed: set[int] = set()
        self.obs: list[np.ndarray] = []          # per step: (k, 7) [frame, uid, x, y, w, h, score]
        self.steps = 0

    def _new(self, boxes: np.ndarray, state: int) -> np.ndarray:
        mean, cov = self.kf.initiate(boxes[:, :4].astype(np.float64))
        uids = np.arange(self.next_uid, self.next_uid + len(boxes))
        self.next_uid += len(boxes)
        self.mean = np.concatenate([self.mean, mean])
        self.cov = np.concatenate([self.cov, cov])
        self.state = np.concatenate([self.state, np.full(len(boxes), state)])
        self.uid = np.concatenate([self.uid, uids])
        self.missed = np.concatenate([self.missed, np.zeros(len(boxes), np.int64)])
        return uids

    def seed(self, frame_number: int, box) -> int:
        """Start a confirmed track from a user's box (x, y, w, h) at this frame; returns its uid. Call before the
        `step` of the same frame: that step's detections then update it instead of starting a new track."""
        b = np.asarray(box, np.float64).reshape(1, 4)
        uid = int(self._new(np.concatenate([b, [[1.0]]], 1), TRACKED)[0])
        self.confirmed.add(uid)
        self._record(frame_number, np.array([uid]), np.concatenate([b, [[1.0]]], 1))
        self.missed[-1] = -1                      # marks "matched at this frame already" for the next step
        return uid

    def _record(self, frame_number: int, uids: np.ndarray, boxes: np.ndarray) -> None:
        if len(uids):
            rec = np.empty((len(uids), 7))
            rec[:, 0], rec[:, 1], rec[:, 2:7] = frame_number, uids, boxes[:, :5]
            self.obs.append(rec)

    def step(self, frame_number: int, dets: np.ndarray) -> None:
        cfg = self.cfg
        dets = np.asarray(dets, np.float64).reshape(-1, 5)
        dets = dets[dets[:, 4] >= cfg.low_score]
        seeded = self.missed == -1                 # a seed placed at this frame: matched already
        if seeded.any():
            self.missed[seeded] = 0
        if len(self.mean):
            self.mean[self.state != TRACKED, 7] = 0.0   # ByteTrack: an unseen box keeps its height (no growth)
            self.mean, self.cov = self.kf.predict(self.mean, self.cov)
        matched_track = seeded.copy()
        used_det = np.zeros(len(dets), bool)
        pred = xyah_to_xywh(self.mean[:, :4]) if len(self.mean) else np.zeros((0, 4))
        upd_rows, upd_dets = [], []

        def associate(track_mask, det_mask, min_iou):
            t_idx, d_idx = np.flatnonzero(track_mask), np.flatnonzero(det_mask)
            iou = iou_matrix(pred[t_idx], dets[d_idx])
            ratio = dets[d_idx, 3][None, :] / np.maximum(pred[t_idx, 3][:, None], 1e-6)
            iou[(ratio > cfg.max_height_ratio) | (ratio < 1 / cfg.max_height_ratio)] = 0.0
            r, c = match(iou, min_iou)
            t, d = t_idx[r], d_idx[c]
            matched_track[t] = True
            used_det[d] = True
            upd_rows.append(t)
            upd_dets.append(d)

        high = dets[:, 4] >= cfg.high_score
        # a seed consumes the detection that overlaps it most (that detection is the seeded person)
        if seeded.any() and len(dets):
            s_idx = np.flatnonzero(seeded)
            seed_boxes = xyah_to_xywh(self.mean[s_idx, :4])
            r, c = match(iou_matrix(seed_boxes, dets), 0.3)
            used_det[c] = True
        active = (self.state == TRACKED) | (self.state == LOST)
        associate(active & ~matched_track, high & ~used_det, cfg.match_iou)
        associate((self.state == TRACKED) & ~matched_track, ~high & ~used_det, cfg.low_match_iou)
        associate((self.state == TENTATIVE) & ~matched_track, high & ~used_det, cfg.tentative_iou)

        rows = np.concatenate(upd_rows) if upd_rows else np.zeros(0, np.int64)
        drows = np.concatenate(upd_dets) if upd_dets else np.zeros(0, np.int64)
        if len(rows):
            self.mean[rows], self.cov[rows] = self.kf.update(self.mean[rows], self.cov[rows], dets[drows, :4])
            newly = rows[self.state[rows] == TENTATIVE]
            self.confirmed.update(self.uid[newly].tolist())
            self.state[rows] = TRACKED
            self.missed[rows] = 0
            self._record(frame_number, self.uid[rows], dets[drows])
        self.missed[~matched_track] += 1
        # unmatched: tentative tracks die, tracked ones become lost, lost ones die after the buffer
        alive = ~((self.state == TENTATIVE) & ~matched_track) & (self.missed <= cfg.track_buffer)
        self.state[(self.state == TRACKED) & ~matched_track] = LOST
        self._keep(alive)
        fresh = ~used_det & (dets[:, 4] >= cfg.new_track_score)
        if fresh.any():
            uids = self._new(dets[fresh], TENTATIVE if self.steps else TRACKED)
            if not self.steps:                    # ByteTrack confirms the tracks of the very first frame at once
                self.confirmed.update(uids.tolist())
            self._record(frame_number, uids, dets[fresh])
        self.steps += 1

    def _keep(self, mask: np.ndarray) -> None:
        self.mean, self.cov, self.state, self.uid, self.missed = (
            self.mean[mask], self.cov[mask], self.state[mask], self.uid[mask], self.missed[mask])

    def observations(self, uid: int) -> np.ndarray:
        """(k, 7) [frame, uid, x, y, w, h, score] of one track (by its internal uid, e.g. a seed's), in step order."""
        obs = np.concatenate(self.obs) if self.obs else np.zeros((0, 7))
        return obs[obs[:, 1] == uid]

    def result(self) -> np.ndarray:
        """(K, 7) float64 [frame, track id, x, y, w, h, score] of the confirmed tracks, ids renumbered 1, 2, ...
        in order of first appearance, rows sorted by (id, frame)."""
        if not self.obs:
            return np.zeros((0, 7))
        obs = np.concatenate(self.obs)
        keep = np.isin(obs[:, 1], np.fromiter(self.confirmed, np.int64, len(self.confirmed)))
        obs = obs[keep]
        if not len(obs):
            return obs
        uids, first = np.unique(obs[:, 1], return_index=True)
        rank = np.empty(len(uids), np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(1, len(uids) + 1)
        obs[:, 1] = rank[np.searchsorted(uids, obs[:, 1])]
        return obs[np.lexsort((obs[:, 0], obs[:, 1]))]


def tracker_config(from_detections: bool, high_score: float | None = None, track_buffer: int = 30) -> TrackerConfig:
    """The tracker settings of `vidreid tracklets` and `vidreid adapt`: a confident detection is 0.6 for vidreid's
    own detectors, 0.5 for a det.txt (its scores are another detector's), unless `high_score` says; a new track needs
    a little more (ByteTrack's rule)."""
    cfg = TrackerConfig(track_buffer=track_buffer)
    if high_score is not None:
        cfg.high_score = high_score
    elif from_detections:
        cfg.high_score = 0.5
    cfg.new_track_score = cfg.high_score + 0.1
    return cfg
