"""What a run records for people: train.log (and log lines above the progress bars) and metrics.json."""
from __future__ import annotations

import json
import logging
import logging.handlers
import os

import torch
from tqdm import tqdm

from ..config import Config
from ..utils.arrays import jsonable
from ..utils.io import atomic_write_text

log = logging.getLogger("vidreid")


class TqdmHandler(logging.Handler):
    """Prints log lines above progress bars instead of breaking them."""

    def emit(self, record):
        if getattr(record, "console", True):      # extra={"console": False}: train.log only (the caller prints it)
            tqdm.write(self.format(record))


def setup_logging(run_dir: str, main: bool = True) -> None:
    """The "vidreid" logger for a run: INFO to <run_dir>/train.log and the terminal on the main process, warnings
    only (terminal) on the others. train.log is opened by `open_run_log` once the run's set-up has passed (a run
    refused during set-up writes nothing); until then its records wait in memory."""
    log.setLevel(logging.INFO if main else logging.WARNING)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    if main:
        log.addHandler(logging.handlers.MemoryHandler(capacity=1 << 20, flushLevel=logging.CRITICAL + 1))
    log.addHandler(TqdmHandler())


def open_run_log(run_dir: str) -> None:
    """Open <run_dir>/train.log and write into it what the run logged before (see `setup_logging`)."""
    os.makedirs(run_dir, exist_ok=True)
    fh = logging.FileHandler(os.path.join(run_dir, "train.log"))
    fh.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    for h in list(log.handlers):
        if isinstance(h, logging.handlers.MemoryHandler):
            h.setTarget(fh)
            h.flush()
            log.removeHandler(h)
    log.addHandler(fh)


def write_metrics(run_dir: str, cfg: Config, history: list, evals: list, final: dict | None, seconds: float,
                  step_losses: list | None = None):
    """<run_dir>/metrics.json (atomically): the config, per-epoch history, evaluations, final results, per-step
    losses and the environment that decides the float rounding."""
    # what decides the float rounding (hence the printed numbers) besides the config: see docs/training.md
    environment = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                   "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    doc = {"config": cfg.to_dict(), "train_seconds": seconds, "history": history, "evals": evals, "final": final,
           "step_losses": step_losses or [], "environment": environment}
    atomic_write_text(os.path.join(run_dir, "metrics.json"), json.dumps(jsonable(doc), indent=1))


def add_to_metrics(run_dir: str, final: dict | None = None, **fields) -> str:
    """Add `final` entries (under "final") and top-level `fields` to <run_dir>/metrics.json, atomically (e.g. the
    demo's chance level and total time). -> its path."""
    path = os.path.join(run_dir, "metrics.json")
    with open(path) as f:
        doc = json.load(f)
    doc["final"].update(jsonable(final or {}))
    doc.update(fields)
    atomic_write_text(path, json.dumps(jsonable(doc), indent=1))
    return path
