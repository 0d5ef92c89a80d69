"""Array conversions shared by every layer (no torch import here: eval/ stays importable without it)."""
from __future__ import annotations

import numpy as np


def to_numpy(x) -> np.ndarray:
    """A numpy view/copy of a numpy array, a list or a torch tensor (on any device; bfloat16 becomes float32, which
    is exact, because numpy has no bfloat16)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):          # a torch tensor, recognised without importing torch
        x = x.detach().cpu()
        x = (x.float() if str(x.dtype) == "torch.bfloat16" else x).numpy()
    return np.asarray(x)


def jsonable(obj):
    """`obj` with numpy arrays and scalars turned into lists and Python numbers (for json.dumps)."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj
