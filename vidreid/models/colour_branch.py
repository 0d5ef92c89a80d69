"""A body-region colour branch inside a network, trained with it (issue 26, experiment d).

On real footage a colour histogram of the body with no learning is a strong re-ID feature (BENCHMARKS.md, "Real
footage"), and a network trained on synthetic people keeps only part of what it knows. This branch computes exactly
the histograms of `configs/body_colour.yaml` (vidreid.models.classical.colour_hist: HSV, one histogram per channel
in each horizontal stripe of the centre strip of the box, every frame, mean over time, square root = Hellinger) and
maps them through a learned linear layer + BatchNorm into `out_dim` extra embedding dimensions, concatenated with the
network's own feature before its head. The histograms have no parameters and need no gradient (they read the input
pixels); the projection is trained by the same identity and triplet losses as the rest of the model, so the network
learns how much of the colour to keep, and which bins tell people apart.

    branch = BodyColour(128)
    raw = branch.frame_histograms(frames)       # (N, 3, H, W) normalised -> (N, raw_dim) per frame
    extra = branch.project(raw_mean)            # (B, raw_dim) mean over time -> (B, 128)
"""
from __future__ import annotations

import torch
from torch import nn

from .classical.colour import region_bounds, stripe_rows


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, h, w) RGB in [0, 1] -> (N, 3, h, w) hue, saturation, value in [0, 1], as the classical numpy
    rgb_to_hsv (hue 0 where the saturation is 0; ties red before green before blue)."""
    r, g, b = rgb.unbind(1)
    v = rgb.amax(1)
    c = v - rgb.amin(1)                                                       # chroma
    s = torch.where(v > 0, c / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))
    safe = torch.where(c > 0, c, torch.ones_like(c))
    h = torch.where(v == r, torch.remainder((g - b) / safe, 6),
                    torch.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(c > 0, h / 6.0, torch.zeros_like(h))
    return torch.stack([torch.remainder(h, 1.0), s, v], 1)


class BodyColour(nn.Module):
    """Per-frame body-region HSV histograms (no parameters) and their learned projection (Linear + BatchNorm)."""

    def __init__(self, out_dim: int, bins: int = 16, stripes: int = 2, region_x=(0.385, 0.615),
                 region_y=(0.15, 0.85), skip_colour=None):
        super().__init__()
        self.bins, self.stripes = int(bins), int(stripes)
        self.region_x, self.region_y = tuple(region_x), tuple(region_y)
        self.raw_dim = self.stripes * 3 * self.bins                   # stripe-major, then channel, then bin
        self.out_dim = int(out_dim)
        self.skip = None if skip_colour is None else tuple(int(v) for v in skip_colour)
        self.proj = nn.Linear(self.raw_dim, self.out_dim)
        self.bn = nn.BatchNorm1d(self.out_dim)
        # the data's normalisation (set by vidreid.builders.build_for_dataset from data.mean / data.std): not saved
        # in checkpoints, a property of the config
        self.register_buffer("pixel_mean", torch.tensor([0.485, 0.456, 0.406]), persistent=False)
        self.register_buffer("pixel_std", torch.tensor([0.229, 0.224, 0.225]), persistent=False)

    def set_pixel_stats(self, mean, std) -> None:
        self.pixel_mean = torch.tensor(list(mean), dtype=torch.float32, device=self.pixel_mean.device)
        self.pixel_std = torch.tensor(list(std), dtype=torch.float32, device=self.pixel_std.device)

    @torch.no_grad()
    def frame_histograms(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised frames -> (N, raw_dim) float32, equal to colour_hist's per-frame features with
        the same options (the pixels rounded to uint8 first, as the classical path reads them)."""
        N, _, H, W = x.shape
        x0, x1 = region_bounds(W, self.region_x)
        y0, y1 = region_bounds(H, self.region_y)
        mean, std = self.pixel_mean.view(1, 3, 1, 1), self.pixel_std.view(1, 3, 1, 1)
        px = ((x[:, :, y0:y1, x0:x1].float() * std + mean) * 255.0).round().clamp(0, 255)   # (N, 3, h, w) uint8 values
        # float64: the bin of a pixel must not depend on float32 rounding at a bin's edge
        hsv = rgb_to_hsv(px.double() / 255.0)
        q = torch.clamp((hsv * self.bins).long(), max=self.bins - 1)                      # (N, 3, h, w) bin per channel
        h = y1 - y0
        stripe = torch.as_tensor(stripe_rows(h, self.stripes), device=x.device)         # (h,)
        block = (torch.arange(N, device=x.device)[:, None] * self.stripes + stripe[None])   # (N, h)
        ids = ((block[:, None, :, None] * 3 + torch.arange(3, device=x.device)[None, :, None, None])
               * self.bins + q)                                                           # (N, 3, h, w) flat bin id
        w = None
        if self.skip is not None:               # the background fill of data.background=suppress is not counted
            fill = torch.tensor(self.skip, dtype=px.dtype, device=x.device).view(1, 3, 1, 1)
            w = (px != fill).any(1, keepdim=True).expand_as(q).flatten().double()
        counts = torch.bincount(ids.flatten(), w, minlength=N * self.raw_dim).view(N, self.stripes, 3 * self.bins)
        counts = counts.double()
        total = counts.sum(-1, keepdim=True)
        return (counts / torch.where(total > 0, total, torch.ones_like(total))).view(N, -1).float()

    def project(self, raw_mean: torch.Tensor) -> torch.Tensor:
        """(B, raw_dim) histograms averaged over a clip -> (B, out_dim): Hellinger map, then Linear + BatchNorm."""
        return self.bn(self.proj(raw_mean.clamp_min(0).sqrt()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:                       # x: (B, T, 3, H, W)
        B, T = x.shape[:2]
        raw = self.frame_histograms(x.flatten(0, 1)).view(B, T, -1)           # (B, T, raw_dim)
        return self.project(raw.mean(1))                                       # (B, out_dim)
