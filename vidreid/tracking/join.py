"""Join the fragments of one person with the re-ID model's own features (`vidreid tracklets --checkpoint`).

A tracker loses people it cannot see: after an occlusion longer than its buffer, or a run of missed detections, the
same person comes back as a new track. Like DeepSORT's appearance gating (Wojke et al., "Simple Online and Realtime
Tracking with a Deep Association Metric", ICIP 2017), the link is decided by appearance under a motion gate, but here
it is done once, on the cut tracklets of each camera: fragment b continues fragment a when
    b starts after a ends, within `max_gap` frames;
    b's first box is within (1 + max_speed x gap) box heights of a's last box (people walk at a bounded speed);
    1 - cos(feature a, feature b) <= max_distance (features: the checkpoint's tracklet embeddings).
Links are taken greedily, most similar first, each fragment with at most one predecessor and one successor, so
chains never branch. A chain takes the track number of its first fragment; its fragments become its pieces.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class JoinConfig:
    max_distance: float = 0.25     # 1 - cosine similarity of two fragments' features, at most
    max_gap: int = 100             # frames from a fragment's last box to the next one's first box, at most
    max_speed: float = 0.1         # body heights per frame a person may have moved during the gap


def link_fragments(starts: np.ndarray, ends: np.ndarray, first_boxes: np.ndarray, last_boxes: np.ndarray,
                   feats: np.ndarray, cfg: JoinConfig) -> tuple[np.ndarray, np.ndarray]:
    """Fragments of one camera -> (predecessor index per fragment (-1: starts a chain), its feature distance).
    boxes (N, 4) [x, y, w, h]; feats (N, D) L2-normalised."""
    n = len(starts)
    pred, pred_dist = np.full(n, -1), np.full(n, np.nan)
    if n < 2:
        return pred, pred_dist
    gap = starts[None, :] - ends[:, None]                                # (a, b): frames from a's end to b's start
    ca = last_boxes[:, :2] + last_boxes[:, 2:4] / 2                      # centres
    cb = first_boxes[:, :2] + first_boxes[:, 2:4] / 2
    moved = np.linalg.norm(cb[None, :, :] - ca[:, None, :], axis=2)      # (a, b) pixels
    reach = (1.0 + cfg.max_speed * np.maximum(gap, 0)) * last_boxes[:, 3:4]
    dist = 1.0 - feats @ feats.T
    ok = (gap > 0) & (gap <= cfg.max_gap) & (moved <= reach) & (dist <= cfg.max_distance)
    a_idx, b_idx = np.nonzero(ok)
    has_succ = np.zeros(n, bool)
    for k in np.argsort(dist[a_idx, b_idx], kind="stable"):             # candidate links, most similar first
        a, b = int(a_idx[k]), int(b_idx[k])
        if has_succ[a] or pred[b] >= 0:
            continue
        pred[b], pred_dist[b], has_succ[a] = a, dist[a, b], True
    return pred, pred_dist


def chain_roots(pred: np.ndarray) -> np.ndarray:
    """The first fragment of each fragment's chain (pred from link_fragments; chains go forward in time)."""
    root = np.arange(len(pred))
    for _ in range(len(pred)):                                           # pointer jumping; chains are short
        nxt = np.where(pred[root] >= 0, pred[root], root)
        if (nxt == root).all():
            break
        root = nxt
    return root
