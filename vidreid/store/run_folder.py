"""The one owner of a run folder (train.output_dir): its layout (checkpoints/, features/, eval/<name>-<protocol>/ with
calibration.json, metrics.json), what counts as a previous run, when it may be continued or replaced, and the
one-writer lock every rank agrees on before any work starts.

    <run>/checkpoints/   step_<N>.safetensors + .state.pt, last/best.safetensors, classical and fused checkpoints
    <run>/features/      cached feature files (inference/feature_cache.py)
    <run>/eval/<checkpoint name>-<protocol>[-N]/   an eval's pictures and calibration.json
    <run>/metrics.json   the training log (engine/run_log.py)
"""
from __future__ import annotations

import os
import shutil
import sys

from ..config import Config
from ..errors import OutputError
from ..utils.io import RunLock, check_writable_folder
from ..utils import distributed as D

# what a run leaves in train.output_dir: a folder holding any of these holds a run (never replaced without --force,
# never continued without --resume). config.yaml and train.log alone are a start that stopped before its first
# checkpoint (a start refused during its set-up, e.g. a wrong data.root, writes neither): the next start rewrites
# config.yaml and appends to train.log (--force deletes them with the rest). Other files (e.g. the demo's synthped/
# data) are not the run's.
RUN_FILES = ("checkpoints", "metrics.json", "tb", "features")
RUN_FILES_REPLACED_BY_FORCE = RUN_FILES + ("config.yaml", "train.log")


CHECKPOINTS, FEATURES, EVAL, METRICS, CALIBRATION = "checkpoints", "features", "eval", "metrics.json", "calibration.json"


def checkpoints_folder(run_dir: str) -> str:
    return os.path.join(run_dir, CHECKPOINTS)


def run_dir_of(checkpoint: str) -> str:
    """The run folder a checkpoint belongs to: runs/x for runs/x/checkpoints/last.safetensors; a checkpoint outside
    a checkpoints/ folder: its own folder."""
    folder = os.path.dirname(os.path.abspath(checkpoint))
    return os.path.dirname(folder) if os.path.basename(folder) == CHECKPOINTS else folder


def features_folder(checkpoint: str) -> str:
    """Where the feature files of a checkpoint are cached by default."""
    return os.path.join(run_dir_of(checkpoint), FEATURES)


def eval_folder(checkpoint: str, protocol: str) -> str:
    """<run dir>/eval/<checkpoint name>-<protocol>, numbered -2, -3 ... when that holds files (an earlier eval's
    files are never replaced)."""
    checkpoint = os.path.abspath(checkpoint)
    base = os.path.join(run_dir_of(checkpoint), EVAL, f"{os.path.basename(checkpoint).split('.')[0]}-{protocol}")
    path, n = base, 1
    while os.path.exists(path) and os.listdir(path):
        n += 1
        path = f"{base}-{n}"
    return path


def calibration_files(checkpoint: str) -> list[str]:
    """The calibration.json files of a checkpoint's run (<run dir>/eval/*/calibration.json), newest first."""
    import glob
    return sorted(glob.glob(os.path.join(run_dir_of(checkpoint), EVAL, "*", CALIBRATION)),
                  key=os.path.getmtime, reverse=True)


def metrics_path(run_dir: str) -> str:
    return os.path.join(run_dir, METRICS)


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
    with train.resume (--resume) and replaced only with `force` (--force: the names of its run files are returned,
    for `replace_previous_run` to delete once the new run's set-up has passed, so that a refused start loses
    nothing); otherwise OutputError. Also proves the folder is writable."""
    run_dir = cfg.train.output_dir
    check_writable_folder(run_dir, f"train.output_dir {run_dir}")
    found = previous_run_files(run_dir)
    if not found or cfg.train.resume:
        return []
    if not force:
        raise OutputError(f"train.output_dir {run_dir} holds a previous run ({', '.join(found)}); not writing over "
                          f"it: pass --resume to continue it, --force to replace it, or choose another "
                          f"train.output_dir")
    return previous_run_files(run_dir, RUN_FILES_REPLACED_BY_FORCE)


def replace_previous_run(run_dir: str, names: list[str]) -> None:
    """--force: delete the previous run's files `names` (from check_run_folder), saying so."""
    for name in names:
        path = os.path.join(run_dir, name.rstrip("/"))
        shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    print(f"vidreid train: --force: replacing the previous run in {run_dir} (deleted {', '.join(names)})",
          file=sys.stderr)


def claim_run_folder(cfg: Config, force: bool, rank: int, world: int) -> tuple[RunLock | None, list[str]]:
    """Rank 0 locks train.output_dir and applies check_run_folder; every rank then raises rank 0's OutputError, if
    any, so none waits forever in a collective. -> (the lock (rank 0) or None, the previous run's files that --force
    replaces: the caller deletes them with replace_previous_run once its set-up has passed)."""
    lock, refusal, replaced = None, None, []
    if rank == 0:                                     # only rank 0 writes the run folder: it locks and checks it
        try:
            lock = RunLock(cfg.train.output_dir, "train.output_dir").acquire()
            replaced = check_run_folder(cfg, force)
        except OutputError as e:
            refusal = str(e)
    if world > 1:                                     # every rank stops with rank 0's refusal (none waits forever)
        refusal = D.broadcast_object(refusal)
    if refusal is not None:
        if lock is not None:
            lock.release()
        raise OutputError(refusal)
    return lock, replaced
