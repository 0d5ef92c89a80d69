"""The rules of a run folder (train.output_dir): what counts as a previous run, when it may be continued or
replaced, and the one-writer lock every rank agrees on before any work starts."""
from __future__ import annotations

import os
import shutil
import sys

from ..config import Config
from ..errors import OutputError
from ..utils.io import RunLock, check_writable_folder
from . import distributed as D

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
    found = previous_run_files(run_dir, RUN_FILES_REPLACED_BY_FORCE)
    for name in found:
        path = os.path.join(run_dir, name.rstrip("/"))
        shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    return found


def claim_run_folder(cfg: Config, force: bool, rank: int, world: int) -> RunLock | None:
    """Rank 0 locks train.output_dir and applies check_run_folder (printing what --force deleted); every rank then
    raises rank 0's OutputError, if any, so none waits forever in a collective. -> the lock (rank 0) or None."""
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
    return lock
