"""ResNet-18/34/50 (He et al., CVPR 2016) with torchvision's parameter names, so its ImageNet files load unchanged.

Written here because torchvision is not installable next to the CPU torch build; the module tree
(conv1, bn1, layer1..4 with conv/bn/downsample.{0,1}) mirrors torchvision.models.resnet exactly.
Stages (feature_info): layer1..layer4 at reductions 4, 8, 16, 32; `last_stride=1` (re-ID's usual choice, Luo et
al. 2019) keeps layer4 at stride 16: 16x8 maps at 256x128.
"""
from __future__ import annotations

from torch import nn

from .base import Backbone, StageInfo


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.out_channels = planes

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # stride on the 3x3 (torchvision v1.5)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.out_channels = planes * 4

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(Backbone):
    """Feature extractor: (N, 3, H, W) -> (N, C, H/16, W/16) with last_stride=1, /32 with 2."""

    def __init__(self, block, layers: list[int], last_stride: int = 1):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=last_stride)
        self.out_channels = 512 * block.expansion
        self.feature_info = [StageInfo(f"layer{i + 1}", 4 * 2 ** i, 4 * 2 ** i if i < 3 else 16 * last_stride,
                                       64 * 2 ** i * block.expansion) for i in range(4)]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def stem(self, x):                                       # (N, 3, H, W) -> (N, 64, H/4, W/4)
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def stage(self, i: int) -> nn.Sequential:
        return (self.layer1, self.layer2, self.layer3, self.layer4)[i]


def resnet18(last_stride: int = 1) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], last_stride)


def resnet34(last_stride: int = 1) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], last_stride)


def resnet50(last_stride: int = 1) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], last_stride)


