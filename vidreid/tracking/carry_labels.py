"""Carry hand-checked identity labels from one set of tracks to another cut from the same video (e.g. tracks of a
detector run at another scale, with tighter boxes): each new track takes the label of the labelled old segment it
overlaps most, in time and in box overlap, and the cases a person should look at are listed, not guessed.

Score of (new track, old segment) = the sum over the frames both hold of the IoU of their boxes: long overlaps in
time with well-aligned boxes score high. A new track is `ambiguous` (label 0, listed with the reason) when
  * it overlaps no labelled segment (no score),
  * the best segment covers less than `min_cover` of the new track's frames (the rest is unlabelled footage, or an
    excluded segment: an identity switch, a false detection),
  * a segment of another identity, or an excluded one, scores at least `rival` times the best (two people cross).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tracker import iou_matrix


@dataclass
class Carried:
    label: int             # the identity carried over (>= 1), 0 when ambiguous
    score: float           # the best segment's sum of IoU over shared frames
    cover: float           # share of the new track's frames that the best segment also holds
    reason: str            # why it is ambiguous ("" when labelled)


def carry_labels(old_frames: np.ndarray, old_boxes: np.ndarray, old_labels: np.ndarray, new_frames: np.ndarray,
                 new_boxes: np.ndarray, new_tracks: np.ndarray, min_cover: float = 0.5, rival: float = 0.5,
                 min_iou: float = 0.2) -> dict[int, Carried]:
    """Old rows: frame (M,), box [x, y, w, h] (M, 4), label (M,) of the segment holding the row: identity >= 1,
    0 for an excluded segment (never carried, but it competes). New rows: frame (N,), box (N, 4), track id (N,).
    -> {new track id: Carried}. Pairs of rows on one frame with IoU below `min_iou` do not count (other people)."""
    old_frames, new_frames = np.asarray(old_frames), np.asarray(new_frames)
    old_labels, new_tracks = np.asarray(old_labels, np.int64), np.asarray(new_tracks)
    same = new_frames[:, None] == old_frames[None, :]                       # (N, M) rows of one frame
    iou = np.where(same, iou_matrix(new_boxes, old_boxes), 0.0)
    iou[iou < min_iou] = 0.0
    tracks, track_of_row = np.unique(new_tracks, return_inverse=True)
    labels, label_of_row = np.unique(old_labels, return_inverse=True)
    # (tracks, labels): summed IoU, and how many of the track's frames each label shares with a counted overlap
    flat = (track_of_row[:, None] * len(labels) + label_of_row[None, :])    # (N, M)
    score = np.bincount(flat.ravel(), weights=iou.ravel(), minlength=len(tracks) * len(labels))
    score = score.reshape(len(tracks), len(labels))
    hit = np.zeros((len(new_frames), len(labels)), bool)                    # row i shares a frame with label j
    rows, cols = np.nonzero(iou > 0)
    hit[rows, label_of_row[cols]] = True
    shared = np.zeros((len(tracks), len(labels)))
    np.add.at(shared, track_of_row, hit)
    length = np.bincount(track_of_row, minlength=len(tracks))
    out = {}
    for t, track in enumerate(tracks.tolist()):                             # loop over the few dozen tracks
        order = np.argsort(score[t])[::-1]
        best = order[0]
        cover = float(shared[t, best] / length[t])
        label, reason = int(labels[best]), ""
        runner = score[t, order[1]] if len(order) > 1 else 0.0
        if score[t, best] <= 0:
            reason = "overlaps no labelled segment"
        elif label == 0:
            reason = "overlaps an excluded segment most"
        elif cover < min_cover:
            reason = f"the best segment (identity {label}) holds only {100 * cover:.0f} % of its frames"
        elif runner >= rival * score[t, best]:
            other = int(labels[order[1]])
            reason = (f"identity {label} and {f'identity {other}' if other else 'an excluded segment'} overlap it "
                      f"alike ({score[t, best]:.1f} against {runner:.1f})")
        out[track] = Carried(0 if reason else label, float(score[t, best]), cover, reason)
    return out
