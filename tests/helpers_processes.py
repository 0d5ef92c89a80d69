"""Real processes for the tests that need them (a run killed with SIGKILL or stopped with SIGTERM, torch.distributed
ranks), forked from a server that imported torch and vidreid once: multiprocessing's forkserver, preloaded. A new
interpreter would spend seconds of CPU importing torch before its first line; a fork from the server starts at once,
as a separate process with its own pid, signals and exit code."""
import multiprocessing
import os
import sys

# what the server imports before it forks anything (a child imports the rest itself; torch._dynamo: torch's optimisers
# import it, for seconds). One server serves a process, preloaded by whoever starts it: conftest.py starts it with
# this list before SynthPed's render pool (vidreid/data/synthped/writer.py), which would preload its own module only
PRELOAD = ["numpy", "torch", "torch._dynamo", "torch.distributed", "vidreid.cli", "vidreid.engine.train",
           "vidreid.utils.distributed", "vidreid.data.synthped.writer"]


def context():
    """The forkserver context; the server (one per pytest worker, started on first use) preloads PRELOAD."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start_server() -> None:
    """Start the fork server now (preloaded with PRELOAD) unless it is running: whoever starts it first chooses what
    it preloads."""
    from multiprocessing import forkserver
    context()                           # sets the preload list the server starts with
    forkserver.ensure_running()


def _cli_entry(argv: list[str], stdout: str, stderr: str, cpus: set[int] | None = None) -> None:
    """Body of a forked `vidreid ARGV`: its stdout and stderr go to files (the descriptors too, so that whatever
    writes to fd 1 or 2 lands there); the process exits with main's code, as `python -m vidreid` would. `cpus`: the
    cores it may run on, set before it computes anything (as on a machine with that many)."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    from vidreid.cli import main
    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def vidreid_process(argv: list[str], stdout: str, stderr: str | None = None, cpus: set[int] | None = None):
    """`vidreid ARGV` in a started process (stderr into `stdout`'s file unless named; on the cores `cpus` only,
    when given) -> the Process (pid, kill(), terminate(), join(), exitcode)."""
    proc = context().Process(target=_cli_entry, args=(list(argv), stdout, stderr or stdout, cpus))
    proc.start()
    return proc
