"""A warm Python interpreter that runs commands in forked copies of itself: `python -m MODULE ARGS` and
`python SCRIPT ARGS`, each in a new process with its own pid, process group, working folder and output file, exit
status as the interpreter would give it (SystemExit's code; 1 and the traceback for an uncaught exception) -- but
without paying, per command, the 2-4 s of importing torch, OpenCV, matplotlib and vidreid that dominate a short
command on two cores.

The server is a plain `python -c` process started with the environment the commands are to see (so that what
libraries read at import time -- OMP_NUM_THREADS, MPLBACKEND -- is what a fresh interpreter would read); it imports
the modules it is given, computes nothing (no thread pool exists when it forks), and for each request forks a child
that runs the command and reports its pid and then its exit status on the server's stdout.

    with WarmPython(env, modules=["torch", "cv2"], packages=["vidreid"]) as py:
        code, output, cpu_seconds = py.run_module("vidreid", ["train", ...], cwd=work, timeout=300)

scripts/readme_commands.py runs README's commands with it; tests/test_benchmarks_smoke.py the benchmarks' smoke modes.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

# the server: imports the preload modules (and, for a package, every submodule it can import), then forks one
# child per request line ({"argv", "cwd", "log", "module" | "path"}) and answers {"pid"} then {"status"}
SERVER = r'''
import atexit, importlib, json, os, pkgutil, runpy, sys, threading, traceback
reply = os.fdopen(os.dup(1), "w")            # the answers; what the imports print goes to stderr
os.dup2(2, 1)
modules, packages = json.loads(sys.argv[1])
for name in modules:
    importlib.import_module(name)
for name in packages:                         # and every submodule
    for info in pkgutil.walk_packages(importlib.import_module(name).__path__, name + "."):
        if info.name.endswith(".__main__"):    # a package's command line: it would run here
            continue
        try:
            importlib.import_module(info.name)
        except Exception:              # an optional extra that is not installed: the command imports it, or fails
            pass
for line in sys.stdin:
    req = json.loads(line)
    reply.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setpgid(0, 0)                        # a process group of its own: a timeout kills its children too
            os.chdir(req["cwd"])
            fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1); os.dup2(fd, 2); os.close(fd)
            null = os.open(os.devnull, os.O_RDONLY); os.dup2(null, 0); os.close(null)
            sys.stdout, sys.stderr = os.fdopen(1, "w", buffering=1), os.fdopen(2, "w", buffering=1)
            sys.argv = req["argv"]
            # sys.path[0] as the interpreter sets it: the working folder for -m, the script's folder for a script
            sys.path[0] = os.getcwd() if req.get("module") else os.path.dirname(os.path.abspath(req["path"]))
            try:
                if req.get("module"):
                    runpy.run_module(req["module"], run_name="__main__", alter_sys=True)
                else:
                    runpy.run_path(req["path"], run_name="__main__")
                code = 0
            except SystemExit as e:
                if e.code is None or isinstance(e.code, int):
                    code = e.code or 0
                else:
                    print(e.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
            threading._shutdown()                   # what the interpreter does at exit: join threads, atexit
            atexit._run_exitfuncs()
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
    print(json.dumps({"pid": pid}), file=reply, flush=True)
    _, status, usage = os.wait4(pid, 0)
    print(json.dumps({"status": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime}),
          file=reply, flush=True)
'''


# the libraries whose import takes most of a short vidreid command's time (pass as `modules`, with packages=["vidreid"])
# torch._dynamo: torch's optimisers import it when the first one is built (seconds), in every command that trains
LIBRARIES = ["torch", "torch._dynamo", "numpy", "cv2", "matplotlib.pyplot", "safetensors.torch", "yaml"]


class WarmPython:
    """A server interpreter (see the module docstring); run_module / run_script -> (exit status, output, CPU seconds)."""

    def __init__(self, env: dict[str, str], modules: list[str], packages: list[str] = (),
                 python: str = sys.executable):
        """`modules` are imported by the server, `packages` with every submodule they have."""
        self.server = subprocess.Popen([python, "-c", SERVER, json.dumps([list(modules), list(packages)])], env=env, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, bufsize=1)
        self._pending = b""      # what was read from the server's stdout past the last whole line

    def _request(self, request: dict, cwd: str, timeout: float) -> tuple[int, str, float]:
        with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
            self.server.stdin.write(json.dumps({**request, "cwd": os.path.abspath(cwd), "log": log.name}) + "\n")
            self.server.stdin.flush()
            pid = json.loads(self._line(None))["pid"]
            line = self._line(timeout)
            if line is None:                                  # timed out: stop its process group, as a timeout would
                os.killpg(pid, signal.SIGKILL)
                cpu = json.loads(self._line(None))["cpu"]
                return 124, log.read() + f"\n(timed out after {timeout:.0f} s)", cpu
            reply = json.loads(line)
            return reply["status"], log.read(), reply["cpu"]

    def _line(self, timeout: float | None) -> str | None:
        """The server's next line (None: none within `timeout` seconds). Read from the file descriptor, unbuffered,
        so that a line already read cannot hide from select()."""
        fd = self.server.stdout.fileno()
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"the warm interpreter exited ({self.server.wait()})")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode()

    def run_module(self, module: str, args: list[str], cwd: str, timeout: float) -> tuple[int, str, float]:
        """`python -m module *args` in `cwd` -> (exit status, stdout and stderr together, CPU seconds)."""
        return self._request({"module": module, "argv": [module, *args]}, cwd, timeout)

    def run_script(self, path: str, args: list[str], cwd: str, timeout: float) -> tuple[int, str, float]:
        """`python path *args` in `cwd` -> (exit status, stdout and stderr together, CPU seconds)."""
        return self._request({"path": path, "argv": [path, *args]}, cwd, timeout)

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait()

    def __enter__(self) -> "WarmPython":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
