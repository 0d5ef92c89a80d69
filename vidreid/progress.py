"""One progress display for every long task (training epochs, feature extraction, frame checks, rendering).

`progress_bar(total, desc, enabled=...)` returns
  * a tqdm bar when stderr is a terminal;
  * otherwise (CI logs, `2> file`) a `LogProgress`: one plain line on stderr every `interval` seconds (default 30 s)
    and one at the end, e.g. "extract query: 1200/4800 frame (25%), 410 frame/s, ETA 9 s", so logs stay readable;
  * nothing at all when `enabled` is False (every command's `--no-progress`).
The environment variable VIDREID_PROGRESS (auto | bar | log | off) overrides the terminal test;
VIDREID_PROGRESS_INTERVAL sets the log interval in seconds.
Both kinds have tqdm's update / set_postfix / set_description / close and work as context managers.
"""
from __future__ import annotations

import os
import sys
import time

MODES = ("auto", "bar", "log", "off")
DEFAULT_INTERVAL = 30.0


def progress_mode(enabled: bool = True, stream=None) -> str:
    """"bar", "log" or "off" for a display on `stream` (default stderr)."""
    if not enabled:
        return "off"
    mode = os.environ.get("VIDREID_PROGRESS", "auto").strip().lower() or "auto"
    if mode not in MODES:
        mode = "auto"
    if mode != "auto":
        return mode
    stream = sys.stderr if stream is None else stream
    try:
        return "bar" if stream.isatty() else "log"
    except (AttributeError, ValueError):          # closed or replaced streams
        return "log"


class LogProgress:
    """tqdm's interface, printed as one line per `interval` seconds (and one when closed, if anything was done)."""

    def __init__(self, total=None, desc: str = "", unit: str = "it", initial: int = 0, interval: float | None = None,
                 stream=None, unit_scale: bool = False, **_ignored):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.interval = float(interval if interval is not None else
                              os.environ.get("VIDREID_PROGRESS_INTERVAL", DEFAULT_INTERVAL))
        self.stream = stream
        self.postfix = ""
        self._start_n, self._t0 = initial, time.monotonic()
        self._last = self._t0
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._print()

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        rate = (self.n - self._start_n) / elapsed
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        parts = [f"{self.desc}: {done} {self.unit}" if self.desc else f"{done} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{rate:.3g} {self.unit}/s")
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"ETA {(self.total - self.n) / rate:.0f} s")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def _print(self) -> None:
        print(self.line(), file=self.stream or sys.stderr, flush=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n > self._start_n:
                self._print()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class _NoProgress(LogProgress):
    """Counts, prints nothing."""

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        self._closed = True


def progress_bar(total=None, desc: str = "", unit: str = "it", enabled: bool = True, initial: int = 0,
                 leave: bool = False, interval: float | None = None, **tqdm_kwargs):
    """A progress display (see the module docstring); tqdm_kwargs (unit_scale, dynamic_ncols ...) go to the bar."""
    mode = progress_mode(enabled)
    if mode == "bar":
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave,
                    **{"dynamic_ncols": True, **tqdm_kwargs})
    cls = LogProgress if mode == "log" else _NoProgress
    return cls(total=total, desc=desc, unit=unit, initial=initial, interval=interval)
