"""What the machine offers: devices, autocast precisions and usable CPU cores (one copy each)."""
from __future__ import annotations

import os

from ..errors import ConfigError

AMP_NAMES = ("off", "bf16", "fp16")     # the values of train.amp / --amp


def amp_dtype(name: str, key: str = "amp"):
    """torch dtype autocast runs in for `name` (None for off); ConfigError naming `key` for anything else."""
    import torch
    dtypes = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if name not in dtypes:
        raise ConfigError(f"{key} must be off, bf16 or fp16, got {name!r}")
    return dtypes[name]


def resolve_device(name: str = "auto"):
    """torch.device for `name`; "auto" is CUDA when present, else CPU."""
    import torch
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except (RuntimeError, TypeError):
        from ..errors import ConfigError
        raise ConfigError(f"unknown device {name!r}; expected auto, cpu, cuda, cuda:N or meta") from None


def usable_cpus() -> int:
    """Cores this process may run on (its affinity mask: a container or `taskset` limit, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
