"""What both Ray engines share (workflows/ray_tracklets.py, workflows/ray_index.py): Ray imported only when asked
for (an optional extra), a session that is started small locally or joins a cluster, one-line task errors."""
from __future__ import annotations

import os
from contextlib import contextmanager

from ..errors import VidReIDError

OBJECT_STORE_BYTES = 100 << 20  # local Ray's object store: summaries and feature shards only (Ray's floor ~75 MB)


def require_ray():
    try:
        import ray
    except ImportError:
        raise VidReIDError("--engine ray needs Ray: pip install 'vidreid[ray]' (or `make test-ray`)") from None
    return ray


@contextmanager
def ray_session(address: str | None, workers: int | None):
    """A connection to Ray for the run: an existing one (already initialised in this process, e.g. by tests or a
    notebook) is used and left running; --address joins a cluster; otherwise a small local Ray is started."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(num_cpus=workers or os.cpu_count() or 1, object_store_memory=OBJECT_STORE_BYTES,
                 include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def one_line(e: BaseException) -> str:
    """The root cause of a Ray task error, in one line (RayTaskError wraps the task's own exception)."""
    cause = getattr(e, "cause", None) or e
    text = (str(cause).strip().splitlines() or [""])[-1]
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
