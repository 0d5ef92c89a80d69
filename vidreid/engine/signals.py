"""SIGTERM (what a scheduler, `docker stop` or `kill` sends first) as a request to stop training at the next safe
point: after the current step, with a resumable checkpoint of that step, the run folder's lock removed and a message
saying how to resume. A second SIGTERM stops at once (as Ctrl-C does: the last checkpoint written stays)."""
from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGTERM,)
EXIT_CODES = {signal.SIGTERM: 143}          # 128 + the signal number, as the shell reports a process it killed


class StopRequest:
    """Context manager that turns SIGTERM into `requested` (the signal's number) for the training loop to poll;
    the previous handlers come back on exit. Outside the main thread (where Python cannot set handlers) it does
    nothing."""

    def __init__(self):
        self.requested: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.requested is not None:          # asked twice: do not wait for the step to end
            raise KeyboardInterrupt
        self.requested = signum

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @property
    def name(self) -> str:
        return signal.Signals(self.requested).name if self.requested else ""
