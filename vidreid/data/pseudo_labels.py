"""Labels for unlabeled footage, from tracking alone (`vidreid adapt`): TAUDL (Li, Zhu & Gong, ECCV 2018,
"Unsupervised Person Re-identification by Deep Learning Tracklet Association") and UTAL (TPAMI 2019).

What tracking tells without anyone labelling:
- every frame of one track shows one person: a track (all the pieces `vidreid tracklets` cut it into, and the
  fragments it joined by appearance) is one pseudo-identity, numbered per camera (`pseudo_labels`);
- two tracks of one camera that are both seen in the same frame are two different people: a *known negative* pair
  (`known_negatives`). Two tracks of one camera that never share a frame may be one person who left and came back,
  and tracks of different cameras may be anyone: neither is a known negative.
`CooccurrenceSampler` draws PK batches whose identities are, as far as possible, tracks seen together, so that
the batch-hard triplet loss has known negatives to mine (the hardest ones: people in the same place at the same
time, under the same light).
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from .samplers import PKSampler
from .types import VideoReIDDataset

PIECE = re.compile(r"t(\d+)(?:-\d+)?\Z")           # tracking.cut.tracklet_names: t0007, t0007-2 are track 7
FRAME = re.compile(r"f(\d+)\.[A-Za-z]+\Z")          # crops named by video frame number: f000123.jpg


def track_number(folder_name: str) -> int | None:
    """The track a tracklet folder named by `vidreid tracklets` belongs to (t0007-2 -> 7); None for other names."""
    m = PIECE.match(folder_name)
    return int(m.group(1)) if m else None


def frame_numbers(paths: Sequence[str]) -> np.ndarray:
    """Video frame numbers of crops named f<number>.<ext> (as `vidreid tracklets` writes them) -> (L,) int64;
    empty when any name is not of that form (frame indices within a tracklet, e.g. MARS's F001, are not times:
    such tracklets get no known negative)."""
    found = [FRAME.match(os.path.basename(p)) for p in paths]
    if not all(found):
        return np.zeros(0, np.int64)
    return np.array([int(m.group(1)) for m in found], np.int64)


def unlabeled_view(dataset: VideoReIDDataset) -> VideoReIDDataset:
    """A dataset's train split with its labels replaced by pseudo-labels from tracking: a tracklet folder named like
    `vidreid tracklets` names them belongs to its track, any other is a track of its own; frame numbers from f<n>
    file names. Query and gallery are kept (a labelled evaluation set of the same footage, if any). meta gets
    "frames", "names", "class_camera" (what a "tracklets" dataset already has: returned as it is)."""
    if "class_camera" in dataset.meta:
        return dataset
    names = [os.path.dirname(t.frames[0]) if t.frames else "" for t in dataset.train]
    own = iter(range(10 ** 9, 2 * 10 ** 9))                    # track ids of tracklets not named by vidreid
    tracks = [n if n is not None else next(own) for n in (track_number(os.path.basename(f)) for f in names)]
    labels, class_camera = pseudo_labels([t.camid for t in dataset.train], tracks)
    train = [t._replace(pid=int(p)) for t, p in zip(dataset.train, labels.tolist())]
    meta = {**dataset.meta, "frames": [frame_numbers(t.frames) for t in dataset.train], "names": names,
            "class_camera": class_camera}
    return dataclasses.replace(dataset, train=train, meta=meta)


def pseudo_labels(camids: Sequence[int], tracks: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Tracklets (camera, track id within that camera) -> (labels (N,) int64: one class per distinct (camera,
    track), numbered 0..C-1 in (camera, track) order; class_camera (C,) int64: the camera of each class)."""
    cams = np.asarray(camids, np.int64)
    trk = np.asarray(tracks, np.int64)
    pairs, labels = np.unique(np.stack([cams, trk], 1), axis=0, return_inverse=True)   # (C, 2), (N,)
    return labels.reshape(-1).astype(np.int64), pairs[:, 0].astype(np.int64)


def known_negatives(labels: np.ndarray, class_camera: np.ndarray, frames: Sequence[np.ndarray]) -> np.ndarray:
    """(C, C) bool: classes a != b of one camera whose tracklets share at least one frame number (both people are
    in the picture at once, so they are two people). `frames[i]` holds tracklet i's frame numbers.

    One sparse incidence matrix M (classes x (camera, frame)) gives every pair at once: (M M^T)[a, b] counts the
    frames a and b share; a (camera, frame) column never mixes cameras."""
    labels, class_camera = np.asarray(labels, np.int64), np.asarray(class_camera, np.int64)
    C = len(class_camera)
    lengths = np.fromiter((len(f) for f in frames), np.int64, count=len(frames))
    frame_no = np.concatenate([np.asarray(f, np.int64) for f in frames]) if len(frames) else np.zeros(0, np.int64)
    cls = np.repeat(labels, lengths)                                      # (sum L,) class of each frame
    cam = class_camera[cls]
    keys, column = np.unique(np.stack([cam, frame_no], 1), axis=0, return_inverse=True)
    m = sp.csr_matrix((np.ones(len(cls), np.int32), (cls, column.reshape(-1))), shape=(C, len(keys)))
    m.data[:] = 1                                                         # duplicates summed: presence, not count
    shared = (m @ m.T).toarray() > 0                                      # (C, C)
    np.fill_diagonal(shared, False)
    return shared


class CooccurrenceSampler(PKSampler):
    """PK batches (P tracks x K clips) whose P tracks are, where the footage allows, seen together: each batch
    starts from a random track with groups left, adds up to P - 1 of its known negatives (random order), and fills
    the rest with random tracks. Everything else (K-groups, passes, epochs, resuming mid-epoch, ranks) is
    PKSampler's, so the batches are a function of (seed, epoch) like any training run's."""

    def __init__(self, pids: Sequence[int], negatives: np.ndarray, num_instances: int, batch_size: int,
                 seed: int = 0, rank: int = 0, world_size: int = 1):
        super().__init__(pids, num_instances, batch_size, seed, rank, world_size)
        self.negatives = np.asarray(negatives, bool)[np.ix_(self.unique_pids, self.unique_pids)]  # (groups, groups)

    def choose_identities(self, left: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        available = left > 0
        seed_id = rng.choice(np.flatnonzero(available))
        together = np.flatnonzero(available & self.negatives[seed_id])
        together = rng.permutation(together)[:self.P - 1]
        rest = available.copy()
        rest[seed_id] = False
        rest[together] = False
        fill = rng.choice(np.flatnonzero(rest), self.P - 1 - len(together), replace=False)
        return np.concatenate([[seed_id], together, fill]).astype(np.int64)
