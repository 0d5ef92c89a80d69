"""The training loop: any registered model, any dataset, losses weighted by the config.

The engine never looks inside a model: it applies cross-entropy to `out.logits`, batch-hard triplet to every
entry of `out.features`, and adds every `out.regularizers` term with its configured weight.

Reliability: checkpoints every `train.checkpoint_every` steps and at epoch ends (weights as safetensors, the rest
as a weights-only state file, both written atomically), `train.resume=auto` (`vidreid train --resume`) restores
everything (model, optimizer, scheduler, AMP scaler, epoch, step, best metric, RNG states) and continues mid-epoch on
the very batch it would have seen; resuming a finished run only evaluates and writes metrics.json. Distributed:
launched by torchrun, one process per device, PK batches split by identity across ranks; rank 0 alone writes
checkpoints and decides which one every rank resumes from.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import random
import re
import sys
import time

import numpy as np
import torch
import yaml
from torch import nn
from tqdm import tqdm

from ..config import Config
from ..errors import CheckpointError, ConfigError, OutputError, VidReIDError
from ..losses import batch_hard_triplet, cross_entropy
from ..progress import progress_bar
from ..models import ModelOutput
from . import distributed as D
from ..utils.io import RunLock, atomic_write_text, check_writable_folder, clean_stale_temp_files
from .checkpoint import load_training_state, load_weights, read_checkpoint, save_checkpoint, save_training_state
from .evaluate import evaluate_model, format_results
from ..builders import build_for_dataset, build_optimizer, build_scheduler, prepare_dataset
from ..utils.arrays import jsonable
from ..utils.system import amp_dtype as amp_dtype_of, resolve_device

log = logging.getLogger("vidreid")


class TrainingError(VidReIDError):
    """Training cannot go on (e.g. a non-finite loss)."""


class TrainingInterrupted(VidReIDError):
    """Ctrl-C during training: names the last checkpoint; the CLI adds the command that resumes (exit 130)."""
    exit_code = 130

    def __init__(self, message: str, last_checkpoint: str | None, run_dir: str):
        super().__init__(message)
        self.last_checkpoint, self.run_dir = last_checkpoint, run_dir


# what a run leaves in train.output_dir: a folder holding any of these holds a run (never replaced without --force,
# never continued without --resume). config.yaml and train.log alone are a start that failed before its first
# checkpoint (e.g. a wrong data.root): the next start rewrites config.yaml and appends to train.log (--force deletes
# them with the rest). Other files (e.g. the demo's synthped/ data) are not the run's.
RUN_FILES = ("checkpoints", "metrics.json", "tb", "features")
RUN_FILES_REPLACED_BY_FORCE = RUN_FILES + ("config.yaml", "train.log")


def previous_run_files(run_dir: str, names: tuple[str, ...] = RUN_FILES) -> list[str]:
    """The `names` present in run_dir (an empty checkpoints/ or tb/ folder does not count)."""
    found = []
    for name in names:
        path = os.path.join(run_dir, name)
        if os.path.isfile(path) or (os.path.isdir(path) and os.listdir(path)):
            found.append(name + ("/" if os.path.isdir(path) else ""))
    return found


def check_run_folder(cfg: Config, force: bool = False) -> list[str]:
    """The no-clobber rule for a run folder, before any work: a folder that holds a previous run is continued only
    with train.resume (--resume) and replaced only with `force` (--force: its run files are deleted, and the names
    returned for printing); otherwise OutputError. Also proves the folder is writable."""
    run_dir = cfg.train.output_dir
    check_writable_folder(run_dir, f"train.output_dir {run_dir}")
    found = previous_run_files(run_dir)
    if not found or cfg.train.resume:
        return []
    if not force:
        raise OutputError(f"train.output_dir {run_dir} holds a previous run ({', '.join(found)}); not writing over "
                          f"it: pass --resume to continue it, --force to replace it, or choose another "
                          f"train.output_dir")
    import shutil
    found = previous_run_files(run_dir, RUN_FILES_REPLACED_BY_FORCE)
    for name in found:
        path = os.path.join(run_dir, name.rstrip("/"))
        shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    return found


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def compute_loss(out: ModelOutput, pids: torch.Tensor, cfg: Config, model: nn.Module) -> tuple[torch.Tensor, dict]:
    """Total loss and its named terms (floats, for logging).

    Under DDP the triplet loss mines over the features gathered from every rank, so W processes with batch B/W
    each optimise exactly the single-process loss of batch B (BatchNorm statistics aside, unless sync_bn)."""
    l = cfg.loss
    terms: dict[str, torch.Tensor] = {}
    logits = out.logits if isinstance(out.logits, (list, tuple)) else [out.logits]
    if l.ce_weight:
        terms["ce"] = l.ce_weight * sum(cross_entropy(z.float(), pids, l.label_smoothing) for z in logits) / len(logits)
    unknown = set(l.triplet_weights) - set(out.features)
    if unknown:
        raise ConfigError(f"loss.triplet_weights names {', '.join(sorted(unknown))}, which the model does not return; "
                          f"its features are: {', '.join(out.features) or 'none'}")
    if l.triplet_weight:
        all_pids = D.gather_no_grad(pids)
        for name, f in out.features.items():
            w = l.triplet_weight * float(l.triplet_weights.get(name, 1.0))
            if w:
                terms[f"tri_{name}"] = w * batch_hard_triplet(D.gather_with_grad(f.float()), all_pids,
                                                              l.triplet_margin, l.triplet_distance, l.triplet_soft_margin)
    defaults = getattr(getattr(model, "module", model), "default_reg_weights", {})
    for name, value in out.regularizers.items():
        w = l.reg_weights.get(name, defaults.get(name, 1.0))
        if w:
            terms[name] = w * value
    total = sum(terms.values())
    return total, {k: float(v.detach()) for k, v in terms.items()}


def setup_logging(run_dir: str, main: bool = True) -> None:
    os.makedirs(run_dir, exist_ok=True)
    log.setLevel(logging.INFO if main else logging.WARNING)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
    if main:
        fh = logging.FileHandler(os.path.join(run_dir, "train.log"))
        fh.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(fh)

    class TqdmHandler(logging.Handler):  # print above progress bars instead of breaking them
        def emit(self, record):
            tqdm.write(self.format(record))
    log.addHandler(TqdmHandler())


# ------------------------------------------------------------------------------------------------ checkpoints
def rng_states() -> dict:
    states = {"torch": torch.get_rng_state(), "numpy": json.dumps(np.random.get_state()[1].tolist()),
              "numpy_pos": np.random.get_state()[2], "python": json.dumps(random.getstate()[1])}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(("MT19937", np.array(json.loads(s["numpy"]), dtype=np.uint32), int(s["numpy_pos"]), 0, 0.0))
    random.setstate((3, tuple(json.loads(s["python"])), None))
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


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


def weights_of_state(state_path: str) -> str:
    return state_path[:-len(".state.pt")] + ".safetensors" if state_path.endswith(".state.pt") \
        else state_path + ".safetensors"


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


# settings that define what the checkpoint *is*: resuming with other values would load weights into a different
# network or continue training on other identities
_RESUME_MUST_MATCH = ("model.name", "model.backbone", "model.last_stride", "model.kwargs", "data.dataset", "data.split")
# settings that do not change what is computed (or are expected to differ on a resume): no warning
_RESUME_IGNORED = ("train.resume", "train.output_dir", "train.threads", "train.tensorboard", "train.log_every",
                   "train.device", "data.root", "data.workers", "data.test_batch_size", "model.pretrained")


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
        weights = self.weights_path(step)
        state_path = os.path.join(self.dir, f"step_{step:07d}.state.pt")
        meta = {**self.meta, "epoch": state["epoch"], "step": step}
        try:
            save_checkpoint(weights, model, meta)
            save_training_state(state_path, state)
            save_checkpoint(os.path.join(self.dir, "last.safetensors"), model, meta)
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


# ------------------------------------------------------------------------------------------------ training
def train(cfg: Config, progress: bool = True, force: bool = False) -> dict:
    """Train, evaluate every `train.eval_every` epochs and at the end; returns the final metrics (+ the model and
    dataset under the keys `model`, `dataset`).

    train.output_dir must not hold a previous run unless train.resume is set (continue it) or `force` (replace it);
    one process at a time writes a run folder (a lock names the other process's id). Ctrl-C raises
    TrainingInterrupted naming the last checkpoint."""
    rank, world, _ = D.init_from_env()
    lock, refusal = None, None
    if rank == 0:                                     # only rank 0 writes the run folder: it locks and checks it
        try:
            lock = RunLock(cfg.train.output_dir, "train.output_dir").acquire()
            replaced = check_run_folder(cfg, force)
            if replaced:
                print(f"vidreid train: --force: replacing the previous run in {cfg.train.output_dir} (deleted "
                      f"{', '.join(replaced)})", file=sys.stderr)
        except OutputError as e:
            refusal = str(e)
    if world > 1:                                     # every rank stops with rank 0's refusal (none waits forever)
        refusal = D.broadcast_object(refusal)
    if refusal is not None:
        if lock is not None:
            lock.release()
        raise OutputError(refusal)
    threads = torch.get_num_threads()
    run_state: dict = {}
    try:
        return _train(cfg, progress, run_state)
    except KeyboardInterrupt:
        ckpt = run_state.get("checkpointer")
        last = ckpt.last_path if ckpt is not None else None
        raise TrainingInterrupted(f"interrupted; last checkpoint: {last or 'none yet (nothing to resume from)'}",
                                  last, cfg.train.output_dir) from None
    finally:
        torch.set_num_threads(threads)                       # train.threads is the run's, not the caller's
        if lock is not None:
            lock.release()


def _train(cfg: Config, progress: bool, run_state: dict) -> dict:
    """train()'s body; `run_state["checkpointer"]` lets train() name the last checkpoint after a Ctrl-C."""
    rank, world, local_rank = D.init_from_env()
    main = rank == 0
    progress = progress and main
    run_dir = cfg.train.output_dir
    setup_logging(run_dir, main)
    # the intra-op thread count decides how convolution/matmul reductions are split, hence the float rounding of
    # every gradient: a fixed train.threads gives bit-identical runs on any core count (0 = torch's default, the
    # number of cores, so results then depend on the machine)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True)
    seed_everything(cfg.train.seed)
    if main:
        stale = clean_stale_temp_files(run_dir, r"config\.yaml|metrics\.json") + \
            clean_stale_temp_files(os.path.join(run_dir, "checkpoints"), Checkpointer.TEMP_NAMES)
        if stale:
            log.info(f"removed {len(stale)} temporary file(s) left by an interrupted run")
        atomic_write_text(os.path.join(run_dir, "config.yaml"), yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    device = resolve_device(cfg.train.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)

    dataset = prepare_dataset(cfg, progress)
    log.info(dataset.summary())
    from ..data.loader import build_train_loader
    loader = build_train_loader(dataset, cfg.data, seed=cfg.train.seed, rank=rank, world_size=world)
    model = build_for_dataset(cfg, dataset.num_train_pids)
    if cfg.train.sync_bn and world > 1:
        model = D.convert_sync_batchnorm(model, device.type)
    model = model.to(device)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    core = model
    if world > 1:
        model = nn.parallel.DistributedDataParallel(core, device_ids=[device.index] if device.type == "cuda" else None)
    n_params = sum(p.numel() for p in core.parameters())
    log.info(f"model {cfg.model.name} ({cfg.model.backbone}): {n_params / 1e6:.2f} M parameters, "
             f"{dataset.num_train_pids} classes, device {device}, {world} process(es), amp={cfg.train.amp}, "
             f"{torch.get_num_threads()} intra-op thread(s)")
    optimizer = build_optimizer(core, cfg)
    scheduler = build_scheduler(optimizer, cfg)
    amp_dtype = amp_dtype_of(cfg.train.amp, "train.amp")
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype is torch.float16)

    iters = cfg.train.iters_per_epoch or loader.sampler.sampler.num_batches(0)
    meta = {"model": cfg.model.name, "num_classes": dataset.num_train_pids, "config": cfg.to_dict(),
            "dataset": dataset.name}
    ckpt = run_state["checkpointer"] = Checkpointer(run_dir, cfg.train.keep_last, meta)
    history, evals, best, final, step_losses = [], [], -1.0, None, []
    start_epoch, step, epoch_sums, epoch_seen = 0, 0, {}, 0

    state_path = agree_on_resume_state(cfg)
    if state_path:
        state = load_training_state(state_path)
        weights_path = weights_of_state(state_path)
        weights, saved_meta = read_checkpoint(weights_path)
        changed = compare_resume_config(saved_meta.get("config", {}), cfg, state_path)
        if changed and main:
            log.warning(f"warning: resuming {state_path} with changed settings (the run goes on with the new "
                        f"values): {'; '.join(changed)}")
        load_weights(core, weights, weights_path)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler.is_enabled() and not state["scaler"]:
            # the run was not fp16 (a disabled scaler saves {}): fp16 starts here with a fresh gradient scaler
            if main:
                log.warning("warning: the resumed run did not use fp16: starting a fresh fp16 gradient scaler")
        else:
            scaler.load_state_dict(state["scaler"])
        set_rng_states(state["rng"])
        step, best = state["step"], state["best"]
        history, evals = json.loads(state["history"]), json.loads(state["evals"])
        step_losses = json.loads(state["step_losses"])
        epoch_sums, epoch_seen = json.loads(state["epoch_sums"]), state["epoch_seen"]
        start_epoch = step // iters
        ckpt.last_path = weights_path
        if start_epoch >= cfg.train.epochs:
            log.info(f"resumed from {state_path}: step {step}, training had already finished "
                     f"({cfg.train.epochs} epochs of {iters} steps)")
        else:
            log.info(f"resumed from {state_path}: epoch {start_epoch + 1}, step {step} "
                     f"(batch {step - start_epoch * iters + 1} of {iters} in this epoch)")

    def train_state(epoch: int) -> dict:
        return {"step": step, "epoch": epoch, "best": best, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng_states(),
                "history": json.dumps(history), "evals": json.dumps(evals), "step_losses": json.dumps(step_losses),
                "epoch_sums": json.dumps(epoch_sums),
                "epoch_seen": epoch_seen}

    tb = None
    if main and cfg.train.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
            tb = SummaryWriter(os.path.join(run_dir, "tb"))
        except ImportError:
            log.info("tensorboard not installed: no TensorBoard scalars (pip install tensorboard)")

    total_steps = iters * cfg.train.epochs
    t_start, steps_at_start = time.time(), step
    for epoch in range(start_epoch, cfg.train.epochs):
        model.train()
        in_epoch = step - epoch * iters
        loader.sampler.set_epoch(epoch, skip_batches=in_epoch)
        if in_epoch == 0:
            epoch_sums, epoch_seen = {}, 0
        t_epoch, wait, busy = time.time(), 0.0, 0.0
        bar = progress_bar(total=iters, initial=in_epoch, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", unit="it",
                           enabled=progress)
        batches = iter(loader)
        while step < (epoch + 1) * iters:
            t0 = time.time()
            try:
                clips, pids, _ = next(batches)                  # clips: (B, T, 3, H, W)
            except StopIteration:                              # next pass of the sampler within this epoch
                batches = iter(loader)
                continue
            t1 = time.time()
            clips, pids = clips.to(device, non_blocking=True), pids.to(device)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                out = model(clips)
            loss, terms = compute_loss(out, pids, cfg, model)
            finite = bool(torch.isfinite(loss))
            if D.any_over_ranks(not finite):    # every rank stops at the same step, with the same message
                raise TrainingError(non_finite_message(
                    None if finite else (rank, float(loss.detach()), terms, sorted(set(pids.tolist()))),
                    step + 1, epoch + 1, ckpt.last_path, world))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            t2 = time.time()
            wait, busy = wait + (t1 - t0), busy + (t2 - t1)
            terms["loss"] = float(loss.detach())
            terms = D.mean_over_ranks(terms)                   # the global batch's loss, as one process sees it
            step_losses.append(terms["loss"])
            for k, v in terms.items():
                epoch_sums[k] = epoch_sums.get(k, 0.0) + v
            epoch_seen += len(pids) * world
            rate = len(pids) * world / max(t2 - t0, 1e-9)
            eta = (time.time() - t_start) / max(step - steps_at_start, 1) * (total_steps - step)
            bar.set_postfix(loss=f"{terms['loss']:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.1e}",
                            clips_s=f"{rate:.1f}", eta=f"{eta / 60:.1f}m")
            bar.update()
            if tb is not None:
                for k, v in terms.items():
                    tb.add_scalar(f"loss/{k}", v, step)
                tb.add_scalar("lr", optimizer.param_groups[0]["lr"], step)
                tb.add_scalar("speed/clips_per_s", rate, step)
                tb.add_scalar("speed/data_wait_fraction", (t1 - t0) / max(t2 - t0, 1e-9), step)
            if cfg.train.log_every and step % cfg.train.log_every == 0:
                log.info(f"step {step}/{total_steps} loss {terms['loss']:.4f} "
                         + " ".join(f"{k}={v:.4f}" for k, v in terms.items() if k != "loss")
                         + f" lr {optimizer.param_groups[0]['lr']:.2e} {rate:.1f} clips/s "
                           f"data-wait {wait / max(wait + busy, 1e-9):.0%} ETA {eta / 60:.1f} min")
            if cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0 and step % iters:
                if main:
                    ckpt.save(core, train_state(epoch))
                else:
                    ckpt.mark(step)
                D.barrier()
        bar.close()
        n_epoch_steps = iters
        epoch_stats = {"epoch": epoch + 1, **{k: v / n_epoch_steps for k, v in epoch_sums.items()},
                       "lr": optimizer.param_groups[0]["lr"],
                       "clips_per_s": epoch_seen / max(time.time() - t_epoch, 1e-9) if in_epoch == 0 else None,
                       "data_wait_fraction": wait / max(wait + busy, 1e-9), "elapsed_s": time.time() - t_start}
        scheduler.step()
        history.append(epoch_stats)
        eta = (time.time() - t_start) / max(step - steps_at_start, 1) * (total_steps - step)
        log.info(f"epoch {epoch + 1}/{cfg.train.epochs} " + " ".join(
            f"{k}={v:.4f}" for k, v in epoch_stats.items()
            if k not in ("epoch", "elapsed_s", "lr") and v is not None)
            + f" lr={epoch_stats['lr']:.2e} elapsed={epoch_stats['elapsed_s']:.0f}s ETA={eta / 60:.1f}min")
        last = epoch + 1 == cfg.train.epochs
        if last or (cfg.train.eval_every and (epoch + 1) % cfg.train.eval_every == 0):
            res = evaluate_model(model.module if world > 1 else model, dataset, cfg, device, progress)
            if main:
                log.info(format_results(res, title=f"evaluation after epoch {epoch + 1}"))
            final = {k: v for k, v in res.items() if k != "distmat"}
            evals.append({"epoch": epoch + 1, "mAP": res["mAP"], "R1": float(res["cmc"][0])})
            if tb is not None:
                tb.add_scalar("eval/mAP", res["mAP"], step)
                tb.add_scalar("eval/R1", float(res["cmc"][0]), step)
            if res["mAP"] > best:
                best = res["mAP"]
                if main:
                    ckpt.save_best(core, epoch + 1, best)
        if main:
            ckpt.save(core, train_state(epoch + 1))
            write_metrics(run_dir, cfg, history, evals, final, time.time() - t_start, step_losses)
        else:
            ckpt.mark(step)
        D.barrier()
    if tb is not None:
        tb.close()
    if state_path and start_epoch >= cfg.train.epochs:
        # resumed a run whose last checkpoint came after its last epoch (killed before or while writing
        # metrics.json): nothing to train, but evaluate the final weights and write metrics.json again
        res = evaluate_model(model.module if world > 1 else model, dataset, cfg, device, progress)
        final = {k: v for k, v in res.items() if k != "distmat"}
        if main:
            log.info(format_results(res, title=f"evaluation of the finished run ({len(history)} epochs)"))
            seconds = history[-1].get("elapsed_s", 0.0) if history else 0.0
            write_metrics(run_dir, cfg, history, evals, final, seconds, step_losses)
        D.barrier()
    return {**(final or {}), "train_seconds": time.time() - t_start, "history": history, "step_losses": step_losses,
            "model": core,
            "dataset": dataset, "distmat": res["distmat"] if final is not None else None}


def non_finite_message(mine: tuple | None, step: int, epoch: int, last_checkpoint: str | None, world: int) -> str:
    """The one message every rank raises when any rank's loss is non-finite. `mine` is this rank's
    (rank, loss, terms, pids) if its loss is non-finite, else None; under DDP they are gathered from all ranks."""
    reports = [r for r in D.all_gather_objects(mine) if r is not None]
    parts = []
    for r, loss, terms, pids in reports:
        where = f" on rank {r}" if world > 1 else ""
        parts.append(f"non-finite loss {loss} (terms {terms}){where} at step {step} (epoch {epoch}); batch pids {pids}")
    return " | ".join(parts) + f"; last good checkpoint: {last_checkpoint or 'none yet'}"


def write_metrics(run_dir: str, cfg: Config, history: list, evals: list, final: dict | None, seconds: float,
                  step_losses: list | None = None):
    # what decides the float rounding (hence the printed numbers) besides the config: see docs/training.md
    environment = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                   "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    doc = {"config": cfg.to_dict(), "train_seconds": seconds, "history": history, "evals": evals, "final": final,
           "step_losses": step_losses or [], "environment": environment}
    atomic_write_text(os.path.join(run_dir, "metrics.json"), json.dumps(jsonable(doc), indent=1))
