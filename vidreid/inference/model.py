"""A model to run: a vidreid checkpoint loaded for inference, and the config a command runs it with."""
from __future__ import annotations

import contextlib
import json
import sys

import torch

from ..config import Config, config_from_dict, load_config
from ..store.checkpoint import Checkpoint, load_weights
from ..errors import CheckpointError, ConfigError
from ..models.meta import SkipRandomInit
from ..validate import check_checkpoint_data, check_finite_weights

# model settings that decide which network a checkpoint's weights belong to
MODEL_KEYS = ("name", "backbone", "last_stride", "kwargs")


def build_model_from_checkpoint(checkpoint: str | Checkpoint, num_classes: int | None = None,
                                device: str | torch.device = "cpu"):
    """-> (model in eval mode, meta) of a checkpoint file or an opened `Checkpoint` (whose tensors it loads, once).
    With num_classes different from the checkpoint's, the backbone and feature layers are loaded and the
    classifier re-initialised (only the features matter for evaluation)."""
    from ..builders import build_for_dataset
    ck = Checkpoint.open(checkpoint)
    path, meta = ck.path, ck.meta
    if "config" not in meta or "num_classes" not in meta:
        raise CheckpointError(f"{path}: checkpoint metadata lacks config/num_classes (not written by vidreid train)")
    cfg = config_from_dict(meta["config"])
    n = num_classes or meta["num_classes"]
    # the checkpoint's weights replace ImageNet's; with its class count they replace every weight (a strict load),
    # so the random initialisation, most of what building a network costs, is skipped
    with SkipRandomInit(everywhere=True) if n == meta["num_classes"] else contextlib.nullcontext():
        model = build_for_dataset(cfg, n, pretrained=False)
    if n != meta["num_classes"]:
        print(f"vidreid: note: {path} was trained with {meta['num_classes']} classes, this dataset has {n}: "
              f"backbone and feature layers loaded, classifier re-initialised (not used for evaluation)",
              file=sys.stderr)
    check_finite_weights(ck.state, path)                       # a diverged run's features would all be NaN
    load_weights(model, ck.state, path, allow_new_classifier=n != meta["num_classes"])
    return model.to(device).eval(), meta


def checkpoint_config(config_path: str | None, overrides: list[str], meta: dict, checkpoint: str) -> Config:
    """The config a command runs a checkpoint with (eval, extract, explain): the checkpoint's config, then the
    --config file, then the overrides. A file or override naming other model settings than the checkpoint's is a
    ConfigError (the checkpoint's model is what runs; silently ignoring the request would report another model)."""
    base = meta.get("config") or {}
    saved = base.get("model") or {}
    fused = saved if saved.get("name") == "fused" else None
    if fused:   # a fused checkpoint (inference/fused_checkpoint.py): a --config names the network it was made from
        k = fused.get("kwargs") or {}
        saved = {"name": k.get("network"), "backbone": fused.get("backbone"), "last_stride": fused.get("last_stride"),
                 "pretrained": None, "kwargs": k.get("network_kwargs") or {}}
        base = {**base, "model": saved}
    cfg = load_config(config_path, overrides, base=base)
    now = json.loads(json.dumps(cfg.to_dict()["model"], default=str))   # same JSON round trip as the saved one
    diffs = [f"model.{k} {now.get(k)!r} (checkpoint: {saved.get(k)!r})" for k in MODEL_KEYS
             if k in saved and saved.get(k) != now.get(k)]
    if diffs:
        source = f"--config {config_path}" + (" / the overrides" if overrides else "") if config_path else "the overrides"
        raise ConfigError(f"{source} name(s) other model settings than {checkpoint} was trained with "
                          f"({'; '.join(diffs)}); the checkpoint decides the model: remove those settings or pass "
                          f"the matching checkpoint")
    if fused:
        cfg.model = config_from_dict({"model": fused}).model
    return cfg


def open_checkpoint(checkpoint: str | Checkpoint, config_path: str | None = None, overrides: list[str] | None = None,
                    data: bool = True) -> tuple[Config, dict]:
    """-> (the config to run `checkpoint` with, its metadata), reading only the metadata (no tensor, no model):
    commands decide what to do (a cached feature file may make the model unnecessary) before loading weights.

    `data`: the command will load the config's dataset. When neither --config nor a data.root override names where
    it is, the root is the one stored in the checkpoint -- untrusted input: it is only read where it already exists,
    never generated or written (validate.check_checkpoint_data), whatever data.dataset names."""
    ck = Checkpoint.open(checkpoint)
    cfg = checkpoint_config(config_path, overrides or [], ck.meta, ck.path)
    root_named = any(o.split("=", 1)[0].strip() == "data.root" for o in overrides or [])
    if data and not config_path and not root_named:
        check_checkpoint_data(cfg, ck.path)
    return cfg, ck.meta
