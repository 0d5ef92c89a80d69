"""Clip-consistent augmentations: one set of random parameters per clip, applied to every frame with one torch op.

Input: a uint8 clip (T, H, W, 3) (numpy array or tensor). Output: a float32 tensor (T, 3, height, width),
normalised with the ImageNet mean/std unless configured otherwise. Pipeline (training):
resize -> zero pad + random crop -> horizontal flip -> normalise -> random erasing; test: resize -> normalise.
The random parameters are drawn from the numpy Generator passed in, in a fixed order, so a seeded Generator
reproduces the clip exactly.

Batched form (the fast data path): `ClipTransform.draw_params(rng)` draws a clip's parameters (same draws, same
order) as one int64 row (`AUG_FIELDS`); `augment_clips(pixels (B, T, H, W, 3), params (B, 7), ...)` then applies
pad-crop, flip, normalisation and erasing to a whole batch at once on any device (gathers and masks, no loop over
clips), bit for bit what `ClipTransform.__call__` gives each clip on the CPU.
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
                 random_erasing: float = 0.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                 background: str = "keep"):
        self.height, self.width, self.train = int(height), int(width), bool(train)
        self.background = background          # keep | suppress (data.background: applied by loader.load_clip)
        self.pad, self.flip, self.random_erasing = int(pad), float(flip), float(random_erasing)
        self.mean, self.std = tuple(mean), tuple(std)

    @classmethod
    def from_config(cls, cfg, train: bool) -> "ClipTransform":
        """From a `vidreid.config.DataConfig`; test transforms only resize and normalise."""
        if not train:
            return cls(cfg.height, cfg.width, train=False, mean=cfg.mean, std=cfg.std,
                       background=getattr(cfg, "background", "keep"))
        return cls(cfg.height, cfg.width, train=True, pad=cfg.pad, flip=cfg.flip,
                   random_erasing=cfg.random_erasing, mean=cfg.mean, std=cfg.std,
                   background=getattr(cfg, "background", "keep"))

    def __repr__(self) -> str:
        return (f"ClipTransform(size=({self.height}, {self.width}), train={self.train}, pad={self.pad}, "
                f"flip={self.flip}, random_erasing={self.random_erasing})")

    def draw_params(self, rng: np.random.Generator) -> np.ndarray:
        """A training clip's random parameters -> int64 (7,) row laid out as AUG_FIELDS (erase_h = 0: no erasing).
        The one place they are drawn, in a fixed order whatever the probabilities (reproducible streams): pad-crop
        offsets, flip coin, erasing coin, then the erasing box only when the coin says so."""
        top, left = (int(v) for v in rng.integers(0, 2 * self.pad + 1, size=2))
        do_flip = rng.random() < self.flip
        do_erase = rng.random() < self.random_erasing
        box = erase_box(rng, self.height, self.width) if do_erase else None
        return np.array([top, left, int(do_flip), *(box or (0, 0, 0, 0))], dtype=np.int64)

    def resize(self, clip) -> torch.Tensor:
        """(T, H, W, 3) pixels -> (T, 3, height, width) float32 in [0, 255], resized only when the size differs."""
        return resize_clip(to_float_clip(clip), self.height, self.width)

    def __call__(self, clip, rng: np.random.Generator | None = None) -> torch.Tensor:
        if self.train and rng is None:
            raise ValueError("a training ClipTransform needs a numpy Generator (rng)")
        return self.apply(clip, self.draw_params(rng) if self.train else None)

    def apply(self, clip, params: np.ndarray | None, out: np.ndarray | None = None) -> torch.Tensor:
        """The clip with the parameters drawn by draw_params (None: test, resize + normalise only) -> float32
        (T, 3, H, W). A numpy clip (uint8, or float32 pixels) already at the target size takes `_apply_numpy` (same
        result bit for bit, ~10x faster per clip; written into `out` when given, e.g. a slot of a batch); anything
        else the torch ops below."""
        if isinstance(clip, np.ndarray) and clip.shape[1:3] == (self.height, self.width):
            return self._apply_numpy(clip, params, out)
        x = self.resize(clip)                                          # (T, 3, H, W) in [0, 255]
        if params is not None:
            top, left, do_flip = (int(v) for v in params[:3])
            x = pad_crop_clip(x, self.pad, top, left)
            if do_flip:
                x = x.flip(-1)
        x = normalize_clip(x, self.mean, self.std)
        if params is not None and params[5] > 0:
            et, el, eh, ew = (int(v) for v in params[3:])
            x[..., et:et + eh, el:el + ew] = 0.0                       # same box on every frame
        if out is not None:
            out[...] = x.numpy()
            return torch.from_numpy(out)
        return x.contiguous()

    def _apply_numpy(self, clip: np.ndarray, params: np.ndarray | None, out: np.ndarray | None = None
                     ) -> torch.Tensor:
        """apply() for a (T, H, W, 3) clip at the target size, in numpy (single-threaded: it runs in DataLoader
        workers, or in the main process where torch's intra-op threads would fight the model's for the cores):
        pad-crop is one slice copy into a zero frame, the flip a reversed view, then `normalize_pixels`."""
        T, H, W, _ = clip.shape
        if params is not None and (self.pad or params[2]):
            top, left, do_flip = (int(v) for v in params[:3])
            dy, dx = top - self.pad, left - self.pad                   # output (y, x) reads input (y + dy, x + dx)
            shifted = np.zeros_like(clip)
            y0, y1, x0, x1 = max(0, -dy), min(H, H - dy), max(0, -dx), min(W, W - dx)  # outputs inside the frame
            if y0 < y1 and x0 < x1:
                shifted[:, y0:y1, x0:x1] = clip[:, y0 + dy:y1 + dy, x0 + dx:x1 + dx]
            clip = shifted[:, :, ::-1] if do_flip else shifted
        out = normalize_pixels(clip, self.mean, self.std, out)
        if params is not None and params[5] > 0:
            et, el, eh, ew = (int(v) for v in params[3:])
            out[..., et:et + eh, el:el + ew] = 0.0
        return torch.from_numpy(out)


def _to_channels_first(pixels: np.ndarray, out: np.ndarray) -> None:
    """out (..., 3, H, W) float32 <- pixels (..., H, W, 3) (the same values). The interleaved -> planar reorder is
    most of normalize_pixels' cost: numpy's strided copy takes ~0.04 ms per 256x128 frame, OpenCV's SIMD channel
    split of the whole batch (seen as one tall image) then three contiguous widening copies ~0.015 ms
    (benchmarks/data_speed.py). OpenCV is optional (the `video` extra): without it, the numpy copy."""
    cv2 = _opencv()
    if cv2 is None or pixels.dtype != np.uint8 or pixels.ndim < 3 or not pixels.flags.c_contiguous:
        lead = tuple(range(pixels.ndim - 3))
        np.copyto(out, pixels.transpose(*lead, -1, -3, -2))
        return
    *lead, H, W, _ = pixels.shape
    planes = cv2.split(pixels.reshape(-1, W, 3))                     # 3 x (N*H, W) uint8, N = prod(lead)
    for c, plane in enumerate(planes):
        np.copyto(out[..., c, :, :], plane.reshape(*lead, H, W))


_cv2 = None


def _opencv():
    """cv2 if importable (imported once, on first use: `import vidreid` stays light), else None."""
    global _cv2
    if _cv2 is None:
        try:
            import cv2
            _cv2 = cv2
        except ImportError:
            _cv2 = False
    return _cv2 or None


def normalize_pixels(pixels: np.ndarray, mean, std, out: np.ndarray | None = None) -> np.ndarray:
    """(..., H, W, 3) pixels (uint8 or float32 in [0, 255]) -> float32 (..., 3, H, W) = (x - 255 mean) / (255 std), in
    numpy, into `out` when given: one copy into the channels-first layout, then the two float32 ops of
    normalize_clip in place (each correctly rounded: the same bits). (Measured slower: a 256-entry look-up table
    per channel, numpy's gathers do not vectorise; np.subtract straight from uint8, its mixed-type loop buffers.)"""
    shape = (*pixels.shape[:-3], 3, *pixels.shape[-3:-1])
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    _to_channels_first(pixels, out)                                     # (..., 3, H, W) in [0, 255]
    view = (1,) * (len(shape) - 3) + (3, 1, 1)
    out -= np.asarray(mean, dtype=np.float32).reshape(view) * np.float32(255.0)
    out /= np.asarray(std, dtype=np.float32).reshape(view) * np.float32(255.0)
    return out


AUG_FIELDS = ("top", "left", "flip", "erase_top", "erase_left", "erase_h", "erase_w")  # columns of a params row


def augment_clips(pixels: torch.Tensor, params: torch.Tensor | None, pad: int, mean, std,
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """A batch of clips' pixels (B, T, H, W, 3), uint8 or float32 in [0, 255], on any device -> float32
    (B, T, 3, H, W): zero pad by `pad` + crop at (top, left), horizontal flip, (x - 255 mean) / (255 std), random
    erasing to 0, each clip with its own row of `params` (B, 7) (AUG_FIELDS; None: normalise only).

    Equal bit for bit to ClipTransform.__call__ per clip (same float32 ops: pad and crop select pixels, normalisation
    is one subtraction and one division, erasing writes 0 after it). Crop and flip are one gather: output column j of
    clip b reads input column left_b - pad + (W - 1 - j if flipped else j), rows likewise without the flip; pixels
    that fall in the padding are masked to 0 before normalising, as zero padding is. `out`: an optional float32
    (B, T, 3, H, W) tensor to write into (e.g. shared memory in a DataLoader worker)."""
    B, T, H, W, C = pixels.shape
    dev = pixels.device
    if out is None:
        out = torch.empty((B, T, C, H, W), dtype=torch.float32, device=dev)
    mean255 = (torch.as_tensor(mean, dtype=torch.float32) * 255.0).to(dev).view(1, 1, C, 1, 1)
    std255 = (torch.as_tensor(std, dtype=torch.float32) * 255.0).to(dev).view(1, 1, C, 1, 1)
    if params is None or not len(params):
        out.copy_(pixels.permute(0, 1, 4, 2, 3))                      # (B, T, 3, H, W)
        return out.sub_(mean255).div_(std255)
    p = params.to(dev, torch.int64)
    top, left, flip = p[:, 0:1], p[:, 1:2], p[:, 2:3].bool()          # (B, 1) each
    rows = top - pad + torch.arange(H, device=dev)                     # (B, H) input row of each output row
    j = torch.arange(W, device=dev)
    cols = left - pad + torch.where(flip, W - 1 - j, j)                # (B, W) input column of each output column
    # Two index_selects over whole rows / pixels (fast memory copies; a 5-d advanced index is ~10x slower on a
    # CPU). Each source gets one extra all-zero row / column, which out-of-frame positions read: the zero padding.
    src = pixels.new_empty((T, B * H + 1, W * C))
    src[:, B * H].zero_()
    src[:, :B * H].view(T, B, H, W * C).copy_(pixels.view(B, T, H, W * C).transpose(0, 1))
    base = torch.arange(B, device=dev)[:, None]
    row_idx = torch.where((rows >= 0) & (rows < H), base * H + rows, B * H).reshape(-1)     # (B * H,)
    picked = src.index_select(1, row_idx).view(T, B, H, W, C)         # rows done, (T, B, H, W, 3)
    src = pixels.new_empty((T * H, B * W + 1, C))
    src[:, B * W].zero_()
    src[:, :B * W].view(T, H, B, W, C).copy_(picked.permute(0, 2, 1, 3, 4))
    col_idx = torch.where((cols >= 0) & (cols < W), base * W + cols, B * W).reshape(-1)     # (B * W,)
    picked = src.index_select(1, col_idx).view(T, H, B, W, C)         # columns done
    out.copy_(picked.permute(2, 0, 4, 1, 3))                            # (B, T, 3, H, W) in [0, 255]
    out.sub_(mean255).div_(std255)
    if bool((params[:, 5] > 0).any()):                                # any erasing box (params: on the CPU, no sync)
        et, el, eh, ew = (p[:, k, None] for k in range(3, 7))         # (B, 1) each
        r, c = torch.arange(H, device=dev), torch.arange(W, device=dev)
        box = ((r >= et) & (r < et + eh))[:, :, None] & ((c >= el) & (c < el + ew))[:, None, :]  # (B, H, W)
        out.masked_fill_(box[:, None, None], 0.0)
    return out
