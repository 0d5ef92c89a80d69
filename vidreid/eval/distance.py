"""Query-gallery distance matrices, computed in row blocks with a (multi-threaded) torch matmul."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError

METRICS = ("euclidean", "cosine")
_BLOCK_ELEMENTS = 1 << 22  # (rows, G) output elements per matmul block: bounds the temporaries to ~16 MB


def _as_tensor(x, name: str) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (num_items, dim) feature matrix, got shape {tuple(t.shape)}")
    # float64 features are compared in float64 (the output is rounded to float32 once, at the end);
    # everything else (float16, bfloat16, integers) in float32.
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def distance(qf, gf, metric: str = "euclidean") -> np.ndarray:
    """Distances between query features `qf` (Q, D) and gallery features `gf` (G, D) as a float32 (Q, G) array.

    metric: "euclidean" = *squared* Euclidean distance |q|^2 + |g|^2 - 2 q.g (what torchreid and the re-ranking of
    Zhong et al. expect); "cosine" = 1 - cos(q, g) with rows L2-normalised as torch's F.normalize (eps 1e-12, so a
    zero feature is at distance 1 from everything). Both are clamped at 0 to absorb round-off.
    Accepts numpy arrays or torch tensors (on any device; the work runs there, blocks are copied back)."""
    if metric not in METRICS:
        raise ConfigError(f"unknown distance metric {metric!r}; expected one of {', '.join(METRICS)}")
    q = _as_tensor(qf, "qf")
    g = _as_tensor(gf, "gf")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"qf and gf have different feature sizes: {q.shape[1]} vs {g.shape[1]}")
    dtype = torch.promote_types(q.dtype, g.dtype)
    q = q.to(dtype)
    g = g.to(device=q.device, dtype=dtype)
    num_q, num_g = q.shape[0], g.shape[0]
    out = np.empty((num_q, num_g), dtype=np.float32)
    if num_q == 0 or num_g == 0:
        return out

    if metric == "cosine":
        q = torch.nn.functional.normalize(q, p=2, dim=1)
        g = torch.nn.functional.normalize(g, p=2, dim=1)
    else:
        g_sqnorm = (g * g).sum(1)  # (G,)
    g_t = g.t()
    rows = max(1, _BLOCK_ELEMENTS // max(num_g, 1))
    with torch.no_grad():
        for start in range(0, num_q, rows):
            q_block = q[start:start + rows]  # (rows, D)
            if metric == "cosine":
                block = torch.mm(q_block, g_t).neg_().add_(1.0)  # 1 - cos
            else:
                q_sqnorm = (q_block * q_block).sum(1, keepdim=True)  # (rows, 1)
                block = torch.addmm(q_sqnorm + g_sqnorm, q_block, g_t, beta=1.0, alpha=-2.0)
            block.clamp_(min=0.0)
            out[start:start + rows] = block.to("cpu", torch.float32).numpy()
    return out
