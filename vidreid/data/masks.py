"""Foreground masks of crops, and background suppression (`data.background: suppress`).

A crop's mask is the file <tracklet folder>/masks/<frame name>.png (uint8, 0 = background, 255 = foreground), as
`vidreid tracklets --masks` writes it (vidreid/data/background.py). Loaders list a tracklet folder's image files,
not its subfolders, so masks are never taken for frames.

Suppression replaces every background pixel by the normalisation's mean colour (round(255 * data.mean), 124/116/104
for ImageNet's), i.e. by 0 after normalisation: the network sees a flat "nothing" where the scene was, as random
erasing does (Zhong et al., AAAI 2020 fill with the mean for the same reason). The mask is resized to the clip
(bilinear: soft at the figure's edge) and the pixels blended. A frame with no mask file is left as it is, so a
dataset without masks (a moving camera, SynthPed, MARS) reads exactly as with `background: keep`.
"""
from __future__ import annotations

import os

import numpy as np

MASKS = "masks"           # the masks' subfolder inside a tracklet's crop folder


def mask_path(frame_path: str) -> str:
    """The mask file of a crop: <folder>/masks/<frame name>.png."""
    folder, name = os.path.split(frame_path)
    return os.path.join(folder, MASKS, os.path.splitext(name)[0] + ".png")


def read_masks(frame_paths, size: tuple[int, int]) -> np.ndarray | None:
    """float32 (T, h, w) masks in [0, 1] of a clip's frames at `size` (bilinear), 1 where a frame has no mask file;
    None when no frame of the clip has one (the caller's fast path: nothing to do)."""
    import os

    import cv2
    out = None
    for i, p in enumerate(frame_paths):                                  # loop over a clip's few frames
        path = mask_path(p)
        # a stat first: OpenCV logs a warning line for every missing file, i.e. every frame of footage without masks
        m = cv2.imread(path, cv2.IMREAD_GRAYSCALE) if os.path.isfile(path) else None
        if m is None:
            continue
        if out is None:
            out = np.ones((len(frame_paths), *size), np.float32)
        if m.shape != tuple(size):
            m = cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        out[i] = m / np.float32(255.0)
    return out


def fill_colour(mean) -> np.ndarray:
    """uint8 (3,) the colour background pixels take: the normalisation mean in grey levels."""
    return np.round(np.asarray(mean, np.float64) * 255.0).astype(np.uint8)


def suppress_background(clip: np.ndarray, frame_paths, mean) -> np.ndarray:
    """uint8 (T, H, W, 3) clip of the frames `frame_paths` -> the clip with each frame's background (mask 0) set to
    fill_colour(mean), blended at soft edges; the clip itself where no frame has a mask."""
    masks = read_masks(frame_paths, clip.shape[1:3])
    if masks is None:
        return clip
    m = masks[..., None]                                                 # (T, H, W, 1)
    fill = fill_colour(mean).astype(np.float32)
    return np.round(clip * m + fill * (1.0 - m)).astype(np.uint8)
