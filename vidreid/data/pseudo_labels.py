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

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from .samplers import PKSampler


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
