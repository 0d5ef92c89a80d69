"""Feature extraction: one feature per tracklet, clip features averaged (dense sampling) per tracklet."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..config import Config
from ..data.types import Tracklet


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def extract_features(model: nn.Module, tracklets: list[Tracklet], cfg: Config, sampling: str | None = None,
                     device: torch.device | str = "cpu", desc: str = "extract", progress: bool = True) -> np.ndarray:
    """-> (len(tracklets), D) float32: the mean of each tracklet's clip features.

    Under torch.distributed each rank embeds every W-th tracklet and the features are gathered on all ranks."""
    from .distributed import all_gather_objects, world_size
    W = world_size()
    if W == 1:
        return _extract(model, tracklets, cfg, sampling, device, desc, progress)
    import torch.distributed as dist
    rank = dist.get_rank()
    mine = np.arange(rank, len(tracklets), W)
    feats = _extract(model, [tracklets[i] for i in mine], cfg, sampling, device, desc, progress and rank == 0)
    parts = all_gather_objects((mine, feats))
    dim = max(f.shape[1] for _, f in parts if f.size)
    out = np.zeros((len(tracklets), dim), np.float32)
    for idx, f in parts:
        if len(idx):
            out[idx] = f
    return out


@torch.no_grad()
def _extract(model: nn.Module, tracklets: list[Tracklet], cfg: Config, sampling: str | None,
             device: torch.device | str, desc: str, progress: bool) -> np.ndarray:
    from ..data.loader import build_test_loader
    sampling = sampling or cfg.eval.sampling or cfg.data.test_sampling
    seq_len = cfg.data.test_seq_len or cfg.data.seq_len
    loader = build_test_loader(tracklets, cfg.data, sampling=sampling, seq_len=seq_len)
    was_training = model.training
    model.eval()
    sums: torch.Tensor | None = None
    counts = torch.zeros(len(tracklets))
    bar = tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress, dynamic_ncols=True)
    for clips, track_idx in bar:                                  # clips: (N, T, 3, H, W), track_idx: (N,)
        feats = model(clips.to(device, non_blocking=True)).float().cpu()  # (N, D)
        if sums is None:
            sums = torch.zeros(len(tracklets), feats.shape[1])
        sums.index_add_(0, track_idx, feats)
        counts.index_add_(0, track_idx, torch.ones(len(track_idx)))
    model.train(was_training)
    if sums is None:
        return np.zeros((len(tracklets), 0), np.float32)
    return (sums / counts.clamp_min(1)[:, None]).numpy().astype(np.float32)
