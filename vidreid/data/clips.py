"""`load_clips`: tracklets as the float clips a model takes, for use from Python (README's snippet):

    clips = load_clips(ds.query[:4], seq_len=8, size=(256, 128))      # (4, 8, 3, 256, 128)
    out = model.eval()(clips)

One clip per tracklet, decoded, resized and normalised exactly as evaluation does (data/loader.py
build_test_loader, the same transform), in the calling process.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..errors import ConfigError
from .types import Tracklet

ONE_CLIP_MODES = ("evenly", "rrs", "consecutive")     # test samplings that take exactly one clip per tracklet


def load_clips(tracklets: Sequence[Tracklet] | Tracklet, seq_len: int = 8, size: tuple[int, int] = (256, 128),
               sampling: str = "evenly", mean: Sequence[float] = (0.485, 0.456, 0.406),
               std: Sequence[float] = (0.229, 0.224, 0.225), strict: bool = False) -> torch.Tensor:
    """-> (B, T, 3, H, W) float32 clips, B = len(tracklets) (one Tracklet: B = 1), T = seq_len, (H, W) = size.
    `sampling`: evenly (T frames spread over the tracklet, deterministic), rrs (restricted random sampling's test
    frames) or consecutive (the first T). A tracklet without a readable frame is an error here (a silent gap would
    shift the rows)."""
    from ..config import DataConfig
    from .loader import build_test_loader
    if isinstance(tracklets, Tracklet):
        tracklets = [tracklets]
    tracklets = list(tracklets)
    if sampling not in ONE_CLIP_MODES:
        raise ConfigError(f"load_clips: sampling must be one of {', '.join(ONE_CLIP_MODES)} (one clip per "
                          f"tracklet), got {sampling!r}")
    if not tracklets:
        raise ConfigError("load_clips: no tracklets given")
    cfg = DataConfig(height=size[0], width=size[1], seq_len=seq_len, test_batch_size=len(tracklets), workers=0,
                     mean=tuple(mean), std=tuple(std), strict=strict)
    batches = list(build_test_loader(tracklets, cfg, sampling=sampling))
    clips = torch.cat([b[0] for b in batches]) if batches else torch.zeros(0, seq_len, 3, *size)
    got = torch.cat([b[1] for b in batches]).tolist() if batches else []
    if got != list(range(len(tracklets))):
        missing = sorted(set(range(len(tracklets))) - set(got))
        from ..errors import DatasetError
        raise DatasetError(f"load_clips: tracklet {missing[0]} ({tracklets[missing[0]].frames[0]} ...) has no "
                           f"readable frame")
    return clips                                                   # (B, T, 3, H, W)
