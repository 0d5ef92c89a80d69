"""The training loop: any registered model, any dataset, losses weighted by the config (engine/loss.py).

`train(cfg)` is the entry point (`vidreid train`, `vidreid demo`, the benchmarks): it claims the run folder
(store/run_folder.py) and runs a `Trainer`, whose `fit()` sets up the process, data, model and optimizer, resumes
if asked (engine/resume.py), then alternates `train_one_epoch` (`train_step` per batch) and `evaluate`, writing a
checkpoint (store/checkpoint.py `Checkpointer`) of the weights and of the `RunState` (engine/run_state.py).

Reliability: checkpoints every `train.checkpoint_every` steps and at epoch ends (weights as safetensors, the rest
as a weights-only state file, both written atomically), `train.resume=auto` (`vidreid train --resume`) restores
everything (model, optimizer, scheduler, AMP scaler, epoch, step, best metric, RNG states) and continues mid-epoch on
the very batch it would have seen; resuming a finished run only evaluates and writes metrics.json. Distributed:
launched by torchrun, one process per device, PK batches split by identity across ranks; rank 0 alone writes
checkpoints and decides which one every rank resumes from.
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
import yaml
from torch import nn

from ..builders import build_for_dataset, build_optimizer, build_scheduler, check_model_config, prepare_dataset
from ..config import Config
from ..data.loader import batch_to_device
from ..errors import VidReIDError
from ..inference.evaluate import evaluate_model, format_results    # the one engine module that evaluates
from ..models.base import to_channels_last
from ..progress import progress_bar
from ..utils.io import atomic_write_text, clean_stale_temp_files
from ..utils.system import amp_dtype as amp_dtype_of, resolve_device
from ..validate import check_dataset_for_training, check_free_space, checkpoint_bytes, estimated_checkpoint_bytes
from ..utils import distributed as D
from ..store.checkpoint import Checkpointer
from .loss import compute_loss, non_finite_message, non_finite_weights_message, weights_finite
from .resume import agree_on_resume_state, restore_training, rng_states, weights_of_state
from ..store.run_folder import claim_run_folder, replace_previous_run
from .run_log import log, open_run_log, setup_logging, write_metrics
from .run_state import RunState
from .signals import EXIT_CODES, StopRequest


class TrainingError(VidReIDError):
    """Training cannot go on (e.g. a non-finite loss)."""


class TrainingInterrupted(VidReIDError):
    """Ctrl-C (exit 130) or SIGTERM (exit 143) during training: names the last checkpoint; the CLI adds the command
    that resumes."""
    exit_code = 130

    def __init__(self, message: str, last_checkpoint: str | None, run_dir: str, exit_code: int = 130):
        super().__init__(message)
        self.last_checkpoint, self.run_dir, self.exit_code = last_checkpoint, run_dir, exit_code


class StopAtSafePoint(Exception):
    """Raised by the loop when a stop was requested (engine/signals.py), after the step's checkpoint is written."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class EpochClock:
    """Where one epoch's time went, for its log line and metrics.json."""
    started: float              # time.time() when the epoch (or its resumed rest) started
    first_batch: int            # index of the first batch trained in this process (> 0: resumed mid-epoch)
    wait: float = 0.0           # seconds spent waiting for batches
    busy: float = 0.0           # seconds spent computing steps

    def wait_fraction(self) -> float:
        return self.wait / max(self.wait + self.busy, 1e-9)


class Trainer:
    """One training run of `cfg` in this process (one rank under torchrun). `fit()` does everything and returns
    the final metrics; the parts (setup, resume, train_one_epoch, train_step, evaluate, save) are its steps.

    Rank 0 alone writes (config.yaml, checkpoints, metrics.json, TensorBoard); every rank takes part in the same
    collectives at the same points (non-finite checks, loss averaging, barriers after each checkpoint)."""

    def __init__(self, cfg: Config, progress: bool = True):
        self.cfg = cfg
        self.rank, self.world, self.local_rank = D.init_from_env(resolve_device(cfg.train.device).type)
        self.main = self.rank == 0
        self.progress = progress and self.main
        self.run_dir = cfg.train.output_dir
        self.state = RunState()
        self.checkpointer: Checkpointer | None = None   # set by setup(); names the last checkpoint after a Ctrl-C
        self.resumed_from: str | None = None            # the state file resume() loaded
        self.tb = None                                  # TensorBoard SummaryWriter (rank 0, train.tensorboard)
        self.final: dict | None = None                  # the last evaluation's metrics, without its distances
        self.distmat = None                             # the last evaluation's (Q, G) distance matrix
        self.features: dict = {}                        # the last evaluation's "query" / "gallery" features (N, D)
        self.stop = StopRequest()                       # SIGTERM: stop after the current step (train() installs it)
        self.console_final_table = True                 # False: the caller prints the final results itself (demo)
        self.replaces: list[str] = []                   # --force: the previous run's files, deleted by write_run_files

    @property
    def last_checkpoint(self) -> str | None:
        return self.checkpointer.last_path if self.checkpointer is not None else None

    # -------------------------------------------------------------------------------------------- set-up
    def setup(self) -> None:
        """Process settings, data, model, optimizer and checkpointer, in this order (the model's initialisation
        draws from the RNGs seeded first). The model's name, backbone and options are checked first, before any
        data is read or generated; the run folder's files are written by `write_run_files`, once set-up and resume
        have passed (a refused run writes nothing)."""
        check_model_config(self.cfg)
        self._setup_process()
        early = estimated_checkpoint_bytes(self.cfg)        # before the data, which may be generated first
        if early:
            check_free_space(self.run_dir, early, "the run's checkpoints")
        self._build_data()
        check_dataset_for_training(self.dataset, self.cfg, evaluation=self.evaluates())
        self._build_model()
        self._build_optimization()
        check_free_space(self.run_dir, checkpoint_bytes(self.core, self.cfg.optim.name, self.cfg.train.keep_last),
                         "the run's checkpoints")
        meta = {"model": self.cfg.model.name, "num_classes": self.dataset.num_train_pids,
                "config": self.cfg.to_dict(), "dataset": self.dataset.name}
        self.checkpointer = Checkpointer(self.run_dir, self.cfg.train.keep_last, meta)

    def evaluates(self) -> bool:
        """Does the run evaluate (at its end, on the dataset's query and gallery)?"""
        return True

    def _setup_process(self) -> None:
        cfg = self.cfg
        setup_logging(self.run_dir, self.main)
        # the intra-op thread count decides how convolution/matmul reductions are split, hence the float rounding of
        # every gradient: a fixed train.threads gives bit-identical runs on any core count (0 = torch's default, the
        # number of cores, so results then depend on the machine)
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        if cfg.train.deterministic:
            torch.use_deterministic_algorithms(True)
        seed_everything(cfg.train.seed)
        self.device = resolve_device(cfg.train.device)
        if self.device.type == "cuda" and self.world > 1:
            self.device = torch.device("cuda", self.local_rank)

    def _build_data(self) -> None:
        from ..data.loader import DataPath, build_train_loader
        self.dataset = prepare_dataset(self.cfg, self.progress)
        log.info(self.dataset.summary())
        # on a GPU the batch is augmented there (data/loader.py DataPath): the same clips, a quarter of the bytes
        self.loader = build_train_loader(self.dataset, self.cfg.data, seed=self.cfg.train.seed, rank=self.rank,
                                         world_size=self.world, pixels=DataPath.for_device(self.device).on_device)
        self.iters = self.cfg.train.iters_per_epoch or self.loader.sampler.sampler.num_batches(0)  # steps per epoch
        self.total_steps = self.iters * self.cfg.train.epochs

    def _build_model(self) -> None:
        cfg, device = self.cfg, self.device
        model = build_for_dataset(cfg, self.dataset.num_train_pids)
        if cfg.train.sync_bn and self.world > 1:
            model = D.convert_sync_batchnorm(model, device.type)
        model = model.to(device)
        if cfg.train.channels_last:
            # the clips stay as loaded: the first convolution, its weight NHWC, lays its input out NHWC itself
            model = to_channels_last(model)
        self.core = self.model = model                   # core: the model itself; model: what the steps call
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        n_params = sum(p.numel() for p in model.parameters())
        log.info(f"model {cfg.model.name} ({cfg.model.backbone}): {n_params / 1e6:.2f} M parameters, "
                 f"{self.dataset.num_train_pids} classes, device {device}, {self.world} process(es), "
                 f"amp={cfg.train.amp}, {torch.get_num_threads()} intra-op thread(s)")

    def _build_optimization(self) -> None:
        self.optimizer = build_optimizer(self.core, self.cfg)
        self.trainable = [p for p in self.core.parameters() if p.requires_grad]   # what a step changes
        self.scheduler = build_scheduler(self.optimizer, self.cfg)
        self.amp_dtype = amp_dtype_of(self.cfg.train.amp, "train.amp")
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype is torch.float16)

    def resume(self) -> str | None:
        """With train.resume: load the agreed state file into every component and the RunState -> its path."""
        path = agree_on_resume_state(self.cfg)
        if not path:
            return None
        saved = restore_training(path, self.cfg, self.core, self.optimizer, self.scheduler, self.scaler, self.main)
        self.state.load_state_dict(saved, path)
        self.checkpointer.last_path = weights_of_state(path)
        self.resumed_from = path
        step, iters, epochs = self.state.step, self.iters, self.cfg.train.epochs
        start_epoch = step // iters
        if start_epoch >= epochs:
            log.info(f"resumed from {path}: step {step}, training had already finished "
                     f"({epochs} epochs of {iters} steps)")
        else:
            log.info(f"resumed from {path}: epoch {start_epoch + 1}, step {step} "
                     f"(batch {step - start_epoch * iters + 1} of {iters} in this epoch)")
        return path

    def write_run_files(self) -> None:
        """The run folder's first writes, after set-up and resume passed: the previous run's files deleted (--force),
        train.log (with what was logged so far), config.yaml, and temporary files of an interrupted run removed."""
        if not self.main:
            return
        if self.replaces:
            replace_previous_run(self.run_dir, self.replaces)
        open_run_log(self.run_dir)
        stale = clean_stale_temp_files(self.run_dir, r"config\.yaml|metrics\.json") + \
            clean_stale_temp_files(os.path.join(self.run_dir, "checkpoints"), Checkpointer.TEMP_NAMES)
        if stale:
            log.info(f"removed {len(stale)} temporary file(s) left by an interrupted run")
        atomic_write_text(os.path.join(self.run_dir, "config.yaml"), yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))

    def open_tensorboard(self) -> None:
        if self.main and self.cfg.train.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(os.path.join(self.run_dir, "tb"))
            except ImportError:
                log.info("tensorboard not installed: no TensorBoard scalars (pip install tensorboard)")

    # -------------------------------------------------------------------------------------------- the loop
    def fit(self) -> dict:
        """Set up, resume if asked, train the remaining epochs (evaluating every train.eval_every and after the
        last) -> the final metrics + `train_seconds`, `history`, `step_losses`, `model`, `dataset`, `distmat`,
        `features` (the last evaluation's query / gallery features)."""
        self.setup()
        self.resume()
        self.write_run_files()
        self.open_tensorboard()
        self.t_start, self.steps_at_start = time.time(), self.state.step
        start_epoch = self.state.step // self.iters
        for epoch in range(start_epoch, self.cfg.train.epochs):
            clock = self.train_one_epoch(epoch)
            self.end_epoch(epoch, clock)                 # writes the epoch's checkpoint
            if epoch + 1 < self.cfg.train.epochs and self.stop_agreed():
                raise StopAtSafePoint
        if self.tb is not None:
            self.tb.close()
        if self.resumed_from and start_epoch >= self.cfg.train.epochs:
            # resumed a run whose last checkpoint came after its last epoch (killed before or while writing
            # metrics.json): nothing to train, but evaluate the final weights and write metrics.json again
            self.evaluate_finished_run()
        return {**(self.final or {}), "train_seconds": time.time() - self.t_start, "history": self.state.history,
                "step_losses": self.state.step_losses, "model": self.core, "dataset": self.dataset,
                "distmat": self.distmat if self.final is not None else None,
                "features": self.features if self.final is not None else None}

    def train_one_epoch(self, epoch: int) -> EpochClock:
        """Train epoch `epoch` (0-based) from the step the run stands at (mid-epoch after a resume) to its end,
        writing the train.checkpoint_every checkpoints that fall inside it."""
        cfg, st = self.cfg, self.state
        self.model.train()
        in_epoch = st.step - epoch * self.iters
        self.loader.sampler.set_epoch(epoch, skip_batches=in_epoch)
        if in_epoch == 0:
            st.start_epoch()
        st.epoch = epoch
        clock = EpochClock(started=time.time(), first_batch=in_epoch)
        bar = progress_bar(total=self.iters, initial=in_epoch, desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
                           unit="it", enabled=self.progress)
        batches = iter(self.loader)
        while st.step < (epoch + 1) * self.iters:
            t0 = time.time()
            try:
                batch = next(batches)
            except StopIteration:                              # next pass of the sampler within this epoch
                batches = iter(self.loader)
                continue
            t1 = time.time()
            clips, pids = batch_to_device(batch, self.device, cfg.data)   # clips: (B, T, 3, H, W)
            terms = self.train_step(clips, pids, epoch)
            t2 = time.time()
            clock.wait, clock.busy = clock.wait + (t1 - t0), clock.busy + (t2 - t1)
            self.record_step(terms, len(pids), t2 - t0, (t1 - t0) / max(t2 - t0, 1e-9), clock, bar)
            mid_epoch = st.step % self.iters != 0          # an epoch's last step is checkpointed by end_epoch
            stopping = mid_epoch and self.stop_agreed()    # the same step on every rank
            if mid_epoch and (stopping or cfg.train.checkpoint_every and st.step % cfg.train.checkpoint_every == 0):
                self.save()
                D.barrier()
            if stopping:
                bar.close()
                raise StopAtSafePoint
        bar.close()
        return clock

    def stop_agreed(self) -> bool:
        """Has any rank been asked to stop (SIGTERM)? Every rank then takes that signal as its own, so each says
        the same and exits with the same code, the ranks that never received it included."""
        signum = D.max_over_ranks(self.stop.requested or 0)
        if signum and self.stop.requested is None:
            self.stop.requested = signum
        return bool(signum)

    def train_step(self, clips: torch.Tensor, pids: torch.Tensor, epoch: int) -> dict[str, float]:
        """One optimizer step on a batch (clips (B, T, 3, H, W), pids (B,)) -> this rank's loss terms and their
        total "loss". A non-finite loss on any rank stops every rank here, with the same TrainingError."""
        clips, pids = clips.to(self.device, non_blocking=True), pids.to(self.device)
        amp = self.amp_dtype
        with torch.autocast(self.device.type, dtype=amp or torch.float32, enabled=amp is not None):
            out = self.model(clips)
        loss, terms = self.compute_loss(out, pids)
        finite = bool(torch.isfinite(loss))
        if D.any_over_ranks(not finite):    # every rank stops at the same step, with the same message
            raise TrainingError(non_finite_message(
                None if finite else (self.rank, float(loss.detach()), terms, sorted(set(pids.tolist()))),
                self.state.step + 1, epoch + 1, self.last_checkpoint, self.world))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.state.step += 1
        if D.any_over_ranks(not weights_finite(self.trainable)):    # one sync: the sums of the updated tensors
            raise TrainingError(non_finite_weights_message(self.state.step, epoch + 1, float(loss.detach()),
                                                           self.optimizer.param_groups[0]["lr"],
                                                           self.last_checkpoint))
        terms["loss"] = float(loss.detach())
        return terms

    def compute_loss(self, out, pids: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The loss of a step's output (engine/loss.py); subclasses with pseudo-labels pass their structure."""
        return compute_loss(out, pids, self.cfg, self.model)

    def eta_seconds(self) -> float:
        done = max(self.state.step - self.steps_at_start, 1)
        return (time.time() - self.t_start) / done * (self.total_steps - self.state.step)

    def record_step(self, terms: dict, batch_size: int, seconds: float, wait_fraction: float, clock: EpochClock,
                    bar) -> None:
        """Average a step's loss terms over ranks into the RunState; show them (bar, TensorBoard, train.log)."""
        st, step = self.state, self.state.step
        terms = D.mean_over_ranks(terms)                   # the global batch's loss, as one process sees it
        st.step_losses.append(terms["loss"])
        for k, v in terms.items():
            st.epoch_sums[k] = st.epoch_sums.get(k, 0.0) + v
        st.epoch_seen += batch_size * self.world
        rate = batch_size * self.world / max(seconds, 1e-9)
        eta, lr = self.eta_seconds(), self.optimizer.param_groups[0]["lr"]
        bar.set_postfix(loss=f"{terms['loss']:.3f}", lr=f"{lr:.1e}", clips_s=f"{rate:.1f}", eta=f"{eta / 60:.1f}m")
        bar.update()
        if self.tb is not None:
            for k, v in terms.items():
                self.tb.add_scalar(f"loss/{k}", v, step)
            self.tb.add_scalar("lr", lr, step)
            self.tb.add_scalar("speed/clips_per_s", rate, step)
            self.tb.add_scalar("speed/data_wait_fraction", wait_fraction, step)
        if self.cfg.train.log_every and step % self.cfg.train.log_every == 0:
            log.info(f"step {step}/{self.total_steps} loss {terms['loss']:.4f} "
                     + " ".join(f"{k}={v:.4f}" for k, v in terms.items() if k != "loss")
                     + f" lr {lr:.2e} {rate:.1f} clips/s data-wait {clock.wait_fraction():.0%} ETA {eta / 60:.1f} min")

    def end_epoch(self, epoch: int, clock: EpochClock) -> None:
        """An epoch's end: its history entry and log line, the lr schedule's step, evaluation when due, the epoch's
        checkpoint and metrics.json."""
        cfg, st = self.cfg, self.state
        stats = {"epoch": epoch + 1, **{k: v / self.iters for k, v in st.epoch_sums.items()},
                 "lr": self.optimizer.param_groups[0]["lr"],
                 "clips_per_s": st.epoch_seen / max(time.time() - clock.started, 1e-9) if clock.first_batch == 0
                 else None,
                 "data_wait_fraction": clock.wait_fraction(), "elapsed_s": time.time() - self.t_start}
        self.scheduler.step()
        st.history.append(stats)
        log.info(f"epoch {epoch + 1}/{cfg.train.epochs} " + " ".join(
            f"{k}={v:.4f}" for k, v in stats.items() if k not in ("epoch", "elapsed_s", "lr") and v is not None)
            + f" lr={stats['lr']:.2e} elapsed={stats['elapsed_s']:.0f}s ETA={self.eta_seconds() / 60:.1f}min")
        if epoch + 1 == cfg.train.epochs or (cfg.train.eval_every and (epoch + 1) % cfg.train.eval_every == 0):
            self.evaluate(epoch)
        st.epoch = epoch + 1
        self.save()
        if self.main:
            write_metrics(self.run_dir, cfg, st.history, st.evals, self.final, time.time() - self.t_start,
                          st.step_losses)
        D.barrier()

    # -------------------------------------------------------------------------------------------- evaluation
    def _evaluate_now(self) -> dict:
        self.features = {}
        res = evaluate_model(self.core, self.dataset, self.cfg, self.device, self.progress, features=self.features)
        self.final, self.distmat = {k: v for k, v in res.items() if k != "distmat"}, res["distmat"]
        return res

    def evaluate(self, epoch: int) -> dict:
        """Evaluate after epoch `epoch` (0-based): log, record in the RunState and TensorBoard, and mirror the
        weights to best.safetensors when the mAP is the best so far."""
        res, st = self._evaluate_now(), self.state
        if self.main:
            final = epoch + 1 == self.cfg.train.epochs
            log.info(format_results(res, title=f"evaluation after epoch {epoch + 1}"),
                     extra={"console": self.console_final_table or not final})
        st.evals.append({"epoch": epoch + 1, "mAP": res["mAP"], "R1": float(res["cmc"][0])})
        if self.tb is not None:
            self.tb.add_scalar("eval/mAP", res["mAP"], st.step)
            self.tb.add_scalar("eval/R1", float(res["cmc"][0]), st.step)
        if res["mAP"] > st.best:
            st.best = res["mAP"]
            if self.main:
                self.checkpointer.save_best(self.core, epoch + 1, st.best)
        return res

    def evaluate_finished_run(self) -> dict:
        """A resumed run with nothing left to train: evaluate its final weights and write metrics.json again."""
        res, st = self._evaluate_now(), self.state
        if self.main:
            log.info(format_results(res, title=f"evaluation of the finished run ({len(st.history)} epochs)"))
            seconds = st.history[-1].get("elapsed_s", 0.0) if st.history else 0.0
            write_metrics(self.run_dir, self.cfg, st.history, st.evals, self.final, seconds, st.step_losses)
        D.barrier()
        return res

    # -------------------------------------------------------------------------------------------- checkpoints
    def training_state(self) -> dict:
        """What a step's state file holds: the RunState's fields and the optimizer, scheduler, gradient scaler and
        RNG states (plain containers and tensors: it loads with torch.load(weights_only=True))."""
        return {**self.state.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "rng": rng_states()}

    def save(self) -> None:
        """Checkpoint the current step (rank 0 writes; the other ranks only note its name). Callers follow it with
        a barrier."""
        if self.main:
            self.checkpointer.save(self.core, self.training_state())
        else:
            self.checkpointer.mark(self.state.step)


def train(cfg: Config, progress: bool = True, force: bool = False, make_trainer=Trainer,
          console_final_table: bool = True) -> dict:
    """Train, evaluate every `train.eval_every` epochs and at the end; returns the final metrics (+ the model and
    dataset under the keys `model`, `dataset`).

    train.output_dir must not hold a previous run unless train.resume is set (continue it) or `force` (replace it);
    one process at a time writes a run folder (a lock names the other process's id). Ctrl-C raises
    TrainingInterrupted naming the last checkpoint; SIGTERM stops after the current step with a checkpoint of it.
    `console_final_table=False`: the final evaluation's table goes to train.log only (the caller prints it). `make_trainer(cfg, progress)` builds the Trainer (a subclass:
    engine/adapt.py)."""
    rank, world, _ = D.init_from_env(resolve_device(cfg.train.device).type)
    created = not os.path.exists(cfg.train.output_dir)
    lock, replaces = claim_run_folder(cfg, force, rank, world)
    threads = torch.get_num_threads()
    trainer = None
    stop = StopRequest()
    try:
        with stop:
            trainer = make_trainer(cfg, progress)
            trainer.stop, trainer.console_final_table, trainer.replaces = stop, console_final_table, replaces
            return trainer.fit()
    except StopAtSafePoint:
        last = trainer.last_checkpoint
        raise TrainingInterrupted(f"stopped by {stop.name} after step {trainer.state.step}; saved a resumable "
                                  f"checkpoint: {last}", last, cfg.train.output_dir,
                                  EXIT_CODES.get(stop.requested, 130)) from None
    except KeyboardInterrupt:
        last = trainer.last_checkpoint if trainer is not None else None
        why = f"stopped by a second {stop.name}" if stop.requested else "interrupted"
        raise TrainingInterrupted(f"{why}; last checkpoint: {last or 'none yet (nothing to resume from)'}",
                                  last, cfg.train.output_dir, EXIT_CODES.get(stop.requested, 130)) from None
    finally:
        torch.set_num_threads(threads)                       # train.threads is the run's, not the caller's
        if lock is not None:
            lock.release()
            if created and not os.listdir(cfg.train.output_dir):   # refused before its first write: no folder left
                os.rmdir(cfg.train.output_dir)
