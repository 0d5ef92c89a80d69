"""`--checkpoint none`: evaluate or index with the ImageNet-initialised model of a config, no training.

So a user can measure what training adds on their own data: `vidreid eval --checkpoint none --config X` gives the
metrics of the model *before* `vidreid train --config X`. The initial model is written once as an ordinary vidreid
checkpoint (weights + metadata, epoch 0) into the user's cache folder, keyed by everything that decides its
weights, so eval, its feature cache, `index build` and `search` treat it exactly like a trained one.

The backbone's weights are ImageNet's (`model.pretrained`, "imagenet" when the config sets none: a random network
measures nothing); the layers the method adds on top (attention, embedding, classifier) keep their initialisation
from the seed `train.seed`, as training would start from them.
"""
from __future__ import annotations

import hashlib
import json
import os

import torch

from .. import __version__
from ..config import Config

NO_CHECKPOINT = "none"


def cache_dir() -> str:
    from ..utils.io import user_cache_dir
    return user_cache_dir("initial")


def initial_checkpoint(cfg: Config, num_classes: int, log=print) -> str:
    """Path of the epoch-0 checkpoint of `cfg` for `num_classes` identities (written on first use)."""
    from ..store.checkpoint import save_checkpoint
    from ..builders import build_for_dataset
    if not cfg.model.pretrained:
        cfg.model.pretrained = "imagenet"
    key = {"model": cfg.to_dict()["model"], "size": [cfg.data.height, cfg.data.width], "classes": num_classes,
           "seed": cfg.train.seed, "vidreid": __version__}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir(), f"{cfg.model.name}-{cfg.model.backbone}-{digest}.safetensors")
    if not os.path.isfile(path):
        torch.manual_seed(cfg.train.seed)
        model = build_for_dataset(cfg, num_classes, pretrained=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_checkpoint(path, model, {"model": cfg.model.name, "num_classes": num_classes, "config": cfg.to_dict(),
                                      "epoch": 0, "initial": cfg.model.pretrained})
    log(f"vidreid: no trained checkpoint: {cfg.model.name} on {cfg.model.backbone} initialised from "
        f"{cfg.model.pretrained} (epoch 0, {path})")
    return path
