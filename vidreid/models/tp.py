"""TP — temporal average pooling baseline (Gao & Nevatia, "Revisiting Temporal Modeling for
Video-based Person ReID", BMVC 2018): per-frame GAP features averaged over time.

Default last_stride 1 (the re-ID habit of Luo et al., 2019; the paper used 2): TP's parameters do not depend on it,
and TP is the default model the demo, the speed benchmarks and the tests build. TA defaults to 2 (temporal.py says
why); every shipped config sets `model.last_stride` for all three baselines."""
from __future__ import annotations

import torch
from torch import nn

from .base import MeanStream, ModelOutput, VideoReIDModel
from .heads import ClassifierHead
from .registry import register_model


class TemporalPooling(MeanStream, VideoReIDModel):
    def __init__(self, num_classes: int, backbone: str = "resnet50", last_stride: int = 1,
                 pretrained: str | None = None, bnneck: bool = False):
        super().__init__(backbone, last_stride, pretrained)
        self.feat_dim = self.backbone.out_channels
        self.head = ClassifierHead(self.feat_dim, num_classes, bnneck)

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape[:2]
        fmap = self.backbone(x.flatten(0, 1))              # (B*T, C, h, w)
        return fmap.mean((2, 3)).view(B, T, -1)            # (B, T, C)

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> ModelOutput:  # x: (B, T, 3, H, W)
        f = self.frame_features(x).mean(1)                 # (B, C)
        logits, f_test = self.head(f)
        return self.output(logits, f_test, {"feat": f}, return_attention=return_attention)

    # streaming evaluation (models/streaming.py): exact, a running mean of the per-frame features (MeanStream)
    def stream_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C) per-frame GAP features."""
        return self.backbone(x).mean((2, 3))

    def stream_head(self, mean: torch.Tensor) -> torch.Tensor:
        return self.head(mean)[1]                          # (B, C)


@register_model(forwards_to=TemporalPooling)
def tp(num_classes: int, **kwargs) -> nn.Module:
    return TemporalPooling(num_classes, **kwargs)
