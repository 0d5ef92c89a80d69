"""Checkpoints that can never run code.

A checkpoint is a `.safetensors` file: the model weights plus JSON metadata (model name, number of classes,
the full config, vidreid version, epoch). Resumable training state (optimizer, scheduler, RNG states) lives
next to it in `<stem>.state.pt`, a plain tensor/dict file loaded with `torch.load(weights_only=True)`.
All writes go through vidreid.utils.io.atomic_path (temp file in the same folder, fsynced, `os.replace`d over the
real name), so a crash or a full disk never leaves a truncated file under the real name; the temp files a SIGKILL
leaves behind are removed by `clean_stale_temp_files` when the next run starts.
`Checkpointer` is a training run's writer: step_<N> weights + state pairs under <run>/checkpoints/, the newest
`train.keep_last` kept, last.safetensors and best.safetensors mirrored.
"""
from __future__ import annotations

import glob
import json
import os
import re

import torch
from torch import nn

from .. import __version__
from ..errors import CheckpointError, OutputError
from ..utils.io import atomic_path, clean_stale_temp_files


def save_checkpoint(path: str, model: nn.Module, meta: dict) -> None:
    """Write model weights + metadata (model, num_classes, config, epoch ...) as safetensors, atomically."""
    from safetensors.torch import save_file
    model = getattr(model, "module", model)  # unwrap DDP
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"vidreid_version": __version__, "meta": json.dumps(meta, default=str)}
    with atomic_path(path) as tmp:
        save_file(state, tmp, metadata=metadata)


def mirror_file(src: str, path: str, write) -> None:
    """Make `path` hold what the finished file `src` holds: a hard link to it (no second copy of the bytes to write
    and fsync; pruning `src` later leaves `path` whole), renamed over `path` atomically; where the filesystem has no
    hard links, `write(path)` writes a copy."""
    try:
        with atomic_path(path) as tmp:
            os.unlink(tmp)                  # the temp name atomic_path reserved, taken by the link
            os.link(src, tmp)
    except OutputError:
        write(path)


def load_tensors(path: str) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint file: the one place vidreid loads a checkpoint's weights (a `Checkpoint` calls it
    at most once; tests count its calls)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a vidreid safetensors checkpoint ({e})") from None


def _stat_signature(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


class Checkpoint:
    """A vidreid checkpoint file, read once: `open` reads the header's metadata (no tensor); `state` loads the
    tensors on first use and keeps them; `hash` (the feature-space hash, store/identity.py) comes from the loaded
    tensors or, when none are loaded, from the file's tensor bytes (no tensor is built). Pass the value down instead
    of the path, so that one command reads the file once."""

    def __init__(self, path: str, meta: dict, signature: tuple[int, int] | None = None):
        self.path, self.meta, self.signature = path, meta, signature
        self._state: dict[str, torch.Tensor] | None = None
        self._hash: str | None = None

    @classmethod
    def open(cls, path: str) -> "Checkpoint":
        """The metadata of `path` (model name, classes, config ...). Refuses anything but a safetensors file."""
        if isinstance(path, Checkpoint):
            return path
        if not os.path.isfile(path):
            raise CheckpointError(missing_checkpoint_message(path))
        if path.endswith(".state.pt"):                 # the training state beside a checkpoint, not its weights
            raise CheckpointError(f"{path} is a training-state file (for --resume), not a vidreid safetensors "
                                  f"checkpoint: pass the weights beside it, {path[:-len('.state.pt')]}.safetensors")
        from safetensors import SafetensorError, safe_open
        try:
            signature = _stat_signature(path)
            with safe_open(path, framework="pt") as f:
                metadata = f.metadata() or {}
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{path}: not a vidreid safetensors checkpoint ({e}); pickled .pth/.pt "
                                  "checkpoints are refused because loading them can run code") from None
        meta = json.loads(metadata.get("meta", "{}"))
        meta.setdefault("vidreid_version", metadata.get("vidreid_version"))
        return cls(path, meta, signature)

    @property
    def state(self) -> dict[str, torch.Tensor]:
        """The weights, loaded on first use (once)."""
        if self._state is None:
            self._state = load_tensors(self.path)
        return self._state

    @property
    def config(self) -> dict:
        """The full config the checkpoint was written with (CheckpointError when it has none)."""
        if "config" not in self.meta:
            raise CheckpointError(f"{self.path}: checkpoint metadata lacks its config (not written by vidreid train)")
        return self.meta["config"]

    @property
    def hash(self) -> str:
        """model_hash of the weights and the stored config (store/identity.py), computed once."""
        if self._hash is None:
            from ..config import config_from_dict
            from .identity import file_model_hash, model_hash
            cfg = config_from_dict(self.config)
            self._hash = (model_hash(self._state, cfg) if self._state is not None
                          else file_model_hash(self.path, cfg))
        return self._hash

    def changed(self) -> bool:
        """Was the file replaced or rewritten since `open` (size or modification time)?"""
        try:
            return _stat_signature(self.path) != self.signature
        except OSError:
            return True


def checkpoint_hash(checkpoint: str | Checkpoint) -> str:
    """model_hash of a checkpoint's weights and stored config (a path or an opened Checkpoint), without building the
    model."""
    return Checkpoint.open(checkpoint).hash


def read_checkpoint(path: str) -> tuple[dict[str, torch.Tensor], dict]:
    """-> (state_dict, meta) of a checkpoint file (`Checkpoint.open(path)`, tensors loaded)."""
    ck = Checkpoint.open(path)
    return ck.state, ck.meta


def missing_checkpoint_message(path: str) -> str:
    """Why `path` is not a checkpoint file: a folder, a broken link or a link loop, or nothing at all."""
    if os.path.isdir(path):
        inside = sorted(glob.glob(os.path.join(glob.escape(path), "**", "*.safetensors"), recursive=True))[:3]
        return (f"{path} is a folder, not a checkpoint file" + (f" (checkpoints in it: {', '.join(inside)})"
                                                                 if inside else ""))
    if os.path.islink(path):
        return f"{path} is a symbolic link to nothing readable (a broken link or a link loop): {os.readlink(path)}"
    return f"checkpoint not found: {path}"


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], path: str = "checkpoint",
                 allow_new_classifier: bool = False) -> list[str]:
    """Load `state` into `model`, naming mismatching keys. Classifier weights of another class count are
    skipped when `allow_new_classifier` (evaluation only needs the feature extractor). Returns skipped keys."""
    prepare = getattr(model, "prepare_state", None)
    if callable(prepare):               # buffers whose shapes were fitted to data (classical metrics) take the file's
        prepare(state)
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


class Checkpointer:
    """Writes step_<N>.safetensors + step_<N>.state.pt, keeps the newest `keep_last`, mirrors last/best.

    Only rank 0 writes; the other ranks call `mark(step)` at the same points so that `last_path` (named in error
    messages) is the same on every rank."""

    TEMP_NAMES = r"step_\d+\.safetensors|step_\d+\.state\.pt|last\.safetensors|best\.safetensors"

    def __init__(self, run_dir: str, keep_last: int, meta: dict):
        self.dir = os.path.join(run_dir, "checkpoints")
        self.keep_last, self.meta = max(1, keep_last), meta
        self.last_path: str | None = None

    def weights_path(self, step: int) -> str:
        return os.path.join(self.dir, f"step_{step:07d}.safetensors")

    def state_path(self, step: int) -> str:
        return os.path.join(self.dir, f"step_{step:07d}.state.pt")

    def mark(self, step: int) -> None:
        """What save(step) sets, without writing (ranks other than 0)."""
        self.last_path = self.weights_path(step)

    def clean_stale_temp_files(self) -> list[str]:
        """Remove this writer's temp files left by a run killed mid-write (rank 0, before it writes anything)."""
        return clean_stale_temp_files(self.dir, self.TEMP_NAMES)

    def _intact_note(self) -> str:
        if self.last_path and os.path.isfile(self.last_path):
            state = self.last_path[:-len(".safetensors")] + ".state.pt"
            return (f"; the previous checkpoint {self.last_path} is intact and loadable"
                    + (" (`vidreid train --resume` continues from it once there is room)" if os.path.isfile(state)
                       else ""))
        return "; no earlier checkpoint of this run exists"

    def save(self, model, state: dict) -> str:
        """Write step_<N> (weights, then state) and mirror last.safetensors; then prune old steps. A failed write
        (e.g. a full disk) removes this step's partial files, leaves every earlier checkpoint as it was, and raises
        OutputError saying which checkpoint is still loadable."""
        step = state["step"]
        weights, state_path = self.weights_path(step), self.state_path(step)
        meta = {**self.meta, "epoch": state["epoch"], "step": step}
        try:
            save_checkpoint(weights, model, meta)
            save_training_state(state_path, state)
            mirror_file(weights, os.path.join(self.dir, "last.safetensors"),
                        lambda path: save_checkpoint(path, model, meta))
        except OutputError as e:
            for partial in (state_path, weights):             # a step is complete with both files or absent
                if os.path.exists(partial):
                    os.unlink(partial)
            raise OutputError(f"{e}{self._intact_note()}") from None
        self.last_path = weights
        self.prune()
        return weights

    def prune(self) -> list[str]:
        """Delete all but the newest `keep_last` steps, each step's state before its weights (a kill in between
        leaves weights without a state, never a state without weights), and any state or weights whose partner is
        gone (left by an older version or a kill). Returns the deleted paths."""
        def step_of(path):
            return int(re.findall(r"step_(\d+)", os.path.basename(path))[0])
        weights = {step_of(p): p for p in glob.glob(os.path.join(self.dir, "step_*.safetensors"))}
        states = {step_of(p): p for p in glob.glob(os.path.join(self.dir, "step_*.state.pt"))}
        complete = sorted(set(weights) & set(states))
        keep = set(complete[-self.keep_last:])
        removed = []
        for step in sorted(set(weights) | set(states)):
            if step in keep:
                continue
            for path in (states.get(step), weights.get(step)):
                if path and os.path.exists(path):
                    os.unlink(path)
                    removed.append(path)
        return removed

    def save_best(self, model, epoch: int, metric: float) -> None:
        save_checkpoint(os.path.join(self.dir, "best.safetensors"), model, {**self.meta, "epoch": epoch, "mAP": metric})
