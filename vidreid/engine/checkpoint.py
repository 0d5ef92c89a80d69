"""Checkpoints that can never run code.

A checkpoint is a `.safetensors` file: the model weights plus JSON metadata (model name, number of classes,
the full config, vidreid version, epoch). Resumable training state (optimizer, scheduler, RNG states) lives
next to it in `<stem>.state.pt`, a plain tensor/dict file loaded with `torch.load(weights_only=True)`.
All writes go through vidreid.utils.io.atomic_path (temp file in the same folder, fsynced, `os.replace`d over the
real name), so a crash or a full disk never leaves a truncated file under the real name; the temp files a SIGKILL
leaves behind are removed by `clean_stale_temp_files` when the next run starts.
"""
from __future__ import annotations

import json
import os

import torch
from torch import nn

from .. import __version__
from ..errors import CheckpointError
from ..utils.io import atomic_path


def save_checkpoint(path: str, model: nn.Module, meta: dict) -> None:
    """Write model weights + metadata (model, num_classes, config, epoch ...) as safetensors, atomically."""
    from safetensors.torch import save_file
    model = getattr(model, "module", model)  # unwrap DDP
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"vidreid_version": __version__, "meta": json.dumps(meta, default=str)}
    with atomic_path(path) as tmp:
        save_file(state, tmp, metadata=metadata)


def read_checkpoint(path: str) -> tuple[dict[str, torch.Tensor], dict]:
    """-> (state_dict, meta). Refuses anything that is not a safetensors file."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a vidreid safetensors checkpoint ({e}); "
                              "pickled .pth/.pt checkpoints are refused because loading them can run code") from None
    meta = json.loads(metadata.get("meta", "{}"))
    meta.setdefault("vidreid_version", metadata.get("vidreid_version"))
    return state, meta


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], path: str = "checkpoint",
                 allow_new_classifier: bool = False) -> list[str]:
    """Load `state` into `model`, naming mismatching keys. Classifier weights of another class count are
    skipped when `allow_new_classifier` (evaluation only needs the feature extractor). Returns skipped keys."""
    own = model.state_dict()
    skipped = []
    if allow_new_classifier:
        for k in list(state):
            if k in own and own[k].shape != state[k].shape and "classifier" in k:
                skipped.append(k)
                state = {kk: vv for kk, vv in state.items() if kk != k}
    missing = sorted(set(own) - set(state) - set(skipped))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        def show(keys):
            return ", ".join(keys[:6]) + (f" ... (+{len(keys) - 6})" if len(keys) > 6 else "")
        parts = []
        if missing:
            parts.append(f"missing keys: {show(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {show(unexpected)}")
        if wrong_shape:
            parts.append("shape mismatch: " + show([f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                                                    for k in wrong_shape]))
        raise CheckpointError(f"{path} does not fit this model ({'; '.join(parts)})")
    model.load_state_dict(state, strict=False if skipped else True)
    return skipped


def save_training_state(path: str, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_training_state(path: str) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"training state not found: {path}") from None
    except Exception as e:  # pickle.UnpicklingError for anything that would need code to load
        raise CheckpointError(f"{path}: refused to load ({type(e).__name__}: {str(e).splitlines()[0]}); "
                              "only weights-only training states written by vidreid are accepted") from None
