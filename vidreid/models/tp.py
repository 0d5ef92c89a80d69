"""TP — temporal average pooling baseline (Gao & Nevatia, "Revisiting Temporal Modeling for
Video-based Person ReID", BMVC 2018): per-frame GAP features averaged over time."""
from __future__ import annotations

import torch
from torch import nn

from .backbones import build_backbone
from .heads import ClassifierHead
from .registry import ModelOutput, register_model
from .streaming import RunningSum


class TemporalPooling(nn.Module):
    def __init__(self, num_classes: int, backbone: str = "resnet50", last_stride: int = 1,
                 pretrained: str | None = None, bnneck: bool = False):
        super().__init__()
        self.backbone = build_backbone(backbone, last_stride, pretrained)
        self.feat_dim = self.backbone.out_channels
        self.head = ClassifierHead(self.feat_dim, num_classes, bnneck)

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape[:2]
        fmap = self.backbone(x.flatten(0, 1))              # (B*T, C, h, w)
        return fmap.mean((2, 3)).view(B, T, -1)            # (B, T, C)

    def forward(self, x: torch.Tensor, return_attention: bool = False):  # x: (B, T, 3, H, W)
        f = self.frame_features(x).mean(1)                 # (B, C)
        logits, f_test = self.head(f)
        if self.training:
            return ModelOutput(logits=logits, features={"feat": f})
        return (f_test, {}) if return_attention else f_test

    # streaming evaluation (models/streaming.py): exact, a running sum of the per-frame features
    def stream_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C) per-frame GAP features."""
        return self.backbone(x).mean((2, 3))

    def stream_init(self, batch: int) -> RunningSum:
        return RunningSum()

    def stream_update(self, state: RunningSum, feats: torch.Tensor) -> RunningSum:  # feats: (B, t, C)
        state.update(feats)
        return state

    def stream_finish(self, state: RunningSum) -> torch.Tensor:
        return self.head(state.mean())[1]                  # (B, C)


@register_model
def tp(num_classes: int, **kwargs) -> nn.Module:
    return TemporalPooling(num_classes, **kwargs)
