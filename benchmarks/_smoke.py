"""What the benchmarks' `--smoke` modes share: a temporary folder and an untrained checkpoint on a tiny SynthPed."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile

TINY_SYNTH = {"ids": 8, "cams": 3, "height": 64, "width": 32, "max_len": 12, "median_len": 8, "seed": 0}


def smoke_dir(name: str) -> str:
    """A fresh temporary folder, removed when the script exits."""
    path = tempfile.mkdtemp(prefix=f"vidreid-{name}-smoke-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def untrained_checkpoint(folder: str, model: str = "tp", size: tuple[int, int] = (64, 32)) -> str:
    """A checkpoint of an untrained `model` (ResNet-18, no pretrained weights) whose config reads a tiny SynthPed
    generated under `folder` on first use -> its path."""
    from vidreid.config import Config
    from vidreid.store.checkpoint import save_checkpoint
    from vidreid.models import build_model
    cfg = Config()
    cfg.model.name, cfg.model.backbone, cfg.model.pretrained = model, "resnet18", None
    cfg.data.dataset, cfg.data.root, cfg.data.synth = "synthped", os.path.join(folder, "synthped"), dict(TINY_SYNTH)
    cfg.data.height, cfg.data.width, cfg.data.workers = *size, 0
    path = os.path.join(folder, f"{model}.safetensors")
    net = build_model(model, 8, input_size=size, backbone="resnet18", pretrained=None)
    save_checkpoint(path, net, {"model": model, "num_classes": 8, "config": json.loads(json.dumps(cfg.to_dict()))})
    return path
