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

from ..config import Config

HASH_VERSION = "vidreid-model-hash-v1"


def _identity_hasher(cfg: Config):
    h = hashlib.sha256(HASH_VERSION.encode())
    m, d = cfg.model, cfg.data
    identity = {"model": m.name, "backbone": m.backbone, "last_stride": m.last_stride, "kwargs": m.kwargs,
                "input_size": [d.height, d.width], "mean": list(d.mean), "std": list(d.std)}
    if getattr(d, "background", "keep") != "keep":         # only when on: the hashes of every other model stay
        identity["background"] = d.background
    h.update(json.dumps(identity, sort_keys=True, default=str).encode())
    return h


def model_hash(model: nn.Module | dict[str, torch.Tensor], cfg: Config) -> str:
    """Hex sha256 of the feature space of `model` (a module or its state dict) built from `cfg`."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    h = _identity_hasher(cfg)
    for name, t in sorted(state.items()):                               # loop over tensors, not values
        t = t.detach().cpu().contiguous()
        h.update(f"\n{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# safetensors' dtype names -> torch's (the names model_hash writes)
_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
           "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool", "F8_E4M3": "float8_e4m3fn",
           "F8_E5M2": "float8_e5m2"}


def file_model_hash(path: str, cfg: Config) -> str:
    """model_hash of the weights in safetensors file `path`, read from the file's bytes (header + memory map) without
    building a tensor: the same digest as model_hash(load_file(path), cfg), since safetensors stores each tensor's
    bytes contiguous and little-endian, as model_hash reads them."""
    import mmap
    import struct
    h = _identity_hasher(cfg)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        start = 8 + n
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for name in sorted(k for k in header if k != "__metadata__"):   # loop over tensors, not values
                t = header[name]
                h.update(f"\n{name}|torch.{_DTYPES[t['dtype']]}|{tuple(t['shape'])}\n".encode())
                a, b = t["data_offsets"]
                h.update(data[start + a:start + b])
    return h.hexdigest()
