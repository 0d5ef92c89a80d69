"""What `--checkpoint` names, resolved in one place for every command that runs a model (eval, index build).

  a .safetensors file    itself (trained, adapted, classical or fused: all are ordinary vidreid checkpoints)
  none (or no value)     --config's model as initialised (inference/initial.py); for a classical --config
                         (colour_hist, lomo) the checkpoint of its metric fitted on the train split
                         (inference/classical.py)
  + --fuse CONFIG        the fused checkpoint of the network and CONFIG's classical feature (inference/fused_checkpoint.py),
                         fitted on a dataset's train split on first use
"""
from __future__ import annotations

from typing import Callable

from ..errors import ConfigError
from .initial import NO_CHECKPOINT


def untrained_checkpoint(checkpoint: str | None, config_path: str | None, overrides: list[str], *,
                         split: int | None = None, classes_from_dataset: bool = True, device=None,
                         progress: bool = True, command: str = "eval") -> str:
    """`checkpoint` itself when it names a file; for `none` (or None: a classical --config needs no checkpoint)
    the epoch-0 checkpoint of --config's network, or its classical feature's fitted checkpoint.
    classes_from_dataset: the initial classifier has the dataset's number of training identities (eval), else 1
    (index build, whose gallery need not be a dataset)."""
    if checkpoint not in (None, NO_CHECKPOINT):
        return checkpoint
    if not config_path:
        if command != "eval":
            raise ConfigError("--checkpoint none needs --config: the model to index with, untrained")
        raise ConfigError("--checkpoint none needs --config: the model and data to evaluate untrained"
                          if checkpoint else "vidreid eval needs --checkpoint (or a classical --config: "
                                             "colour_hist, lomo)")
    from ..builders import prepare_dataset
    from ..config import load_config
    from ..models.classical import is_classical
    from ..utils.system import resolve_device
    from .initial import initial_checkpoint
    cfg = load_config(config_path, overrides)
    if split is not None:
        cfg.data.split = split
    classical = is_classical(cfg.model.name)
    dataset = prepare_dataset(cfg, progress=False) if classical or classes_from_dataset else None
    if classical:                                   # a classical feature: its metric fitted on --config's data
        from .classical import classical_checkpoint
        return classical_checkpoint(cfg, dataset, resolve_device(device or cfg.train.device), progress=progress)
    if checkpoint is None:
        raise ConfigError(f"vidreid eval needs --checkpoint: {cfg.model.name} is a network (pass a trained "
                          f"checkpoint, or --checkpoint none for it untrained)")
    return initial_checkpoint(cfg, max(dataset.num_train_pids, 1) if classes_from_dataset else 1)   # eval-only: 1


def fused_or_same(checkpoint: str, fuse: str | None, fuse_weight: str, dataset_and_device: Callable,
                  progress: bool = True) -> str:
    """With --fuse CONFIG: the fused checkpoint of `checkpoint` and CONFIG's classical feature, fitted on the train
    split of the dataset `dataset_and_device(checkpoint) -> (dataset, device)` gives (made on first use);
    without: `checkpoint`."""
    if not fuse:
        return checkpoint
    from .fused_checkpoint import fused_checkpoint
    dataset, device = dataset_and_device(checkpoint)
    return fused_checkpoint(checkpoint, fuse, fuse_weight, dataset, device, progress=progress)


def resolve_checkpoint(checkpoint: str | None, config_path: str | None, overrides: list[str], *,
                       fuse: str | None = None, fuse_weight: str = "auto", dataset_and_device: Callable | None = None,
                       split: int | None = None, classes_from_dataset: bool = True, device=None,
                       progress: bool = True, command: str = "eval") -> str:
    """The checkpoint file `--checkpoint` (+ `--fuse`) names (see the module docstring). dataset_and_device:
    the dataset a fusion is fitted on (default: --config's dataset on top of the checkpoint's config, on `device`)."""
    checkpoint = untrained_checkpoint(checkpoint, config_path, overrides, split=split,
                                      classes_from_dataset=classes_from_dataset, device=device, progress=progress,
                                      command=command)

    def default_dataset(path: str):
        from ..builders import prepare_dataset
        from ..utils.system import resolve_device
        from .model import open_checkpoint
        cfg, _ = open_checkpoint(path, config_path, overrides)
        return prepare_dataset(cfg, progress=progress), resolve_device(device or cfg.train.device)
    return fused_or_same(checkpoint, fuse, fuse_weight, dataset_and_device or default_dataset, progress)
