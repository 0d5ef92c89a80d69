"""Clip-consistent augmentations: one set of random parameters per clip, applied to every frame with one torch op.

Input: a uint8 clip (T, H, W, 3) (numpy array or tensor). Output: a float32 tensor (T, 3, height, width),
normalised with the ImageNet mean/std unless configured otherwise. Pipeline (training):
resize -> zero pad + random crop -> horizontal flip -> normalise -> random erasing; test: resize -> normalise.
The random parameters are drawn from the numpy Generator passed in, in a fixed order, so a seeded Generator
reproduces the clip exactly.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_float_clip(clip) -> torch.Tensor:
    """(T, H, W, 3) uint8 array/tensor -> (T, 3, H, W) float32 in [0, 255]."""
    x = torch.as_tensor(np.ascontiguousarray(clip)) if isinstance(clip, np.ndarray) else clip
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected a clip of shape (T, H, W, 3), got {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2).float()                          # (T, 3, H, W)


def resize_clip(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of every frame at once (antialiased when shrinking, like PIL/torchvision)."""
    if x.shape[-2:] == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


def pad_crop_clip(x: torch.Tensor, pad: int, top: int, left: int) -> torch.Tensor:
    """Zero-pad by `pad` on each side, then crop the original size at (top, left) of the padded frame."""
    if pad <= 0:
        return x
    H, W = x.shape[-2:]
    return F.pad(x, (pad, pad, pad, pad))[..., top:top + H, left:left + W]


def normalize_clip(x: torch.Tensor, mean, std) -> torch.Tensor:
    """[0, 255] -> (x/255 - mean) / std, per channel."""
    mean = torch.as_tensor(mean, dtype=x.dtype).view(1, 3, 1, 1) * 255.0
    std = torch.as_tensor(std, dtype=x.dtype).view(1, 3, 1, 1) * 255.0
    return (x - mean) / std


def erase_box(rng: np.random.Generator, height: int, width: int, scale=(0.02, 0.4), ratio=(0.3, 1 / 0.3),
              attempts: int = 10) -> tuple[int, int, int, int] | None:
    """A random erasing box (top, left, h, w), Zhong et al., "Random Erasing Data Augmentation" (AAAI 2020):
    area fraction ~ U(scale), aspect ratio h/w ~ U(ratio); up to `attempts` draws until the box fits, else None.
    All attempts are drawn at once so the Generator advances by a fixed amount."""
    area = height * width * rng.uniform(scale[0], scale[1], attempts)
    aspect = rng.uniform(ratio[0], ratio[1], attempts)
    hs = np.round(np.sqrt(area * aspect)).astype(np.int64)
    ws = np.round(np.sqrt(area / aspect)).astype(np.int64)
    u = rng.random((attempts, 2))
    fits = np.flatnonzero((hs < height) & (ws < width) & (hs > 0) & (ws > 0))
    if fits.size == 0:
        return None
    i = fits[0]
    top = int(u[i, 0] * (height - hs[i] + 1))
    left = int(u[i, 1] * (width - ws[i] + 1))
    return top, left, int(hs[i]), int(ws[i])


class ClipTransform:
    """Resize (+ pad/crop, flip, erasing when training) + normalise a whole clip with shared random parameters.

    Random erasing fills the box with 0 after normalisation, i.e. the dataset mean colour (torchvision's default).
    """

    def __init__(self, height: int, width: int, train: bool = False, pad: int = 0, flip: float = 0.0,
                 random_erasing: float = 0.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
        self.height, self.width, self.train = int(height), int(width), bool(train)
        self.pad, self.flip, self.random_erasing = int(pad), float(flip), float(random_erasing)
        self.mean, self.std = tuple(mean), tuple(std)

    @classmethod
    def from_config(cls, cfg, train: bool) -> "ClipTransform":
        """From a `vidreid.config.DataConfig`; test transforms only resize and normalise."""
        if not train:
            return cls(cfg.height, cfg.width, train=False, mean=cfg.mean, std=cfg.std)
        return cls(cfg.height, cfg.width, train=True, pad=cfg.pad, flip=cfg.flip,
                   random_erasing=cfg.random_erasing, mean=cfg.mean, std=cfg.std)

    def __repr__(self) -> str:
        return (f"ClipTransform(size=({self.height}, {self.width}), train={self.train}, pad={self.pad}, "
                f"flip={self.flip}, random_erasing={self.random_erasing})")

    def __call__(self, clip, rng: np.random.Generator | None = None) -> torch.Tensor:
        x = resize_clip(to_float_clip(clip), self.height, self.width)  # (T, 3, H, W) in [0, 255]
        if self.train:
            if rng is None:
                raise ValueError("a training ClipTransform needs a numpy Generator (rng)")
            # draw every parameter up front, in a fixed order, whatever the probabilities: reproducible streams
            top, left = (int(v) for v in rng.integers(0, 2 * self.pad + 1, size=2))
            do_flip = rng.random() < self.flip
            do_erase = rng.random() < self.random_erasing
            x = pad_crop_clip(x, self.pad, top, left)
            if do_flip:
                x = x.flip(-1)
        x = normalize_clip(x, self.mean, self.std)
        if self.train and do_erase:
            box = erase_box(rng, self.height, self.width)
            if box is not None:
                t, l, h, w = box
                x[..., t:t + h, l:l + w] = 0.0                        # same box on every frame
        return x.contiguous()
