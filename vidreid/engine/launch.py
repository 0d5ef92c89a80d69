"""`vidreid train --nproc N`: start N training processes on this machine (DDP), as `torchrun --standalone
--nproc_per_node N` does, through the same launcher (torch.distributed's elastic agent), so the ranks get the same
environment (RANK, WORLD_SIZE, MASTER_ADDR ...) and the training code cannot tell the two apart.

Why not only torchrun: when a rank fails, torchrun follows the rank's message with a traceback of its own
ChildFailedError and a table of the failures, so a user error (a missing dataset) reads as a crash. Here the ranks
write their one-line error to a file instead of the terminal (ERROR_DIR_ENV, read by cli.main), and this process
prints one line: rank 0's message, else the first failed rank's, else what killed it. Several machines: torchrun
(docs/training.md).
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import signal
import sys
import tempfile
import uuid

from ..errors import ConfigError

ERROR_DIR_ENV = "VIDREID_RANK_ERRORS"   # set for the ranks: the folder where each writes rank<RANK>.txt, its error line
# seconds the ranks get to stop at a safe point and write their checkpoint after SIGTERM before they are killed
SHUTDOWN_TIMEOUT_S = 120


def launch_ranks(nproc: int, argv: list[str]) -> int:
    """Run `python -m vidreid <argv>` in `nproc` processes of one DDP job and report as one process would: the
    first error as one line on stderr, the exit code of the rank that had it (0 when all succeed)."""
    if nproc < 1:
        raise ConfigError(f"--nproc {nproc}: expected a number of processes >= 1")
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # the agent logs every failure and shutdown itself ("E1207 01:57:20 ... failed (exitcode: 3)", "Received 15
    # death signal ..."); some of its loggers set their own level, so each is quietened, not just their parent
    for name in ["torch.distributed.elastic", *logging.root.manager.loggerDict]:
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0",   # a free port, as torchrun --standalone
                          max_restarts=0, monitor_interval=0.1, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    errors = tempfile.mkdtemp(prefix="vidreid-ranks-")
    previous = os.environ.get(ERROR_DIR_ENV)
    os.environ[ERROR_DIR_ENV] = errors                       # the ranks inherit this process's environment
    try:
        elastic_launch(config, sys.executable)("-m", "vidreid", *argv)
        return 0
    except ChildFailedError as e:
        return _report(errors, {rank: f.exitcode for rank, f in e.failures.items()}, nproc)
    except SignalException as e:      # SIGTERM / SIGINT to this process: the ranks got it too and said where they stopped
        _report(errors, {}, nproc)
        return 128 + int(e.sigval)
    finally:
        if previous is None:
            os.environ.pop(ERROR_DIR_ENV, None)
        else:
            os.environ[ERROR_DIR_ENV] = previous
        shutil.rmtree(errors, ignore_errors=True)


def rank_messages(folder: str) -> dict[int, str]:
    """{rank: its error line} of the ranks that wrote one."""
    out = {}
    for path in glob.glob(os.path.join(folder, "rank*.txt")):
        with open(path, encoding="utf-8") as f:
            out[int(os.path.basename(path)[4:-4])] = f.read().strip()
    return out


def _report(folder: str, exit_codes: dict[int, int], nproc: int) -> int:
    """Print one line for a failed job (rank 0's message, else the lowest rank's, else how a rank died) and return
    the exit code that goes with it."""
    messages = rank_messages(folder)
    if messages:
        rank = 0 if 0 in messages else min(messages)
        print(messages[rank], file=sys.stderr)
        # that rank's exit code; it may have been stopped by the launcher after writing its line, when another rank
        # (which met the same error) exited first: then the code of a rank that exited by itself
        codes = [exit_codes.get(rank, 0)] + sorted(exit_codes.values(), reverse=True)
        return next((c for c in codes if c > 0), 1)
    if not exit_codes:
        return 1
    # a rank the launcher stopped (SIGTERM) after another failed is not the cause: prefer the others
    causes = {r: c for r, c in exit_codes.items() if c != -signal.SIGTERM} or exit_codes
    rank = 0 if 0 in causes else min(causes)
    code = causes[rank]
    if code < 0:                                   # killed by a signal: no rank could say so
        name = signal.Signals(-code).name if -code in {s.value for s in signal.Signals} else f"signal {-code}"
        print(f"vidreid train: error: rank {rank} of {nproc} was killed by {name}"
              + (" (out of memory?)" if -code == signal.SIGKILL else ""), file=sys.stderr)
        return 128 - code
    print(f"vidreid train: error: rank {rank} of {nproc} exited with code {code} (its output is above)",
          file=sys.stderr)
    return code
