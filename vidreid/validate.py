"""Checks made once, up front, before any epoch, extraction or download: a run that cannot finish fails in its first
seconds with one line (what is wrong, where, how to fix it), not after an epoch of work.

The config's types, ranges, shapes and choices are checked when it is loaded (config.py `validate`); this module
checks what needs the data, the model or the disk:
- `check_dataset_for_training` / `check_dataset_for_evaluation`: the splits a run needs are present, and under
  `data.strict` every frame they list is read and decoded (data/check.py) before the first step;
- `check_free_space`: the run folder's disk holds the checkpoints the run will write (`checkpoint_bytes`);
- `check_finite_weights`: a checkpoint whose weights hold NaN or infinity is refused (export, eval);
- `require_option`: a flag that only means something with another one.
"""
from __future__ import annotations

import os
import shutil

import torch

from .errors import CheckpointError, ConfigError, DatasetError, OutputError


# ---------------------------------------------------------------------------------------------- dataset
def _where(dataset) -> str:
    manifest = (dataset.meta or {}).get("manifest") if hasattr(dataset, "meta") else None
    return f"{dataset.name} ({manifest or dataset.root})"


def check_eval_splits(dataset) -> None:
    """Query and gallery present: an evaluation ranks each query against the gallery."""
    for split in ("query", "gallery"):
        if not getattr(dataset, split):
            raise DatasetError(f"dataset {_where(dataset)} has no {split} tracklets, so it cannot be evaluated: "
                               f"add tracklets with split {split} (a manifest: rows with \"split\": \"{split}\") "
                               f"or name a dataset that has them (data.dataset=... data.root=...)")


def check_strict_frames(tracklets, what: str, workers: int | None = None) -> None:
    """data.strict: every frame of `tracklets` read and decoded now (in parallel), so that a corrupt frame stops the
    run before its first step rather than in the middle of it."""
    from .data.check import verify_frames
    paths = sorted({f for t in tracklets for f in t.frames})
    bad = verify_frames(paths, workers=workers, progress=False)
    if bad:
        i, _, message = bad[0]
        more = f" ({len(bad)} bad frames in all; `vidreid data check` lists them)" if len(bad) > 1 else ""
        raise DatasetError(f"{paths[i]}: {message}{more}; with data.strict=true every {what} frame must be "
                           f"readable: replace the file, or set data.strict=false to skip bad frames with a warning")


def _workers(cfg) -> int | None:
    return cfg.data.workers if isinstance(cfg.data.workers, int) and cfg.data.workers > 0 else None


def check_dataset_for_training(dataset, cfg, evaluation: bool = True) -> None:
    """Before the first step: a train split, the query and gallery the evaluation needs (`evaluation`), and
    (strict) every frame readable."""
    if not dataset.train:
        raise DatasetError(f"dataset {_where(dataset)} has no train tracklets: nothing to train on (add tracklets "
                           f"with split train, or evaluate a checkpoint with `vidreid eval`)")
    if evaluation:
        check_eval_splits(dataset)
    if cfg.data.strict:
        check_strict_frames(_unique(dataset.train, dataset.query, dataset.gallery), "training and test",
                            _workers(cfg))


def check_dataset_for_evaluation(dataset, cfg) -> None:
    """Before any extraction: query and gallery present, and (strict) every test frame readable."""
    check_eval_splits(dataset)
    if cfg.data.strict:
        check_strict_frames(_unique(dataset.query, dataset.gallery), "test", _workers(cfg))


def _unique(*splits) -> list:
    seen, out = set(), []
    for split in splits:                              # the mars gallery holds the query objects again
        for t in split:
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)
    return out


# ---------------------------------------------------------------------------------------------- disk
SPACE_MARGIN = 64 << 20          # bytes kept free beyond the estimate (logs, metrics.json, TensorBoard)


def checkpoint_bytes(model: torch.nn.Module, optimizer_name: str, keep_last: int) -> int:
    """Bytes the run's checkpoints take at most: `keep_last` step checkpoints (weights + state file, whose optimizer
    holds 2 tensors per parameter for Adam, 1 for SGD's momentum) and one more being written before the oldest is
    pruned, plus last.safetensors and best.safetensors."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    per_state = trainable * (1 if optimizer_name == "sgd" else 2)
    return (keep_last + 1) * (weights + per_state) + 2 * weights


def estimated_checkpoint_bytes(cfg) -> int | None:
    """checkpoint_bytes of cfg's model before any data is read (SynthPed generation can take minutes): the model
    built on the meta device (no memory, no weights read, the RNGs untouched) with a one-class classifier, so a
    lower bound short of the classifier's classes. None where a builder needs real tensors: the exact check after
    the model is built still runs."""
    from .builders import build_for_dataset
    from .models.meta import on_device
    rng = torch.random.get_rng_state()
    try:
        with on_device("meta"):
            model = build_for_dataset(cfg, 1, pretrained=False)
        return checkpoint_bytes(model, cfg.optim.name, cfg.train.keep_last)
    except Exception:   # noqa: BLE001 - an estimate only
        return None
    finally:
        torch.random.set_rng_state(rng)


def check_free_space(folder: str, need: int, what: str) -> None:
    """OutputError naming the folder, the bytes needed (margin included) and the bytes free, before any work."""
    probe = folder
    while probe and not os.path.exists(probe):        # the folder may not exist yet: its nearest existing parent
        parent = os.path.dirname(os.path.abspath(probe))
        if parent == os.path.abspath(probe):
            break
        probe = parent
    free = shutil.disk_usage(probe or ".").free
    if free < need + SPACE_MARGIN:
        raise OutputError(f"{folder}: not enough free space for {what}: about {_mib(need)} needed "
                          f"(+ {_mib(SPACE_MARGIN)} margin), {_mib(free)} free; free some space or point "
                          f"train.output_dir at another disk (fewer kept checkpoints: train.keep_last=1)")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB"


# ---------------------------------------------------------------------------------------------- weights
def finite_squares(tensors: list[torch.Tensor]) -> torch.Tensor:
    """(N,) bool, on the tensors' device: is each tensor's L2 norm finite in float32? False for NaN or
    infinity, and for magnitudes past ~1e19 -- weights that large are a diverged run too (an lr of 1e30 leaves
    finite 1e30 weights whose every activation then overflows). Reading the result is one host sync for all."""
    # the L2 norm: one fused reduction per tensor, no temporary copy (12 ms for ResNet-50's 161 tensors on a busy
    # 2-core CPU, where squaring into a copy took 2.3 s); its sum of squares overflows like the explicit one
    return torch.isfinite(torch.stack([torch.linalg.vector_norm(t.detach(), dtype=torch.float32) for t in tensors]))


def non_finite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of a state dict holding NaN, infinity or values past ~1e19."""
    names = [k for k, v in state.items() if v.is_floating_point() and v.numel()]
    if not names:
        return []
    ok = finite_squares([state[k] for k in names]).tolist()
    return [k for k, good in zip(names, ok) if not good]


def check_finite_weights(state: dict[str, torch.Tensor], path: str) -> None:
    """CheckpointError for a checkpoint whose weights are not all finite (a diverged run): its features would be
    NaN and every distance, hence the whole ranking, meaningless."""
    bad = non_finite_tensors(state)
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} weight tensor(s) hold NaN, infinity or values past 1e19 (first: {bad[0]}), the "
                              f"training diverged before this checkpoint was written; use an earlier checkpoint "
                              f"(checkpoints/step_*.safetensors) or retrain with a smaller optim.lr")


# ---------------------------------------------------------------------------------------------- checkpoints
def check_checkpoint_data(cfg, checkpoint: str) -> None:
    """The dataset a checkpoint's stored config names (data.dataset at data.root) may be read where it already
    exists and never written: a downloaded file must not decide where gigabytes of SynthPed are generated. A
    SynthPed root counts as existing only with its synthped.json marker (then ensure_synthped reuses it or refuses)."""
    d = cfg.data
    root = os.path.abspath(os.path.expanduser(d.root)) if d.root else ""
    exists = bool(root) and os.path.exists(root)
    if exists and d.dataset == "synthped":
        from .data.synthped.writer import read_marker
        exists = read_marker(root) is not None
    if not exists:
        raise DatasetError(f"{checkpoint} was trained on {d.dataset} at {d.root or '(no root)'}, which is not here "
                           f"(paths stored in a checkpoint are only read, never created); name the dataset to use: "
                           f"--config FILE, or data.dataset=NAME data.root=PATH")


# ---------------------------------------------------------------------------------------------- flags
def require_option(given: bool, option: str, needs: str, needs_value) -> None:
    """`option` only has a meaning together with `needs`: refuse it alone rather than ignore it."""
    if given and not needs_value:
        raise ConfigError(f"{option} only applies with {needs}: add {needs} or drop {option}")
