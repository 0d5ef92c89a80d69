"""Camera-style (photometric) augmentation of a training clip: what changes between two real cameras.

Real cameras differ in white balance, exposure, tone curve (gamma), contrast, colour saturation, focus and
compression; a network trained on one synthetic camera pipeline learns that pipeline's colours. Jittering them per
clip (one draw for all frames of the clip, so motion cues are untouched) asks the network for features that survive
those changes: the colour-constancy augmentation of domain-generalisable re-ID (e.g. Jia et al., "Frustratingly
Easy Person Re-Identification", BMVC 2019, and the colour jitter of Zhou et al.'s OSNet-AIN, ICCV 2019).

Every op takes and returns a float32 clip (T, H, W, 3) in grey levels [0, 255] and works on the whole clip at once
(no loop over frames or pixels). `PhotometricJitter` draws one set of parameters from the item's numpy Generator,
always the same number of draws in the same order, so a seeded Generator reproduces the clip; it runs on the uint8
clip BEFORE the geometric `ClipTransform`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simplejpeg
from scipy import ndimage

from ..errors import ConfigError

F32 = np.float32
# ITU-R BT.601 luma weights (what JPEG and most camera pipelines use for "grey")
LUMA = np.array([0.299, 0.587, 0.114], F32)
# RGB <-> YIQ (NTSC): hue is the angle of the (I, Q) chroma vector, so a hue shift is a rotation in that plane
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.596, -0.274, -0.322],
                       [0.211, -0.523, 0.312]], F32)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ.astype(np.float64)).astype(F32)


def white_balance(x: np.ndarray, gain) -> np.ndarray:
    """Per-channel gain (3,) (white balance and exposure): x * gain, saturating at 255 like a sensor."""
    return np.clip(x * np.asarray(gain, F32), 0.0, 255.0)


def gamma_curve(x: np.ndarray, gamma: float) -> np.ndarray:
    """Tone curve 255 * (x / 255) ** gamma (x in [0, 255]): gamma < 1 lifts the shadows, > 1 darkens them."""
    return F32(255.0) * np.power(np.clip(x, 0.0, 255.0) / F32(255.0), F32(gamma))


def contrast(x: np.ndarray, factor: float) -> np.ndarray:
    """Scale the distance to each frame's mean grey level by `factor` (torchvision's adjust_contrast)."""
    mean = (x @ LUMA).mean(axis=(1, 2), keepdims=True)[..., None]                      # (T, 1, 1, 1)
    return mean + F32(factor) * (x - mean)


def saturation(x: np.ndarray, factor: float) -> np.ndarray:
    """Scale each pixel's distance to its own grey level by `factor` (0: greyscale, 1: unchanged)."""
    grey = (x @ LUMA)[..., None]                                                         # (T, H, W, 1)
    return grey + F32(factor) * (x - grey)


def hue_rotation_matrix(turns: float) -> np.ndarray:
    """(3, 3) RGB -> RGB matrix rotating the chroma plane of YIQ by `turns` of a full turn (luma unchanged), in the
    direction of HSV's hue (red -> green -> blue), which is clockwise in the (I, Q) plane."""
    a = -2.0 * np.pi * turns
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]], np.float64)
    return (YIQ_TO_RGB.astype(np.float64) @ rot @ RGB_TO_YIQ.astype(np.float64)).astype(F32)


def hue_shift(x: np.ndarray, turns: float) -> np.ndarray:
    """Rotate every pixel's hue by `turns` (0.5 = opposite colours) keeping its luma."""
    return x @ hue_rotation_matrix(turns).T


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of every frame (defocus / motion-free optics), sigma in pixels; sigma <= 0 is the identity."""
    if sigma <= 0:
        return x
    x = ndimage.gaussian_filter1d(x, sigma, axis=1, truncate=2.0, mode="nearest")
    return ndimage.gaussian_filter1d(x, sigma, axis=2, truncate=2.0, mode="nearest")


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Round and clip float grey levels to a uint8 clip."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def jpeg_roundtrip(clip: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode a uint8 clip (T, H, W, 3) as JPEG at `quality` (4:2:0 chroma, as most cameras store).

    One encode for the whole clip: the frames are stacked into one tall image, each padded at the bottom (edge
    rows) to a multiple of 16 rows so that no 16x16 JPEG block straddles two frames, and the chroma is upsampled
    within blocks (libjpeg's fast upsampling; the smooth one reads the next block's chroma): the result equals
    encoding each frame on its own."""
    T, H, W, _ = clip.shape
    Hp = -(-H // 16) * 16
    tall = np.pad(clip, ((0, 0), (0, Hp - H), (0, 0), (0, 0)), mode="edge").reshape(T * Hp, W, 3)
    data = simplejpeg.encode_jpeg(np.ascontiguousarray(tall), quality=int(quality), colorspace="RGB",
                                  colorsubsampling="420")
    return simplejpeg.decode_jpeg(data, colorspace="RGB", fastupsample=True).reshape(T, Hp, W, 3)[:, :H]


@dataclass(frozen=True)
class JitterParams:
    """One clip's draw. The identity: gain (1, 1, 1), gamma 1, contrast 1, saturation 1, hue 0, blur 0, jpeg 0."""
    gain: tuple            # per-channel gain (white balance x brightness)
    gamma: float
    contrast: float
    saturation: float
    hue: float             # turns
    blur: float            # sigma in pixels
    jpeg: int              # JPEG quality, 0 = no re-encoding


IDENTITY = JitterParams((1.0, 1.0, 1.0), 1.0, 1.0, 1.0, 0.0, 0.0, 0)


def apply_jitter(clip: np.ndarray, p: JitterParams) -> np.ndarray:
    """uint8 clip (T, H, W, 3) -> uint8 clip: gain, gamma, contrast, saturation, hue, blur, JPEG, in the order a
    camera applies them (sensor gains, tone curve, colour processing, optics, compression). Identity params return
    the clip itself."""
    if p == IDENTITY:
        return clip
    x = clip.astype(F32)
    if p.gain != (1.0, 1.0, 1.0):
        x = white_balance(x, p.gain)
    if p.gamma != 1.0:
        x = gamma_curve(x, p.gamma)
    if p.contrast != 1.0:
        x = contrast(x, p.contrast)
    if p.saturation != 1.0:
        x = saturation(x, p.saturation)
    if p.hue != 0.0:
        x = hue_shift(x, p.hue)
    out = to_uint8(blur(x, p.blur))
    return jpeg_roundtrip(out, p.jpeg) if p.jpeg > 0 else out


class PhotometricJitter:
    """Random camera style per clip. Strengths (0 disables each):
    brightness b: gain factor in [1-b, 1+b]; white_balance w: per-channel gains in [1-w, 1+w] divided by their mean
    (a colour cast, brightness left to b); gamma g: gamma in [1/(1+g), 1+g] (log-uniform); contrast c and
    saturation s: factors in [1-c, 1+c], [1-s, 1+s]; hue h: shift in [-h, h] turns; blur: sigma in [0, blur] px;
    jpeg_min q: re-encode at a quality in [q, 95] (0: never); prob: share of clips that get any of it."""

    def __init__(self, brightness=0.0, white_balance=0.0, gamma=0.0, contrast=0.0, saturation=0.0, hue=0.0,
                 blur=0.0, jpeg_min=0, prob=1.0):
        self.brightness, self.white_balance, self.gamma = float(brightness), float(white_balance), float(gamma)
        self.contrast, self.saturation, self.hue = float(contrast), float(saturation), float(hue)
        self.blur, self.jpeg_min, self.prob = float(blur), int(jpeg_min), float(prob)
        for name in ("brightness", "white_balance", "contrast", "saturation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"data.photo_{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.hue <= 0.5:
            raise ConfigError(f"data.photo_hue must be in [0, 0.5] turns, got {self.hue}")
        if self.gamma < 0 or self.blur < 0:
            raise ConfigError(f"data.photo_gamma and data.photo_blur must be >= 0, got {self.gamma}, {self.blur}")
        if not (self.jpeg_min == 0 or 1 <= self.jpeg_min <= 95):
            raise ConfigError(f"data.photo_jpeg_min must be 0 (off) or in 1..95, got {self.jpeg_min}")
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"data.photo_prob must be in [0, 1], got {self.prob}")

    @classmethod
    def from_config(cls, cfg) -> "PhotometricJitter | None":
        """From a DataConfig's photo_* fields; None when every strength is 0 (the item's random stream is then
        exactly what it was before this augmentation existed)."""
        j = cls(cfg.photo_brightness, cfg.photo_white_balance, cfg.photo_gamma, cfg.photo_contrast,
                cfg.photo_saturation, cfg.photo_hue, cfg.photo_blur, cfg.photo_jpeg_min, cfg.photo_prob)
        return j if j.enabled else None

    @property
    def enabled(self) -> bool:
        return self.prob > 0 and any((self.brightness, self.white_balance, self.gamma, self.contrast,
                                      self.saturation, self.hue, self.blur, self.jpeg_min))

    def draw(self, rng: np.random.Generator) -> JitterParams:
        """One clip's parameters: always 11 uniform draws in a fixed order, whatever is enabled."""
        u = rng.random(11)
        if u[0] >= self.prob:
            return IDENTITY
        sym = lambda v, s: 1.0 + s * (2.0 * v - 1.0)                                   # U[1-s, 1+s]
        wb = sym(u[1:4], self.white_balance)                                           # (3,)
        gain = tuple(float(g) for g in sym(u[4], self.brightness) * wb / wb.mean())
        log_g = np.log1p(self.gamma)
        return JitterParams(
            gain=gain if self.brightness or self.white_balance else (1.0, 1.0, 1.0),
            gamma=float(np.exp(log_g * (2.0 * u[5] - 1.0))) if self.gamma else 1.0,
            contrast=float(sym(u[6], self.contrast)), saturation=float(sym(u[7], self.saturation)),
            hue=float(self.hue * (2.0 * u[8] - 1.0)), blur=float(self.blur * u[9]),
            jpeg=int(self.jpeg_min + u[10] * (96 - self.jpeg_min)) if self.jpeg_min else 0)

    def __call__(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """uint8 clip (T, H, W, 3) -> uint8 clip with one random camera style."""
        return apply_jitter(clip, self.draw(rng))

    def __repr__(self) -> str:
        return (f"PhotometricJitter(brightness={self.brightness}, white_balance={self.white_balance}, "
                f"gamma={self.gamma}, contrast={self.contrast}, saturation={self.saturation}, hue={self.hue}, "
                f"blur={self.blur}, jpeg_min={self.jpeg_min}, prob={self.prob})")
