"""Colour spaces and striped colour histograms: the appearance baseline of person re-identification.

Every function takes uint8 RGB frames (N, H, W, 3) and is vectorised over frames and pixels (np.bincount).

Colour spaces (each channel mapped to [0, 1] before binning, so `bins` equal-width bins cover the whole range):
  rgb    R, G, B / 255
  hsv    hue, saturation, value as MATLAB's / Python colorsys' rgb2hsv (hue in [0, 1), 0 for grey pixels)
  lab    CIE L*a*b* (sRGB, D65 white): L* / 100, (a* + 128) / 255, (b* + 128) / 255
  ycbcr  ITU-R BT.601 full range (JPEG / JFIF): Y, Cb, Cr / 255
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError

SPACES = ("rgb", "hsv", "lab", "ycbcr")


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) -> float (..., 3) hue, saturation, value in [0, 1] (hue 0 where saturation is 0)."""
    x = rgb.astype(np.float64) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = x.max(-1)
    c = v - x.min(-1)                                               # chroma
    s = np.where(v > 0, c / np.where(v > 0, v, 1), 0.0)
    safe = np.where(c > 0, c, 1)
    # the sextant of the dominant channel (ties: red before green before blue, as colorsys)
    h = np.where(v == r, ((g - b) / safe) % 6, np.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = np.where(c > 0, h / 6.0, 0.0)
    return np.stack([h % 1.0, s, v], -1)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) -> float (..., 3) in [0, 1]: BT.601 full-range Y, Cb, Cr (the JPEG transform) / 255."""
    x = rgb.astype(np.float64)
    m = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    y = x @ m.T + np.array([0.0, 128.0, 128.0])
    return np.clip(y / 255.0, 0.0, 1.0)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) sRGB -> float (..., 3): L* / 100, (a* + 128) / 255, (b* + 128) / 255 (D65, CIE 1976)."""
    x = rgb.astype(np.float64) / 255.0
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)     # sRGB gamma removed
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])                      # relative to the D65 white
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([np.clip(L / 100, 0, 1), np.clip((a + 128) / 255, 0, 1), np.clip((b + 128) / 255, 0, 1)], -1)


def to_space(rgb: np.ndarray, space: str) -> np.ndarray:
    """uint8 RGB (..., 3) -> float (..., 3) channels of `space` in [0, 1]."""
    if space == "rgb":
        return rgb.astype(np.float64) / 255.0
    if space == "hsv":
        return rgb_to_hsv(rgb)
    if space == "lab":
        return rgb_to_lab(rgb)
    if space == "ycbcr":
        return rgb_to_ycbcr(rgb)
    raise ConfigError(f"unknown colour space {space!r}; expected one of {', '.join(SPACES)}")


def quantize(channels: np.ndarray, bins: int) -> np.ndarray:
    """Values in [0, 1] -> bin indices 0 .. bins-1 (equal-width bins; 1.0 falls in the last one)."""
    return np.minimum((channels * bins).astype(np.int64), bins - 1)


def stripe_rows(height: int, stripes: int) -> np.ndarray:
    """(height,) stripe index of every image row: `stripes` horizontal bands of (almost) equal height, top first."""
    if not 1 <= stripes <= height:
        raise ConfigError(f"stripes must be between 1 and the image height {height}, got {stripes}")
    return (np.arange(height) * stripes) // height


def region_bounds(size: int, extent) -> tuple[int, int]:
    """(lo, hi) fractions of an image side -> pixel bounds [start, stop): rounded, at least one pixel wide."""
    lo, hi = (float(v) for v in extent)
    if not 0.0 <= lo < hi <= 1.0:
        raise ConfigError(f"a region's extent must be two fractions 0 <= lo < hi <= 1 of the box, got {list(extent)}")
    start = min(int(round(lo * size)), size - 1)
    return start, max(int(round(hi * size)), start + 1)


def crop_region(frames: np.ndarray, region_x=(0.0, 1.0), region_y=(0.0, 1.0)) -> np.ndarray:
    """(N, H, W, ...) -> the part of every frame between fractions region_x of its width and region_y of its height
    (a view, no copy): e.g. region_x=(0.385, 0.615), region_y=(0.15, 0.85) keeps the centre strip where a
    detector's loose box holds the person's body, not the pavement beside it."""
    x0, x1 = region_bounds(frames.shape[2], region_x)
    y0, y1 = region_bounds(frames.shape[1], region_y)
    return frames[:, y0:y1, x0:x1]


def region_size(height: int, width: int, region_x=(0.0, 1.0), region_y=(0.0, 1.0)) -> tuple[int, int]:
    """(h, w) of the region of a height x width frame."""
    x0, x1 = region_bounds(width, region_x)
    y0, y1 = region_bounds(height, region_y)
    return y1 - y0, x1 - x0


def stripe_histograms(frames: np.ndarray, spaces=("hsv",), stripes: int = 6, bins: int = 8,
                      joint: bool = False, weights: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB frames (N, H, W, 3) -> (N, stripes * len(spaces) * B) float32 histograms, B = 3 * bins per
    channel (default) or bins ** 3 with `joint` (one bin per combination of the three channels' bins, code
    (c0 * bins + c1) * bins + c2: e.g. hue, saturation and value together).

    Layout: stripe-major, then space, then channel, then bin. Each (stripe, space) block, i.e. the three channel
    histograms (or the joint histogram) of one stripe in one colour space, is L1-normalised (sums to 1), so
    stripes of different heights and images of different sizes compare. `weights` (N, H, W): each pixel counts
    this much (e.g. a foreground mask: 0 = background, left out); a block with no weight stays all zeros."""
    N, H, W, _ = frames.shape
    row_stripe = stripe_rows(H, stripes)                                     # (H,)
    first = (np.arange(N)[:, None, None] * stripes + row_stripe[None, :, None])   # (N, H, 1) block of a pixel
    width = bins ** 3 if joint else 3 * bins                                 # bins of one (stripe, space) block
    blocks = []
    for space in spaces:                                                     # loop over a handful of colour spaces
        q = quantize(to_space(frames, space), bins)                         # (N, H, W, 3) bin per channel
        # one flat bin id per (frame, stripe, [channel,] bin), counted at once
        if joint:
            ids = first * width + (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
        else:
            ids = (first[..., None] * 3 + np.arange(3)) * bins + q
        w = None if weights is None else np.broadcast_to(weights if joint else weights[..., None], ids.shape).ravel()
        counts = np.bincount(ids.ravel(), w, minlength=N * stripes * width).reshape(N, stripes, width)
        blocks.append(counts)
    h = np.stack(blocks, 2).astype(np.float64)                                # (N, stripes, spaces, width)
    h /= np.where(h.sum(-1, keepdims=True) > 0, h.sum(-1, keepdims=True), 1)
    return h.reshape(N, -1).astype(np.float32)
