"""TP — temporal average pooling baseline (Gao & Nevatia, "Revisiting Temporal Modeling for
Video-based Person ReID", BMVC 2018): per-frame GAP features averaged over time.

Default last_stride 1 (the re-ID habit of Luo et al., 2019; the paper used 2): TP's parameters do not depend on it,
and TP is the default model the demo, the speed benchmarks and the tests build. TA defaults to 2 (temporal.py says
why); every shipped config sets `model.last_stride` for all three baselines.

`colour_dim` > 0 adds a body-region colour branch (colour_branch.py, issue 26): its projected histograms are
concatenated with the pooled network feature before the head, and trained with it."""
from __future__ import annotations

import torch
from torch import nn

from .base import MeanStream, ModelOutput, VideoReIDModel
from .colour_branch import BodyColour
from .heads import ClassifierHead
from .registry import register_model


class TemporalPooling(MeanStream, VideoReIDModel):
    def __init__(self, num_classes: int, backbone: str = "resnet50", last_stride: int = 1,
                 pretrained: str | None = None, bnneck: bool = False, colour_dim: int = 0, colour_bins: int = 16,
                 colour_stripes: int = 2, colour_region_x=(0.385, 0.615), colour_region_y=(0.15, 0.85),
                 colour_skip=None):
        super().__init__(backbone, last_stride, pretrained)
        # the body-colour branch: the options of configs/body_colour.yaml (centre strip, upper / lower body, HSV);
        # colour_skip [r, g, b]: the background fill of data.background=suppress, not counted
        self.colour = BodyColour(colour_dim, colour_bins, colour_stripes, colour_region_x, colour_region_y,
                                 colour_skip) if colour_dim else None
        self.feat_dim = self.backbone.out_channels + colour_dim
        self.head = ClassifierHead(self.feat_dim, num_classes, bnneck)

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape[:2]
        fmap = self.backbone(x.flatten(0, 1))              # (B*T, C, h, w)
        return fmap.mean((2, 3)).view(B, T, -1)            # (B, T, C)

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> ModelOutput:  # x: (B, T, 3, H, W)
        f = self.frame_features(x).mean(1)                 # (B, C)
        if self.colour is not None:
            f = torch.cat([f, self.colour(x)], 1)          # (B, C + colour_dim)
        logits, f_test = self.head(f)
        return self.output(logits, f_test, {"feat": f}, return_attention=return_attention)

    # streaming evaluation (models/streaming.py): exact, a running mean of the per-frame features (MeanStream)
    def stream_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C) per-frame GAP features (+ the raw colour histograms: (N, C + raw_dim))."""
        f = self.backbone(x).mean((2, 3))
        return f if self.colour is None else torch.cat([f, self.colour.frame_histograms(x).to(f.dtype)], 1)

    def stream_head(self, mean: torch.Tensor) -> torch.Tensor:
        if self.colour is not None:                        # the mean histogram is projected after the mean, as in forward
            C = self.backbone.out_channels
            mean = torch.cat([mean[:, :C], self.colour.project(mean[:, C:])], 1)
        return self.head(mean)[1]                          # (B, feat_dim)


@register_model(forwards_to=TemporalPooling)
def tp(num_classes: int, **kwargs) -> nn.Module:
    return TemporalPooling(num_classes, **kwargs)
