"""Resuming a run: which state file to continue from (agreed on by every rank), whether the current config may
continue it, the RNG states a checkpoint saves, and loading a state file into the training components.

A step's checkpoint is two files: step_<N>.safetensors (weights + config, store/checkpoint.py) and
step_<N>.state.pt (RunState + optimizer, scheduler, gradient scaler and RNG states, weights-only).
"""
from __future__ import annotations

import glob
import json
import logging
import os
import random
import re

import numpy as np
import torch
from torch import nn

from ..config import Config
from ..errors import CheckpointError, ConfigError, VidReIDError
from ..utils import distributed as D
from ..store.checkpoint import load_training_state, load_weights, read_checkpoint

log = logging.getLogger("vidreid")

# settings that define what the checkpoint *is*: resuming with other values would load weights into a different
# network or continue training on other identities
_RESUME_MUST_MATCH = ("model.name", "model.backbone", "model.last_stride", "model.kwargs", "data.dataset", "data.split")
# settings that do not change what is computed (or are expected to differ on a resume): no warning
_RESUME_IGNORED = ("train.resume", "train.output_dir", "train.threads", "train.tensorboard", "train.log_every",
                   "train.device", "data.root", "data.workers", "data.prefetch", "data.frame_cache",
                   "data.test_batch_size", "model.pretrained")


# ------------------------------------------------------------------------------------------------ RNG states
def rng_states() -> dict:
    """Every RNG a training step draws from (torch CPU and CUDA, numpy's global, Python's `random`), as tensors."""
    _, keys, pos, has_gauss, cached_gauss = np.random.get_state()
    version, mt, _ = random.getstate()                   # mt: 624 state words + the position, as 625 ints
    states = {"torch": torch.get_rng_state(), "numpy": torch.from_numpy(keys.astype(np.int64)),
              "numpy_pos": int(pos), "numpy_gauss": [int(has_gauss), float(cached_gauss)],
              "python": torch.tensor(mt, dtype=torch.int64)}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _int_list(value) -> list[int]:
    """A saved state-word sequence: a tensor, or (state files of earlier versions) a JSON string of a list."""
    if isinstance(value, str):
        return json.loads(value)
    return [int(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]


def set_rng_states(s: dict) -> None:
    """Restore what rng_states() saved (or what earlier versions saved: the numpy and Python words as JSON)."""
    torch.set_rng_state(s["torch"])
    has_gauss, cached_gauss = s.get("numpy_gauss", (0, 0.0))
    np.random.set_state(("MT19937", np.array(_int_list(s["numpy"]), dtype=np.uint32), int(s["numpy_pos"]),
                         int(has_gauss), float(cached_gauss)))
    random.setstate((3, tuple(_int_list(s["python"])), None))
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


# ------------------------------------------------------------------------------------------------ which state file
def weights_of_state(state_path: str) -> str:
    """step_<N>.state.pt -> step_<N>.safetensors (the weights saved with it)."""
    return state_path[:-len(".state.pt")] + ".safetensors" if state_path.endswith(".state.pt") \
        else state_path + ".safetensors"


def find_resume_state(cfg: Config) -> str | None:
    """train.resume: '' -> None; 'auto' -> newest state file in output_dir/checkpoints (None if none); else path."""
    r = cfg.train.resume
    if not r:
        return None
    if r != "auto":
        if not os.path.isfile(r):
            raise ConfigError(f"train.resume: no such training state file {r}")
        return r
    states = [p for p in glob.glob(os.path.join(cfg.train.output_dir, "checkpoints", "step_*.state.pt"))
              if os.path.isfile(weights_of_state(p))]                # a state whose weights are gone is unusable
    return max(states, key=lambda p: int(re.findall(r"step_(\d+)", p)[-1])) if states else None


def agree_on_resume_state(cfg: Config) -> str | None:
    """The state file every rank resumes from: rank 0 decides (only rank 0 writes checkpoints, so only its
    output_dir is sure to hold them) and broadcasts its choice; if any rank cannot read that file and its weights,
    every rank raises the same CheckpointError (rather than some ranks resuming and others starting afresh, which
    desynchronises the collectives). Without a process group this is find_resume_state."""
    if D.world_size() == 1:
        return find_resume_state(cfg)
    decision: tuple[str, str | None]
    if D.is_main():
        try:
            decision = ("ok", find_resume_state(cfg))
        except VidReIDError as e:
            decision = ("error", str(e))
    else:
        decision = ("ok", None)
    kind, value = D.broadcast_object(decision)
    if kind == "error":
        raise ConfigError(f"{value} (on rank 0)")
    path = value
    readable = path is None or (os.path.isfile(path) and os.path.isfile(weights_of_state(path)))
    unreadable = [r for r, ok in enumerate(D.all_gather_objects(readable)) if not ok]
    if unreadable:
        raise CheckpointError(
            f"rank 0 resumes from {path} (and {os.path.basename(weights_of_state(path))}) but rank(s) "
            f"{', '.join(map(str, unreadable))} cannot read it: train.output_dir ({cfg.train.output_dir}) must be on a "
            f"filesystem shared by every node, since only rank 0 writes checkpoints")
    return path


# ------------------------------------------------------------------------------------------------ may it continue
def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def compare_resume_config(saved: dict, cfg: Config, path: str) -> list[str]:
    """Compare the config a checkpoint was trained with to the current one. Raises ConfigError (one line) when a
    setting that makes the resume meaningless differs (model, architecture, dataset); returns the other differing
    keys, described as `key: old -> new`, for a warning."""
    def under(key, prefixes):
        return any(key == p or key.startswith(p + ".") for p in prefixes)
    missing = object()
    old = _flatten(saved)
    new = _flatten(json.loads(json.dumps(cfg.to_dict(), default=str)))  # same JSON round trip as the saved one
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k, missing) != new.get(k, missing)]

    def show(k):
        return f"{k}: {old.get(k, '(unset)')!r} -> {new.get(k, '(unset)')!r}"
    fatal = [k for k in changed if under(k, _RESUME_MUST_MATCH)]
    if fatal:
        raise ConfigError(f"cannot resume from {path}: it was trained with other model/dataset settings "
                          f"({'; '.join(show(k) for k in fatal)}); use a new train.output_dir or restore them")
    return [show(k) for k in changed if not under(k, _RESUME_IGNORED)]


# ------------------------------------------------------------------------------------------------ loading
def restore_training(state_path: str, cfg: Config, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler, scaler: torch.amp.GradScaler, main: bool = True) -> dict:
    """Load a state file and its weights into the (unwrapped) model, optimizer, scheduler, gradient scaler and the
    RNGs, after compare_resume_config (warning, on the main process, about changed settings). -> the state file's
    dict, for RunState.load_state_dict."""
    state = load_training_state(state_path)
    weights_path = weights_of_state(state_path)
    weights, saved_meta = read_checkpoint(weights_path)
    changed = compare_resume_config(saved_meta.get("config", {}), cfg, state_path)
    if changed and main:
        log.warning(f"warning: resuming {state_path} with changed settings (the run goes on with the new "
                    f"values): {'; '.join(changed)}")
    load_weights(model, weights, weights_path)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler.is_enabled() and not state["scaler"]:
        # the run was not fp16 (a disabled scaler saves {}): fp16 starts here with a fresh gradient scaler
        if main:
            log.warning("warning: the resumed run did not use fp16: starting a fresh fp16 gradient scaler")
    else:
        scaler.load_state_dict(state["scaler"])
    set_rng_states(state["rng"])
    return state
