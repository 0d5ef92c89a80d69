"""Builders every command may import: the configured dataset, model, optimizer and learning-rate schedule.

They sit above data/, models/ and utils/distributed.py and below everything that runs a job (engine/train.py,
inference/, commands/), so that loading a dataset or building a model never imports the training loop.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import Config
from .data.types import VideoReIDDataset
from .utils import distributed as D
from .errors import ConfigError
from .models import build_model
from .models.backbones.base import Backbone


def prepare_dataset(cfg: Config, progress: bool = True) -> VideoReIDDataset:
    """Load the configured dataset; SynthPed is generated (once, cached by its options) if needed."""
    from .data import load_dataset
    from .data.datasets import is_multi_split
    d = cfg.data
    if d.dataset == "synthped":
        from .data.synthped import ensure_synthped
        if D.is_main():                 # one rank generates, the others wait and read it
            ensure_synthped(d.root, progress=progress, **d.synth)
        D.barrier()
    options = dict(d.options)
    if d.protocol:
        options["protocol"] = d.protocol
    if is_multi_split(d.dataset):
        options["split"] = d.split
    return load_dataset(d.dataset, d.root, **options)


def build_for_dataset(cfg: Config, num_classes: int, pretrained: bool = True) -> nn.Module:
    """The configured model for `num_classes` identities and the configured frame size (`pretrained=False`: skip the
    ImageNet weights, e.g. when a checkpoint's weights are loaded over them next)."""
    m = cfg.model
    model = build_model(m.name, num_classes=num_classes, input_size=(cfg.data.height, cfg.data.width),
                        backbone=m.backbone, last_stride=m.last_stride,
                        pretrained=m.pretrained if pretrained else None, **m.kwargs)
    if getattr(model, "colour", None) is not None:       # a colour branch reads pixels: it needs the normalisation
        model.colour.set_pixel_stats(cfg.data.mean, cfg.data.std)
        if model.colour.skip is None and cfg.data.background == "suppress":
            # masked-out background is filled with one colour: not counted, so the histograms are mask-weighted
            # as the classical features' skip_colour makes them (configs/body_colour.yaml + masks)
            from .data.masks import fill_colour
            model.colour.skip = tuple(int(v) for v in fill_colour(cfg.data.mean))
    if m.freeze_stages:
        if not isinstance(getattr(model, "backbone", None), Backbone):
            raise ConfigError(f"model.freeze_stages: model {m.name!r} has no backbone to freeze")
        try:
            model.backbone.freeze(m.freeze_stages)
        except ValueError as e:
            raise ConfigError(f"model.{e}") from None
    return model


def check_model_config(cfg: Config) -> None:
    """The configured model can be built (its name, backbone and options): checked before any data is read or
    generated, by building it on the meta device (no memory, no weights: the real builder, nothing repeated)."""
    from .models.meta import on_device
    with on_device("meta"):
        build_for_dataset(cfg, 1, pretrained=False)


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    o = cfg.optim
    params = [p for p in model.parameters() if p.requires_grad]
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=True)
    raise ConfigError(f"optim.name must be adam, adamw or sgd, got {o.name!r}")


def lr_factor(epoch: int, cfg: Config) -> float:
    """Multiplier of the base lr at `epoch` (0-based): linear warm-up, then step or cosine decay."""
    o = cfg.optim
    if epoch < o.warmup_epochs:
        return o.warmup_factor + (1 - o.warmup_factor) * epoch / o.warmup_epochs
    if o.scheduler == "step":
        return o.gamma ** (epoch // o.step_size)
    if o.scheduler == "cosine":
        span = max(1, cfg.train.epochs - o.warmup_epochs)
        return 0.5 * (1 + math.cos(math.pi * (epoch - o.warmup_epochs) / span))
    if o.scheduler == "none":
        return 1.0
    raise ConfigError(f"optim.scheduler must be step, cosine or none, got {o.scheduler!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Config) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-epoch schedule of `lr_factor` (stepped once at each epoch's end)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, cfg))
