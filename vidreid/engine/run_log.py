"""What a run records for people: train.log (and log lines above the progress bars) and metrics.json."""
from __future__ import annotations

import json
import logging
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
        tqdm.write(self.format(record))


def setup_logging(run_dir: str, main: bool = True) -> None:
    """The "vidreid" logger for a run: INFO to <run_dir>/train.log and the terminal on the main process, warnings
    only (terminal) on the others."""
    os.makedirs(run_dir, exist_ok=True)
    log.setLevel(logging.INFO if main else logging.WARNING)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
    if main:
        fh = logging.FileHandler(os.path.join(run_dir, "train.log"))
        fh.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(fh)
    log.addHandler(TqdmHandler())


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
