"""The identity of a feature space: one hash, shared by the feature cache and the search index.

`model_hash(state, cfg)` is a sha256 over the weights (tensor names, dtypes, shapes, bytes) and the parts of the
config that decide what a feature is (model name, backbone and its options, input size and normalisation). The
epoch, the optimiser settings and the checkpoint file's other metadata do not enter it, so re-saving the same weights
keeps the hash, and a feature file or an index made with one checkpoint is recognised for any copy of it. Feature
files and indexes store it and refuse (or recompute) features of any other model.
"""
from __future__ import annotations

import hashlib
import json

import torch
from torch import nn

from ..config import Config, config_from_dict

HASH_VERSION = "vidreid-model-hash-v1"


def model_hash(model: nn.Module | dict[str, torch.Tensor], cfg: Config) -> str:
    """Hex sha256 of the feature space of `model` (a module or its state dict) built from `cfg`."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    h = hashlib.sha256(HASH_VERSION.encode())
    m, d = cfg.model, cfg.data
    identity = {"model": m.name, "backbone": m.backbone, "last_stride": m.last_stride, "kwargs": m.kwargs,
                "input_size": [d.height, d.width], "mean": list(d.mean), "std": list(d.std)}
    h.update(json.dumps(identity, sort_keys=True, default=str).encode())
    for name, t in sorted(state.items()):                               # loop over tensors, not values
        t = t.detach().cpu().contiguous()
        h.update(f"\n{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def checkpoint_hash(path: str) -> str:
    """model_hash of a checkpoint file's weights and stored config, without building the model."""
    from ..engine.checkpoint import read_checkpoint
    from ..errors import CheckpointError
    state, meta = read_checkpoint(path)
    if "config" not in meta:
        raise CheckpointError(f"{path}: checkpoint metadata lacks its config (not written by vidreid train)")
    return model_hash(state, config_from_dict(meta["config"]))
