"""Foreground masks for a fixed camera: a temporal-median background model of the video, and each crop's mask.

For a camera that does not move, the median of a few dozen frames spread over the video is the empty scene wherever
no one stands still for more than half of them (the classic temporal-median background, e.g. Cucchiara et al.,
"Detecting moving objects, ghosts, and shadows in video streams", TPAMI 2003). A pixel of a frame is foreground
where it differs from that background by more than `threshold` grey levels in some channel; a morphological opening
removes speckle (sensor noise, JPEG blocks) and a closing fills small holes inside the figure.

A mask is cut from the frame's mask with the same padded box and resize as the crop (`cut.crop`), so crop pixel
(i, j) and mask pixel (i, j) are the same scene point. Masks are written beside the crops as
<tracklet>/masks/f000123.png (0 = background, 255 = foreground; `vidreid.data.masks.mask_path`), where loaders that list a tracklet
folder's image files do not see them. Everything that reads masks falls back to "all foreground" where a frame has
no mask (a moving camera, a dataset without masks): vidreid.data.masks.
"""
from __future__ import annotations

import functools

import numpy as np

from .masks import MASKS, mask_path  # noqa: F401  (where masks are written: one rule, in the data package)
from .video import crop_mask  # noqa: F401  (cut like the crop: one copy, beside `crop`)

SAMPLES = 41              # frames the background median is taken over (spread evenly over the video)


def median_background(frames: np.ndarray) -> np.ndarray:
    """uint8 frames (N, H, W, C) of one fixed camera -> uint8 (H, W, C) their per-pixel temporal median."""
    if len(frames) == 0:
        raise ValueError("a background needs at least one frame")
    return np.median(frames, axis=0).round().astype(np.uint8)


def sample_background(video: str, start: int = 1, stop: int | None = None, samples: int = SAMPLES) -> np.ndarray:
    """The temporal-median background of frames start..stop of a video, from `samples` frames spread evenly."""
    from .video import iter_frames, probe_video
    last = stop or probe_video(video).frame_count or start
    every = max(1, (last - start + 1) // samples)
    frames = [f for _, f in iter_frames(video, every, start, last)]      # the stream hands out one frame at a time
    return median_background(np.stack(frames))


def foreground_mask(frame: np.ndarray, background: np.ndarray, threshold: int = 30, open_px: int = 3,
                    close_px: int = 7) -> np.ndarray:
    """uint8 (H, W, C) frame and background -> bool (H, W): foreground where some channel differs by > threshold,
    opened with an open_px square (speckle out) then closed with a close_px square (holes filled)."""
    import cv2
    d = cv2.absdiff(frame, background)                   # |frame - background| per channel, exact in uint8
    # the channel maximum as elementwise maxima: numpy's max over a last axis of 3 is several times slower (a
    # reduction over 3 values per pixel), and this runs on every frame of a video; tests/test_masks.py checks both
    # forms give the same mask
    diff = functools.reduce(np.maximum, [d[..., c] for c in range(d.shape[-1])]) if d.ndim == 3 else d
    mask = (diff > threshold).astype(np.uint8)
    if open_px > 1:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((open_px, open_px), np.uint8))
    if close_px > 1:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close_px, close_px), np.uint8))
    return mask.astype(bool)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
