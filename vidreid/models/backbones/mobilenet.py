"""Inverted-residual networks: MobileNetV2 (Sandler et al., CVPR 2018) and EfficientNet-Lite0 (Tan & Le, ICML 2019;
the "Lite" variant of the TensorFlow TPU repository: no squeeze-excitation, ReLU6, fixed stem and head).

EfficientNet-Lite0 *is* a MobileNetV2-style network with another block table (5x5 depthwise kernels in three
groups, 40/80/112/192 channels), so one module builds both; parameter names are torchvision's MobileNetV2 names
(`features.0` stem, `features.1..17` blocks `conv.*`, `features.18` 1x1 head conv), and the weight files in other
naming schemes are converted by the key maps in weights.py. Lite0's TensorFlow weights also need TensorFlow's
asymmetric "SAME" padding on stride-2 convs, BN eps 1e-3, and inputs scaled to [-1, 1] (mean 127, std 128 on 0-255
pixels); the network takes ImageNet-normalised frames like every vidreid backbone and converts them itself.

Stages (feature_info) follow timm's grouping by output stride: reductions 2, 4, 8, 16, 32, the last stage including
the 1x1 head conv (1280 channels). `last_stride=1` sets the stride-2 block of the reduction-32 stage to 1: 16x8 maps
at 256x128.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Backbone, ConvBNAct, StageInfo

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

# (expand ratio t, output channels c, blocks n, first stride s, depthwise kernel k) per block group
MOBILENETV2_BLOCKS = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 32, 3, 2, 3), (6, 64, 4, 2, 3), (6, 96, 3, 1, 3),
                      (6, 160, 3, 2, 3), (6, 320, 1, 1, 3)]
EFFICIENTNET_LITE0_BLOCKS = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3),
                             (6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3)]
GROUP_REDUCTION = [2, 4, 8, 16, 16, 32, 32]   # output reduction of each block group (both tables)


class InvertedResidual(nn.Module):
    """1x1 expand (skipped when t = 1) -> kxk depthwise -> 1x1 linear projection, residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, kernel: int = 3,
                 tf_same_padding: bool = False, bn_eps: float = 1e-5):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [ConvBNAct(cin, hidden, 1, bn_eps=bn_eps)]
        layers += [ConvBNAct(hidden, hidden, kernel, stride, groups=hidden, tf_same_padding=tf_same_padding,
                             bn_eps=bn_eps),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout, eps=bn_eps)]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout
        self.out_channels = cout

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


class InvertedResidualNet(Backbone):
    """(N, 3, H, W) ImageNet-normalised -> (N, 1280, H/s, W/s), s = 16 (last_stride=1) or 32."""

    def __init__(self, blocks: list[tuple[int, int, int, int, int]], last_stride: int = 1,
                 tf_same_padding: bool = False, bn_eps: float = 1e-5,
                 input_mean: tuple[float, ...] = IMAGENET_MEAN, input_std: tuple[float, ...] = IMAGENET_STD):
        super().__init__()
        features: list[nn.Module] = [ConvBNAct(3, 32, 3, 2, tf_same_padding=tf_same_padding, bn_eps=bn_eps)]
        cin, bounds, stride = 32, [], 2
        for group, (t, c, n, s, k) in enumerate(blocks):
            if GROUP_REDUCTION[group] == 32 and s == 2 and last_stride == 1:
                s = 1
            stride *= s
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t, k, tf_same_padding, bn_eps))
                cin = c
            bounds.append((GROUP_REDUCTION[group], len(features), c, stride))
        features.append(ConvBNAct(cin, 1280, 1, bn_eps=bn_eps))
        self.features = nn.Sequential(*features)
        self.out_channels = 1280
        # stages: consecutive block groups of one reduction; the last one also holds the head conv
        self._stage_slices, self.feature_info, start = [], [], 1
        for j, (reduction, end, channels, stride) in enumerate(bounds):
            if j + 1 < len(bounds) and bounds[j + 1][0] == reduction:
                continue
            if j + 1 == len(bounds):
                end, channels = end + 1, 1280
            self._stage_slices.append((start, end))
            self.feature_info.append(StageInfo(f"features.{start}-{end - 1}", reduction, stride, channels))
            start = end
        # frames arrive ImageNet-normalised; weights trained on other statistics get them through this affine map
        std, mean = torch.tensor(input_std), torch.tensor(input_mean)
        scale = torch.tensor(IMAGENET_STD) / std
        shift = (torch.tensor(IMAGENET_MEAN) - mean) / std
        self.renormalize = not (torch.allclose(scale, torch.ones(3)) and torch.allclose(shift, torch.zeros(3)))
        self.register_buffer("input_scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", shift.view(1, 3, 1, 1), persistent=False)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def stem(self, x):                                        # (N, 3, H, W) -> (N, 32, H/2, W/2)
        if self.renormalize:
            x = x * self.input_scale + self.input_shift
        return self.features[0](x)

    def stage(self, i: int) -> nn.Sequential:
        start, end = self._stage_slices[i]
        return self.features[start:end]


def mobilenetv2(last_stride: int = 1) -> InvertedResidualNet:
    """MobileNetV2 x1.0: ImageNet-normalised inputs, PyTorch padding."""
    return InvertedResidualNet(MOBILENETV2_BLOCKS, last_stride)


def efficientnet_lite0(last_stride: int = 1) -> InvertedResidualNet:
    """EfficientNet-Lite0: TensorFlow "SAME" padding, BN eps 1e-3, inputs (x - 127) / 128 on 0-255 pixels."""
    return InvertedResidualNet(EFFICIENTNET_LITE0_BLOCKS, last_stride, tf_same_padding=True, bn_eps=1e-3,
                               input_mean=(127 / 255,) * 3, input_std=(128 / 255,) * 3)
