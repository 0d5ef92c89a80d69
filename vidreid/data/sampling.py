"""Clip samplers: which frames of a tracklet form the clip(s) a model sees.

Pure index functions over a tracklet length: `sample_clip(length, T, mode, train, rng)` returns an int64 array of
shape (num_clips, T) of frame indices into the tracklet, built with numpy ops (no loop over frames). Randomness comes
only from the `numpy.random.Generator` passed in, so a caller that seeds it reproduces the clip exactly.

Modes (see docs / shared spec "Clip sampling"):
- `consecutive` — Gao & Nevatia, "Revisiting Temporal Modeling for Video-based Person ReID" (BMVC 2018).
  train: T consecutive frames from a uniformly random start in [0, L-T]; test: the first T frames.
  Tracklets shorter than T are padded by *cycling* their frames (0,1,2,0,1,...), as in Gao & Nevatia's code.
- `rrs` — restricted random sampling, Liu et al., "Spatially and Temporally Efficient Non-local Attention Network
  for Video-based Person Re-Identification" (BMVC 2019). The tracklet is cut into T equal chunks, chunk i =
  [floor(i*L/T), floor((i+1)*L/T)) (sizes differ by at most one); train: one uniformly random frame per chunk;
  test: the first frame of each chunk. Tracklets shorter than T are padded by repeating the last frame.
- `evenly` — T frames at the fixed stride s = L // T (torchreid's `evenly`): test: 0, s, 2s, ...; train: the same
  grid shifted by one random offset in [0, s) so every frame can be seen. Short tracklets repeat the last frame.
- `dense` (test only) — every frame, in non-overlapping clips of T (Gao & Nevatia's test protocol): ceil(L/T) clips;
  the last, incomplete clip is padded by cycling its own frames (e.g. L=10, T=4: [8, 9, 8, 9]), as in their code.
- `all` (test only) — the whole tracklet as one clip: shape (1, L); T is ignored.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

TRAIN_MODES = ("consecutive", "rrs", "evenly")
TEST_MODES = ("consecutive", "rrs", "evenly", "dense", "all")


def check_mode(mode: str, train: bool) -> None:
    """ConfigError unless `mode` is a valid train (or test) sampling mode."""
    valid = TRAIN_MODES if train else TEST_MODES
    if mode not in valid:
        kind = "train_sampling" if train else "test_sampling"
        raise ConfigError(f"data.{kind}={mode!r} is not a valid {'training' if train else 'test'} clip sampling; "
                          f"expected one of {', '.join(valid)}")


def clip_counts(lengths, T: int, mode: str) -> np.ndarray:
    """Number of clips `sample_clip(length, T, mode, train=False)` returns, for an array of lengths (vectorised)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if mode == "dense":
        return -(-lengths // T)                                   # ceil(L / T)
    return np.ones_like(lengths)


def _pad_last(length: int, T: int) -> np.ndarray:
    return np.minimum(np.arange(T, dtype=np.int64), length - 1)[None]  # 0..L-1 then L-1 repeated


def _consecutive(length: int, T: int, train: bool, rng) -> np.ndarray:
    if length < T:
        return (np.arange(T, dtype=np.int64) % length)[None]     # cycle short tracklets
    start = int(rng.integers(0, length - T + 1)) if train else 0
    return (start + np.arange(T, dtype=np.int64))[None]


def _rrs(length: int, T: int, train: bool, rng) -> np.ndarray:
    if length < T:
        return _pad_last(length, T)
    bounds = (np.arange(T + 1, dtype=np.int64) * length) // T   # chunk i = [bounds[i], bounds[i+1])
    if not train:
        return bounds[None, :-1]
    return rng.integers(bounds[:-1], bounds[1:]).astype(np.int64)[None]  # one random frame per chunk


def _evenly(length: int, T: int, train: bool, rng) -> np.ndarray:
    if length < T:
        return _pad_last(length, T)
    stride = length // T
    offset = int(rng.integers(0, stride)) if train else 0
    return (offset + stride * np.arange(T, dtype=np.int64))[None]


def _dense(length: int, T: int) -> np.ndarray:
    starts = np.arange(0, length, T, dtype=np.int64)              # (num_clips,)
    remaining = np.minimum(T, length - starts)                    # T for full clips, fewer for the last one
    return starts[:, None] + np.arange(T, dtype=np.int64)[None] % remaining[:, None]  # (num_clips, T)


def sample_clip(length: int, T: int, mode: str, train: bool, rng: np.random.Generator | None = None) -> np.ndarray:
    """Frame indices of the clip(s) taken from a tracklet of `length` frames: int64 array (num_clips, T).

    Training modes return one clip; `dense` returns ceil(L/T) clips; `all` returns (1, L). `rng` is required when
    train=True (the only random case).
    """
    check_mode(mode, train)
    length = int(length)
    if length <= 0:
        raise ValueError(f"cannot sample a clip from an empty tracklet (length {length})")
    if mode == "all":
        return np.arange(length, dtype=np.int64)[None]
    T = int(T)
    if T <= 0:
        raise ConfigError(f"clip length T must be positive, got {T}")
    if train and rng is None:
        raise ValueError("sample_clip(train=True) needs a numpy Generator (rng) so that sampling is reproducible")
    if mode == "consecutive":
        return _consecutive(length, T, train, rng)
    if mode == "rrs":
        return _rrs(length, T, train, rng)
    if mode == "evenly":
        return _evenly(length, T, train, rng)
    return _dense(length, T)
