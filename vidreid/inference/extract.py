"""Feature extraction: one feature per tracklet.

Two paths, both under torch.inference_mode(), frames decoded in `data.workers` DataLoader processes:
  * clips (dense, rrs, evenly, consecutive): batches of `data.test_batch_size` clips (N, T, 3, H, W) through the
    model; a tracklet's feature is the mean of its clips' features (dense gives several clips per tracklet).
  * `all`, for models that stream (vidreid/models/streaming.py): the frames of all tracklets as one stream cut into
    batches of `chunk` frames (default test_batch_size * test_seq_len, what a dense batch holds); the per-frame
    part of the model runs on full batches whatever the tracklet lengths, and each tracklet's temporal aggregation
    is updated segment by segment. Exact (equal to the one-shot forward on the whole tracklet) and bounded in
    memory: neither the decoded input nor the activations ever exceed one batch, so a 920-frame tracklet costs
    what a 32-frame one does. Models that cannot stream (NVAN: non-local attention over the whole clip) fall back
    to dense clips, with a warning.

Precision: `amp` (off | bf16 | fp16; default train.amp on CUDA, off on CPU) runs the model under autocast;
`channels_last` (default train.channels_last) converts the model (in place: models.base.to_channels_last) and the
inputs to NHWC.
"""
from __future__ import annotations

import contextlib
import os
import time
import warnings

import numpy as np
import torch
from torch import nn

from ..config import Config
from ..data.decode import DataWarning, UnreadableTrackletWarning
from ..data.types import Tracklet
from ..models.base import to_channels_last
from ..utils.system import amp_dtype



class SamplingFallbackWarning(DataWarning):
    """`all` sampling asked of a model that cannot stream: dense clips are used instead."""


def resolve_amp(cfg: Config, device: torch.device | str, amp: str | None = None) -> str:
    """The autocast mode extraction uses: `amp` if given, else train.amp on CUDA and off elsewhere."""
    amp = amp if amp is not None else (cfg.train.amp if torch.device(device).type == "cuda" else "off")
    amp_dtype(amp)                                  # ConfigError for an unknown name
    return amp


def resolve_sampling(cfg: Config, sampling: str | None = None) -> str:
    """The test-time sampling asked for: `sampling` if given, else eval.sampling, else data.test_sampling."""
    return sampling or cfg.eval.sampling or cfg.data.test_sampling


def default_chunk(cfg: Config) -> int:
    """Frames per forward of `all` sampling: as many as a dense batch holds."""
    return cfg.data.test_batch_size * (cfg.data.test_seq_len or cfg.data.seq_len)


def aggregation(model: nn.Module, sampling: str) -> str:
    """How tracklet features are made: "stream" (`all`, exact), "clips" (other modes) or "dense-fallback"."""
    from ..models.streaming import supports_streaming
    if sampling != "all":
        return "clips"
    return "stream" if supports_streaming(model) else "dense-fallback"


def sampling_plan(model: nn.Module, cfg: Config, sampling: str | None = None, warn_level: int = 2) -> tuple[str, str]:
    """-> (sampling to run, aggregation): the one policy for every extraction (eval, extract, index, search). A model
    that cannot stream (NVAN: its non-local attention spans the whole clip) asked for `all` runs dense clips
    instead, with a SamplingFallbackWarning."""
    net = getattr(model, "module", model)
    sampling = resolve_sampling(cfg, sampling)
    how = aggregation(net, sampling)
    if how == "dense-fallback":
        seq_len = cfg.data.test_seq_len or cfg.data.seq_len
        name = getattr(net, "name", type(net).__name__)
        warnings.warn(f"{name} cannot stream a whole tracklet (its attention spans the entire clip): 'all' sampling "
                      f"falls back to dense clips of {seq_len} frames", SamplingFallbackWarning,
                      stacklevel=warn_level + 1)
        sampling = "dense"
    return sampling, how


def extract_features(model: nn.Module, tracklets: list[Tracklet], cfg: Config, sampling: str | None = None,
                     device: torch.device | str = "cpu", desc: str = "extract", progress: bool = True, *,
                     chunk: int | None = None, amp: str | None = None, channels_last: bool | None = None,
                     stats: dict | None = None) -> np.ndarray:
    """-> (len(tracklets), D) float32 tracklet features (rows of tracklets with no readable frame are NaN: callers
    drop them, see `finite_rows`).

    chunk: frames per forward for `all` sampling; amp / channels_last: see the module docstring; stats: a dict
    that receives `frames` (frames through the model, padding included), `seconds` (wall time, loader start-up
    included), `model_seconds` (time in the model's calls) and `aggregation` (stream, clips, dense-fallback).
    Under torch.distributed each rank embeds every W-th tracklet and the features are gathered on all ranks."""
    from ..utils.distributed import all_gather_objects, world_size
    options = dict(chunk=chunk, amp=amp, channels_last=channels_last, stats=stats)
    W = world_size()
    if W == 1:
        return _extract(model, tracklets, cfg, sampling, device, desc, progress, **options)
    import torch.distributed as dist
    rank = dist.get_rank()
    mine = np.arange(rank, len(tracklets), W)
    feats = _extract(model, [tracklets[i] for i in mine], cfg, sampling, device, desc, progress and rank == 0,
                     **options)
    parts = all_gather_objects((mine, feats))
    dim = max(f.shape[1] for _, f in parts if f.size)
    out = np.full((len(tracklets), dim), np.nan, np.float32)
    for idx, f in parts:
        if len(idx):
            out[idx] = f
    return out


def finite_rows(features: np.ndarray, tracklets: list[Tracklet], what: str) -> np.ndarray:
    """Indices of the rows with a feature; warns (one line) about tracklets dropped for having no readable frame."""
    keep = np.flatnonzero(np.isfinite(features).all(1)) if features.size else np.arange(len(tracklets))
    if len(keep) < len(tracklets):
        dropped = np.setdiff1d(np.arange(len(tracklets)), keep)
        warnings.warn(f"{len(dropped)} {what} tracklet(s) had no readable frame and are left out "
                      f"(first: {os.path.dirname(tracklets[dropped[0]].frames[0]) if tracklets[dropped[0]].frames else dropped[0]})",
                      UnreadableTrackletWarning, stacklevel=2)
    return keep


def _extract(model: nn.Module, tracklets: list[Tracklet], cfg: Config, sampling: str | None,
             device: torch.device | str, desc: str, progress: bool, chunk: int | None = None, amp: str | None = None,
             channels_last: bool | None = None, stats: dict | None = None) -> np.ndarray:
    device = torch.device(device)
    net = getattr(model, "module", model)
    sampling, how = sampling_plan(net, cfg, sampling, warn_level=3)
    dtype = amp_dtype(resolve_amp(cfg, device, amp))
    if channels_last is None:
        channels_last = cfg.train.channels_last
    if channels_last:
        to_channels_last(net)                       # 2-D convolutions NHWC, 3-D ones NDHWC (models/base.py)
        memory_format = torch.channels_last
    else:
        memory_format = torch.contiguous_format
    was_training = net.training
    net.eval()
    run = _extract_stream if how == "stream" else _extract_clips
    start, counter = time.perf_counter(), {"frames": 0, "model_seconds": 0.0}
    try:
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32,
                                                     enabled=dtype is not None):
            out = run(net, tracklets, cfg, sampling, device, desc, progress, chunk, memory_format, counter)
    finally:
        net.train(was_training)
    if stats is not None:
        # model_seconds: time inside the model's calls (CPU: synchronous, so this is its compute; CUDA: launch time)
        stats.update(frames=counter["frames"], seconds=time.perf_counter() - start, aggregation=how,
                     model_seconds=counter["model_seconds"])
    return out



def _to_device(x: torch.Tensor, device: torch.device, memory_format) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x if memory_format is torch.contiguous_format else x.contiguous(memory_format=memory_format)


def _bar(progress: bool, desc: str, total: int):
    if not progress:
        return contextlib.nullcontext(None)
    from ..progress import progress_bar
    return progress_bar(total=total, desc=desc, unit="frame", unit_scale=True)


def _extract_clips(net, tracklets, cfg, sampling, device, desc, progress, chunk, memory_format, counter):
    """Batches of clips; the mean of each tracklet's clip features (accumulated on the device: no sync per batch)."""
    from ..data.loader import DataPath, build_test_loader, normalize_clips
    seq_len = cfg.data.test_seq_len or cfg.data.seq_len
    pixels = DataPath.for_device(device).on_device
    loader = build_test_loader(tracklets, cfg.data, sampling=sampling, seq_len=seq_len, pixels=pixels)
    sums: torch.Tensor | None = None
    counts = torch.zeros(len(tracklets), device=device)
    with _bar(progress, desc, len(loader.dataset) * seq_len) as bar:
        for clips, track_idx in loader:                                # clips: (N, T, 3, H, W), track_idx: (N,)
            N, T = clips.shape[:2]
            if pixels:                                                 # (N, T, H, W, 3) -> normalised on the device
                clips = normalize_clips(clips.to(device, non_blocking=True), cfg.data)
            x = _to_device(clips.flatten(0, 1), device, memory_format).unflatten(0, (N, T))
            tick = time.perf_counter()
            feats = net(x).embedding.float()                           # (N, D)
            counter["model_seconds"] += time.perf_counter() - tick
            if sums is None:
                sums = torch.zeros(len(tracklets), feats.shape[1], device=device)
            track_idx = track_idx.to(device, non_blocking=True)
            sums.index_add_(0, track_idx, feats)
            counts.index_add_(0, track_idx, torch.ones(N, device=device))
            counter["frames"] += N * T
            if bar is not None:
                bar.update(N * T)
    if sums is None:
        return np.zeros((len(tracklets), 0), np.float32)
    return (sums / counts[:, None]).cpu().numpy().astype(np.float32)  # 0/0 = NaN: a tracklet with no readable clip


def _extract_stream(net, tracklets, cfg, sampling, device, desc, progress, chunk, memory_format, counter):
    """`all` sampling through the streaming protocol: full batches of frames, per-tracklet streaming state."""
    from ..data.loader import DataPath, build_frame_stream_loader, normalize_frames
    from ..models.streaming import frame_multiple
    m = frame_multiple(net)
    loader = build_frame_stream_loader(tracklets, cfg.data, chunk or default_chunk(cfg), m,
                                       uint8=DataPath.for_device(device).on_device)
    out: torch.Tensor | None = None                                    # (len(tracklets), D) on the device
    state, open_track = None, -1                                       # at most one tracklet spans two batches
    with _bar(progress, desc, loader.dataset.total_frames) as bar:   # padding frames included
        for frames, seg_track, seg_len, seg_last in loader:            # frames: (N, 3, H, W)
            if not len(frames):
                continue
            x = normalize_frames(frames.to(device, non_blocking=True), cfg.data)  # (N, 3, H, W) float32
            tick = time.perf_counter()
            feats = net.stream_frames(x.contiguous(memory_format=memory_format))  # (N / m, ...)
            counter["frames"] += len(frames)
            offset = 0
            for track, n, last in zip(seg_track.tolist(), seg_len.tolist(), seg_last.tolist()):  # loop over tracklets
                part = feats[offset:offset + n // m].unsqueeze(0)      # (1, n / m, ...)
                offset += n // m
                if track != open_track:                                # a new tracklet starts
                    state, open_track = net.stream_init(1), track
                state = net.stream_update(state, part)
                if last:
                    f = net.stream_finish(state).float()               # (1, D)
                    if out is None:
                        out = torch.full((len(tracklets), f.shape[1]), float("nan"), device=device)
                    out[track] = f[0]
                    state, open_track = None, -1
            counter["model_seconds"] += time.perf_counter() - tick
            del x, feats                                               # freed before the next batch's forward
            if bar is not None:
                bar.update(len(frames))
    if out is None:
        return np.zeros((len(tracklets), 0), np.float32)
    return out.cpu().numpy().astype(np.float32)
