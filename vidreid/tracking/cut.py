"""Tracks -> tracklets: the rules that turn a tracker's output into re-ID gallery tracklets, and the crops.

A track is cut where it has a gap of more than `max_gap` frames (the person was not seen: a crop sequence should not
jump), boxes shorter than `min_height` pixels are dropped first (too few pixels to re-identify), and pieces with fewer
than `min_len` boxes are dropped. Each box is padded to the model's aspect (width / height) around its centre, so a
crop is never stretched; the part of a padded box outside the frame is filled with black.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.video import crop, pad_to_aspect  # noqa: F401  (the crop geometry lives with the video reader)


@dataclass
class CutConfig:
    min_len: int = 8               # boxes a tracklet needs (after dropping tiny ones)
    max_gap: int = 10              # a longer gap (in video frames) between two boxes of a track starts a new tracklet
    min_height: int = 48           # boxes shorter than this (pixels) are dropped
    crop_height: int = 256         # crops are written at this size (MARS: 256 x 128); its aspect pads the boxes
    crop_width: int = 128


def cut_tracks(tracks: np.ndarray, cfg: CutConfig) -> tuple[np.ndarray, np.ndarray]:
    """tracks (K, 7) [frame, id, x, y, w, h, score] -> (rows kept (k, 7) sorted by (id, frame), piece number (k,)
    counting 1, 2, ... within each track id)."""
    t = tracks[np.lexsort((tracks[:, 0], tracks[:, 1]))] if len(tracks) else np.zeros((0, 7))
    t = t[t[:, 5] >= cfg.min_height]
    if not len(t):
        return t, np.zeros(0, np.int64)
    new_piece = np.ones(len(t), bool)
    new_piece[1:] = (t[1:, 1] != t[:-1, 1]) | (t[1:, 0] - t[:-1, 0] > cfg.max_gap)
    piece = np.cumsum(new_piece) - 1                                   # global piece index
    keep = np.bincount(piece)[piece] >= cfg.min_len
    t, new_piece, piece = t[keep], new_piece[keep], piece[keep]
    if not len(t):
        return t, np.zeros(0, np.int64)
    # number the kept pieces within their track: 1, 2, ...
    starts = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]])
    track_of_start = t[starts, 1]
    first_of_track = np.r_[True, track_of_start[1:] != track_of_start[:-1]]
    group = np.cumsum(first_of_track) - 1
    number = np.arange(len(starts)) - np.flatnonzero(first_of_track)[group] + 1
    lengths = np.diff(np.r_[starts, len(t)])
    return t, np.repeat(number, lengths)


def tracklet_names(track_ids: np.ndarray, pieces: np.ndarray, pieces_per_track: dict | None = None) -> list[str]:
    """'t0007' for a track cut into one piece, 't0007-2' for the second piece of a track cut into several."""
    ids = track_ids.astype(np.int64)
    many = {}
    for i, p in zip(ids.tolist(), pieces.tolist()):                   # loop over tracklets (not frames)
        many[i] = max(many.get(i, 0), p)
    return [f"t{i:04d}" if many[i] == 1 else f"t{i:04d}-{p}" for i, p in zip(ids.tolist(), pieces.tolist())]
