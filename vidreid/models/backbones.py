"""ResNet-18/34/50 with torchvision-compatible parameter names (so its ImageNet files load unchanged).

Written here because torchvision is not installable next to the CPU torch build; the module tree
(conv1, bn1, layer1..4 with conv/bn/downsample.{0,1}) mirrors torchvision.models.resnet exactly.
"""
from __future__ import annotations

import os

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError

# torchvision's IMAGENET1K_V1 weight files (the ones re-ID papers start from)
IMAGENET_URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
}


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

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
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

    def stem(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward(self, x):  # (N, 3, H, W)
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x  # (N, C, h, w)


_ARCHS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}


def list_backbones() -> list[str]:
    """Names accepted by `build_backbone` (and by every model's `backbone=` option)."""
    return sorted(_ARCHS)


def load_pretrained(model: ResNet, arch: str, pretrained: str) -> None:
    """pretrained = "imagenet" (torchvision's file via torch.hub) or a local .pth/.safetensors path."""
    if pretrained == "imagenet":
        try:
            state = torch.hub.load_state_dict_from_url(IMAGENET_URLS[arch], map_location="cpu",
                                                       progress=True, weights_only=True)
        except Exception as e:  # offline, proxy, DNS ...
            raise CheckpointError(
                f"could not download ImageNet weights for {arch} from {IMAGENET_URLS[arch]} ({type(e).__name__}: {e}); "
                f"download the file on a connected machine and pass pretrained=/path/to/{os.path.basename(IMAGENET_URLS[arch])}"
            ) from None
    else:
        if not os.path.isfile(pretrained):
            raise CheckpointError(f"pretrained weights file not found: {pretrained}")
        if pretrained.endswith(".safetensors"):
            from safetensors.torch import load_file
            state = load_file(pretrained)
        else:
            try:
                state = torch.load(pretrained, map_location="cpu", weights_only=True)
            except Exception as e:
                raise CheckpointError(f"{pretrained}: not a loadable weights-only state dict ({e})") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise CheckpointError(f"{pretrained}: does not match {arch}: {len(missing)} missing keys {missing[:3]}, "
                              f"{len(unexpected)} unexpected {unexpected[:3]}, {len(wrong)} of other shape {wrong[:3]}")
    model.load_state_dict(state)


def build_backbone(arch: str = "resnet50", last_stride: int = 1, pretrained: str | None = None) -> ResNet:
    if arch not in _ARCHS:
        raise ConfigError(f"unknown backbone {arch!r}; expected one of {', '.join(_ARCHS)}")
    if last_stride not in (1, 2):
        raise ConfigError(f"last_stride must be 1 or 2, got {last_stride}")
    block, layers = _ARCHS[arch]
    model = ResNet(block, layers, last_stride)
    if pretrained:
        load_pretrained(model, arch, pretrained)
    return model
