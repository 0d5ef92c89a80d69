"""Tighter boxes for small people: re-run a detector at a larger scale inside a window around each box.

HOG's people detector (detectors.HogDetector) has a 64 x 128 window, so at a video's own resolution it returns no
box under ~128 px tall: people 70-120 px tall get boxes padded with background. Running it on the whole frame
upscaled 2x finds them (from ~64 px) but costs ~4x the time of a frame; refining each known box costs only the
window around it. A box is replaced by the detection found in its window (upscaled `upscale` times) that lies
mostly inside it (`min_inside` of the detection's area) and is at least `min_height` of its height, the highest
scored of those; boxes with no such detection are kept as they are (counted by the caller).
"""
from __future__ import annotations

import numpy as np


def window_of(box: np.ndarray, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """[x, y, w, h] -> (x0, y0, x1, y1) integer window: the box grown by `margin` of its size on every side, clipped
    to the frame."""
    x, y, w, h = (float(v) for v in box[:4])
    x0, y0 = max(int(np.floor(x - margin * w)), 0), max(int(np.floor(y - margin * h)), 0)
    x1, y1 = min(int(np.ceil(x + w + margin * w)), width), min(int(np.ceil(y + h + margin * h)), height)
    return x0, y0, x1, y1


def pick_inside(box: np.ndarray, detections: np.ndarray, min_inside: float = 0.8, min_height: float = 0.5
                ) -> np.ndarray | None:
    """The detection (rows [x, y, w, h, score], frame coordinates) to replace `box` with, or None: of those with at
    least `min_inside` of their area inside the box and `min_height` of its height, the highest scored."""
    if not len(detections):
        return None
    d = np.asarray(detections, np.float64)
    x, y, w, h = (float(v) for v in box[:4])
    iw = np.clip(np.minimum(d[:, 0] + d[:, 2], x + w) - np.maximum(d[:, 0], x), 0, None)
    ih = np.clip(np.minimum(d[:, 1] + d[:, 3], y + h) - np.maximum(d[:, 1], y), 0, None)
    inside = iw * ih / np.maximum(d[:, 2] * d[:, 3], 1e-9)
    ok = (inside >= min_inside) & (d[:, 3] >= min_height * h)
    if not ok.any():
        return None
    return d[ok][np.argmax(d[ok, 4]), :4]


def refine_frame(frame: np.ndarray, boxes: np.ndarray, detector, margin: float = 0.25, **pick) -> tuple[np.ndarray,
                                                                                                    np.ndarray]:
    """One frame (H, W, 3) and its boxes (n, 4) -> (refined boxes (n, 4), replaced (n,) bool). `detector` is run on
    each box's window (a HogDetector with upscale 2 finds people from ~64 px tall)."""
    H, W = frame.shape[:2]
    out, replaced = np.asarray(boxes, np.float64)[:, :4].copy(), np.zeros(len(boxes), bool)
    for i, box in enumerate(out.copy()):                       # a detector call per box: a handful per frame
        x0, y0, x1, y1 = window_of(box, margin, W, H)
        found = detector.detect(np.ascontiguousarray(frame[y0:y1, x0:x1]), 0)
        if len(found):
            found = found.astype(np.float64)
            found[:, 0] += x0
            found[:, 1] += y0
        best = pick_inside(box, found, **pick)
        if best is not None:
            out[i], replaced[i] = best, True
    return out, replaced
