"""The interface every backbone implements: a stem, then stages of blocks, described by `feature_info`.

timm's `feature_info` idea: each stage has a name, the stride of its output and its channels, so methods that put
blocks *inside* the backbone are placed by stage, not by a ResNet attribute name. NVAN's non-local blocks go after
the last blocks of the stages of nominal reduction 8 and 16 (ResNet's layer2 and layer3; MobileNetV2's 32- and
96-channel groups), on any backbone.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class StageInfo:
    name: str        # where its blocks live in the module tree, e.g. "layer2" or "features.4-6"
    reduction: int   # input size / output size in the ImageNet network (4, 8, 16, 32): what placements refer to
    stride: int      # the same here: differs from `reduction` in the last stage when last_stride=1
    channels: int    # output channels of the stage


class Backbone(nn.Module):
    """(N, 3, H, W) ImageNet-normalised frames -> (N, out_channels, H/stride, W/stride) feature maps.

    Subclasses set `out_channels`, `feature_info` (one StageInfo per stage) and implement `stem(x)` and
    `stage(i) -> nn.Sequential` of blocks, each block with an `out_channels` attribute. `forward` is stem + stages.
    """

    out_channels: int
    feature_info: list[StageInfo]

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def stage(self, i: int) -> nn.Sequential:
        raise NotImplementedError

    def stage_index(self, reduction: int) -> int:
        """Index of the stage whose output has nominal `reduction` (8 -> ResNet's layer2)."""
        for i, info in enumerate(self.feature_info):
            if info.reduction == reduction:
                return i
        raise KeyError(reduction)

    def freeze(self, num_stages: int) -> None:
        """Keep the stem and the first `num_stages` stages as they are: no gradients, and their batch norms stay in
        eval mode (running statistics neither used from the batch nor updated), whatever `train()` is called with.
        Why: on a small synthetic training set, the early ImageNet filters (edges, colour blobs) are what transfers
        to real images; fine-tuning them fits the renderer's pixels instead."""
        if not 0 <= num_stages <= len(self.feature_info):
            raise ValueError(f"freeze_stages must be in 0..{len(self.feature_info)} for this backbone, got {num_stages}")
        trainable = {id(p) for i in range(num_stages, len(self.feature_info)) for p in self.stage(i).parameters()}
        trainable_modules = {id(m) for i in range(num_stages, len(self.feature_info)) for m in self.stage(i).modules()}
        for p in self.parameters():
            if id(p) not in trainable:
                p.requires_grad_(False)
        # by name, not by reference: SyncBatchNorm conversion (train.sync_bn) replaces the norm modules afterwards
        self._frozen_norms = [name for name, m in self.named_modules()
                              if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in trainable_modules]
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        for name in getattr(self, "_frozen_norms", ()):
            self.get_submodule(name).eval()
        return self

    def map_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """(H, W) frames -> (h, w) output map: every stride-2 step of these backbones halves the size rounding up
        (3x3/7x7 kernels with (k-1)/2 padding, TensorFlow SAME, 1x1 stride-2 shortcuts all do)."""
        h, w = input_size
        for _ in range(self.feature_info[-1].stride.bit_length() - 1):
            h, w = -(-h // 2), -(-w // 2)
        return h, w

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (N, 3, H, W)
        x = self.stem(x)
        for i in range(len(self.feature_info)):
            x = self.stage(i)(x)
        return x                                            # (N, C, h, w)


class ConvBNAct(nn.Sequential):
    """conv -> BN -> ReLU6 (torchvision's Conv2dNormActivation layout: parameter names `0.weight`, `1.*`)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 tf_same_padding: bool = False, bn_eps: float = 1e-5, act: bool = True):
        conv = (Conv2dSame if tf_same_padding else nn.Conv2d)(cin, cout, kernel, stride, (kernel - 1) // 2,
                                                               groups=groups, bias=False)
        layers = [conv, nn.BatchNorm2d(cout, eps=bn_eps)] + ([nn.ReLU6(inplace=True)] if act else [])
        super().__init__(*layers)
        self.out_channels = cout


class Conv2dSame(nn.Conv2d):
    """TensorFlow's "SAME" padding: out = ceil(in / stride), the extra pixel of an odd total padding goes to the
    bottom/right. Weights trained in TensorFlow (EfficientNet-Lite) expect it: with PyTorch's symmetric padding a
    stride-2 3x3 conv reads the image shifted by one pixel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == (1, 1):
            return super().forward(x)                       # symmetric (k-1)/2 padding is already "SAME"
        pads = []
        for size, k, s in zip(x.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1]):  # (w, h)
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return nn.functional.conv2d(nn.functional.pad(x, pads), self.weight, self.bias, self.stride, 0,
                                    self.dilation, self.groups)
