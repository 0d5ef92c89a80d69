"""LOMO, Local Maximal Occurrence (Liao, Hu, Zhu & Li, "Person Re-identification by Local Maximal Occurrence
Representation and Metric Learning", CVPR 2015), vectorised over frames and pixels.

Per frame (uint8 RGB, (H, W, 3)):
  1. colour: (optional) Retinex, then HSV quantised to 8 x 8 x 8 joint bins (code = V*64 + S*8 + H);
     texture: SILTP (scale-invariant local ternary pattern, Liao et al. CVPR 2010) of the grey image with tau = 0.3,
     4 neighbours at distance R, for R = 3 and R = 5 (3^4 = 81 codes each), the border replicated.
  2. histograms of 10 x 10 windows sliding with step 5; of all windows at the same height, the bin-wise maximum is
     kept ("local maximal occurrence": robust to viewpoint changes along the horizontal axis).
  3. three scales: between scales, 2 x 2 average pooling (of the quantised HSV bin indices, floored, and of the grey
     image, as the authors' code does); the odd last row / column is dropped.
  4. each of the three parts (HSV, SILTP R=3, SILTP R=5) is transformed by log(1 + x) and L2-normalised.

Dimension: (8^3 + 2 * 3^4) * (rows of windows over the 3 scales). For 128 x 48 (the paper's size) and 128 x 64
alike, 24 + 11 + 5 = 40 rows: 674 * 40 = 26,960, the paper's figure (the width does not enter it).

Retinex: the paper applies multi-scale Retinex with colour restoration (MSRCR; Jobson, Rahman & Woodell, IEEE TIP
1997) before the HSV histograms. `retinex()` here is our MSRCR: Gaussian surrounds of sigma 5 and 20, the two
single-scale outputs averaged, colour restoration beta * log(1 + alpha * I_c / sum_c I_c) with alpha = 125,
beta = 46, then a 1 % / 99 % percentile stretch to 0..255. It follows the method, not the authors' Retinex.m
line by line (their gains, offsets and clipping differ), so LOMO numbers can differ slightly from theirs.
"""
from __future__ import annotations

import numpy as np

from .colour import quantize, rgb_to_hsv

HSV_BINS = 8                      # per channel: 8 x 8 x 8 joint bins
SILTP_TAU = 0.3
SILTP_RADII = (3, 5)
NUM_SCALES = 3
BLOCK, STEP = 10, 5


def retinex(frames: np.ndarray, sigmas=(5.0, 20.0), alpha: float = 125.0, beta: float = 46.0,
            clip: float = 1.0) -> np.ndarray:
    """uint8 RGB (N, H, W, 3) -> uint8 (N, H, W, 3): multi-scale Retinex with colour restoration (see the module
    docstring for what exactly)."""
    from scipy.ndimage import gaussian_filter
    x = frames.astype(np.float64) + 1.0                                     # +1: log of black pixels
    log_x = np.log(x)
    msr = np.mean([log_x - np.log(gaussian_filter(x, sigma=(0, s, s, 0), mode="nearest")) for s in sigmas], 0)
    restoration = beta * np.log1p(alpha * x / x.sum(-1, keepdims=True))
    out = msr * restoration                                                  # (N, H, W, 3)
    lo = np.percentile(out, clip, axis=(1, 2, 3), keepdims=True)
    hi = np.percentile(out, 100 - clip, axis=(1, 2, 3), keepdims=True)
    out = (out - lo) / np.maximum(hi - lo, 1e-12)
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def grey(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB (N, H, W, 3) -> float (N, H, W) in [0, 1]: ITU-R BT.601 luma rounded to 8 bits (MATLAB rgb2gray)."""
    y = frames.astype(np.float64) @ np.array([0.2989, 0.5870, 0.1140])
    return np.round(y) / 255.0


def siltp(image: np.ndarray, tau: float = SILTP_TAU, radius: int = 3) -> np.ndarray:
    """Grey images (N, H, W) -> (N, H, W) int codes 0 .. 80: for the neighbours at `radius` to the right, above,
    left and below (digits 1, 3, 9, 27), digit 1 when the neighbour is below (1 - tau) * centre, 2 when above
    (1 + tau) * centre, else 0. Borders are replicated."""
    R = radius
    p = np.pad(image, ((0, 0), (R, R), (R, R)), mode="edge")
    right, up = p[:, R:-R, 2 * R:], p[:, :-2 * R, R:-R]
    left, down = p[:, R:-R, :-2 * R], p[:, 2 * R:, R:-R]
    lower, upper = (1 - tau) * image, (1 + tau) * image
    code = np.zeros(image.shape, np.int64)
    for weight, n in ((1, right), (3, up), (9, left), (27, down)):           # 4 neighbours, array ops each
        code += weight * ((n < lower).astype(np.int64) + 2 * (n > upper))
    return code


def max_occurrence(codes: np.ndarray, num_bins: int, block: int = BLOCK, step: int = STEP) -> np.ndarray:
    """Codes (N, h, w) -> (N, rows, num_bins): histograms of `block` x `block` windows every `step` pixels, and of
    the windows of one row (same top edge) the bin-wise maximum. rows = (h - block) // step + 1."""
    N, h, w = codes.shape
    tops, lefts = np.arange(0, h - block + 1, step), np.arange(0, w - block + 1, step)
    nR, nC = len(tops), len(lefts)
    if nR == 0 or nC == 0:
        return np.zeros((N, 0, num_bins))
    d = np.arange(block)
    win = codes[:, (tops[:, None, None, None] + d[None, None, :, None]),
                (lefts[None, :, None, None] + d[None, None, None, :])]      # (N, nR, nC, block, block)
    window_id = (np.arange(N)[:, None, None] * nR + np.arange(nR)[None, :, None]) * nC + np.arange(nC)
    ids = window_id[..., None, None] * num_bins + win
    hist = np.bincount(ids.ravel(), minlength=N * nR * nC * num_bins).reshape(N, nR, nC, num_bins)
    return hist.max(2)


def pool2(x: np.ndarray) -> np.ndarray:
    """(N, h, w, ...) -> (N, h // 2, w // 2, ...): 2 x 2 average (an odd last row / column dropped)."""
    N, h, w = x.shape[:3]
    x = x[:, :h - h % 2, :w - w % 2]
    return x.reshape(N, h // 2, 2, w // 2, 2, *x.shape[3:]).mean((2, 4))


def _log_l2(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenated per-row histograms (N, ...) -> log(1 + x), L2-normalised over the whole part."""
    x = np.log1p(np.concatenate([p.reshape(len(p), -1) for p in parts], 1))
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def lomo_dim(height: int, width: int, num_scales: int = NUM_SCALES, block: int = BLOCK, step: int = STEP,
             hsv_bins: int = HSV_BINS, radii=SILTP_RADII) -> int:
    """Length of the LOMO feature of an image of height x width."""
    rows, h, w = 0, height, width
    for _ in range(num_scales):
        if h >= block and w >= block:
            rows += (h - block) // step + 1
        h, w = h // 2, w // 2
    return rows * (hsv_bins ** 3 + len(radii) * 81)


def lomo(frames: np.ndarray, use_retinex: bool = True, num_scales: int = NUM_SCALES, hsv_bins: int = HSV_BINS,
         tau: float = SILTP_TAU, radii=SILTP_RADII, block: int = BLOCK, step: int = STEP) -> np.ndarray:
    """uint8 RGB frames (N, H, W, 3) -> (N, lomo_dim(H, W)) float32 LOMO features: [HSV | SILTP R=3 | SILTP R=5],
    each part log(1 + x) then L2-normalised."""
    colour = retinex(frames) if use_retinex else frames
    hsv = quantize(rgb_to_hsv(colour), hsv_bins).astype(np.float64)           # (N, H, W, 3) bin indices
    g = grey(frames)                                                           # texture from the original image
    hsv_rows, siltp_rows = [], {r: [] for r in radii}
    for scale in range(num_scales):                                            # 3 scales
        if scale:
            hsv, g = np.floor(pool2(hsv)), pool2(g)
        if min(g.shape[1:]) < block:
            break
        codes = (hsv[..., 2] * hsv_bins + hsv[..., 1]) * hsv_bins + hsv[..., 0]   # V, S, H joint bin
        hsv_rows.append(max_occurrence(codes.astype(np.int64), hsv_bins ** 3, block, step))
        for r in radii:                                                        # 2 radii
            siltp_rows[r].append(max_occurrence(siltp(g, tau, r), 81, block, step))
    parts = [_log_l2(hsv_rows)] + [_log_l2(siltp_rows[r]) for r in radii]
    return np.concatenate(parts, 1).astype(np.float32)
