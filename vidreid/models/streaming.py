"""Streaming evaluation of a long tracklet: the backbone runs on chunks of frames and the temporal aggregation is
updated chunk by chunk, so memory is bounded by the chunk whatever the tracklet length (a 920-frame MARS tracklet
costs what a 32-frame one does).

The protocol (a model opts in by defining the four methods; `supports_streaming(model)` tells):

    stream_frame_multiple: int            frames that must go through `stream_frames` together (1; STE-NVAN: 4)
    stream_frames(x (N, 3, H, W)) -> (N / m, ...)
        the per-frame part of the model: backbone + every per-frame reduction. Frames are independent of each
        other here, so the extractor batches frames of several tracklets in one call.
    stream_init(batch) -> state
    stream_update(state, feats (B, t, ...)) -> state
        feats: `stream_frames` outputs of the next t frames (in order) of B tracklets; t >= 1 and any chunking gives
        the same result.
    stream_finish(state) -> (B, D)         the eval-mode test feature, as `model(clip)` would return it.

Exact where the method allows (tests/test_streaming.py checks streaming == one-shot forward to 1e-5 at chunk
sizes 1, a divisor, a non-divisor and > length):
  * TP: running sum of the per-frame GAP features.
  * TA: the temporal Conv1d (k=3, zero padding) needs one neighbour on each side: a frame's score is computed once
    the next frame has arrived (one frame of overlap between chunks), the last one at the end with the zero pad;
    the softmax-weighted sum is an online log-sum-exp (`OnlineSoftmaxPool`).
  * RNN: the LSTM's (h, c) carried across chunks; running sum of its outputs.
  * STA: parameter-free temporal normalisation S(n, k) = s_{n,k} / sum_n s_{n,k}, so P1 (block k of argmax_n) is a
    running max of s with its block's pooled feature, and GAP(P2) = sum_n s_{n,k} GAP(f_{n,k}) / sum_n s_{n,k} are
    two running sums. (Only ties that rounding creates in s/sum_n s can pick another frame than the one-shot
    argmax; in exact arithmetic the two are equal.)
  * DRSTA: per-part temporal softmax -> one online log-sum-exp per part.
  * RRU + STIM: the recurrence carries S_{t-1}, X_{t-1}; STIM's 3x3x3 conv sees a sliding window of 3 projected
    maps (two frames of halo), whose outputs are averaged with a running sum (rru.py).
  * STE-NVAN: its non-locals see pairs of frames and the frames are max-pooled pairwise twice, so groups of 4 frames
    are independent: stream_frame_multiple = 4, running sum over groups. A tracklet of L % 4 != 0 frames is padded
    by repeating its last frame (the one-shot model refuses such a clip; this is the clip it is compared with).
  * NVAN: its non-local blocks attend over all T*h*w positions of the clip at once (a 920-frame tracklet would need
    a (920*512)^2 attention matrix at layer2), which no chunking reproduces: it does not stream; `all` sampling
    falls back to dense clips (vidreid.inference.extract says so in a warning).
"""
from __future__ import annotations

import weakref
from collections.abc import Iterable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

STREAM_METHODS = ("stream_frames", "stream_init", "stream_update", "stream_finish")


def supports_streaming(model: nn.Module) -> bool:
    """True when `model` (or the module DDP wraps) implements the streaming protocol exactly."""
    model = getattr(model, "module", model)
    return all(callable(getattr(model, name, None)) for name in STREAM_METHODS) and \
        bool(getattr(model, "streams_exactly", True))


def frame_multiple(model: nn.Module) -> int:
    return int(getattr(getattr(model, "module", model), "stream_frame_multiple", 1))


def pad_to_multiple(clip: torch.Tensor, multiple: int, dim: int = 1) -> torch.Tensor:
    """Repeat the last frame along `dim` until its length is a multiple of `multiple`."""
    extra = -clip.shape[dim] % multiple
    if extra == 0:
        return clip
    last = clip.narrow(dim, clip.shape[dim] - 1, 1)
    return torch.cat([clip, last.expand(*[extra if d == dim % clip.ndim else -1 for d in range(clip.ndim)])], dim)


def stream_clip(model: nn.Module, clips: torch.Tensor | Iterable[torch.Tensor], chunk: int = 32) -> torch.Tensor:
    """The eval feature of whole clips, `chunk` frames at a time: (B, D).

    clips: (B, T, 3, H, W), cut into chunks of `chunk` frames (rounded up to the model's frame multiple), or an
    iterable of (B, t_i, 3, H, W) chunks (each t_i a multiple of the frame multiple but the last, which is padded
    by repeating its last frame). Call under torch.inference_mode() and model.eval()."""
    model = getattr(model, "module", model)
    m = frame_multiple(model)
    if isinstance(clips, torch.Tensor):
        chunk = -(-max(int(chunk), 1) // m) * m
        clips = clips.split(chunk, dim=1)
    state = None
    for x in clips:                                                    # (B, t, 3, H, W)
        B, t = x.shape[:2]
        if t % m:
            x = pad_to_multiple(x, m)
            t = x.shape[1]
        if state is None:
            state = model.stream_init(B)
        feats = model.stream_frames(x.flatten(0, 1))                   # (B * t / m, ...)
        state = model.stream_update(state, feats.unflatten(0, (B, t // m)))
    if state is None:
        raise ValueError("stream_clip: got a clip with no frames")
    return model.stream_finish(state)


# ------------------------------------------------------------------------------------------ running reductions
class RunningSum:
    """Sum over time of (B, t, ...) values in float32 (the one-shot mean = sum / count)."""

    def __init__(self):
        self.total: torch.Tensor | None = None
        self.count = 0

    def update(self, values: torch.Tensor) -> None:                    # (B, t, ...)
        s = values.float().sum(1)
        self.total = s if self.total is None else self.total + s
        self.count += values.shape[1]

    def mean(self) -> torch.Tensor:
        return self.total / self.count


class OnlineSoftmaxPool:
    """sum_t softmax_t(scores) * values, one chunk of frames at a time (the log-sum-exp trick of online softmax:
    Milakov & Gimelshein, "Online normalizer calculation for softmax", 2018).

    scores (B, t, *K), values (B, t, *K, D): one independent softmax over time per (b, *k). State: the running max
    m, Z = sum exp(score - m) and F = sum exp(score - m) * value, rescaled by exp(m_old - m_new) when m grows."""

    def __init__(self):
        self.m = self.Z = self.F = None

    def update(self, scores: torch.Tensor, values: torch.Tensor) -> None:
        scores, values = scores.float(), values.float()
        m_new = scores.amax(1)                                         # (B, *K)
        if self.m is not None:
            m_new = torch.maximum(m_new, self.m)
        w = torch.exp(scores - m_new.unsqueeze(1))                     # (B, t, *K)
        Z = w.sum(1)                                                   # (B, *K)
        F = (w.unsqueeze(-1) * values).sum(1)                          # (B, *K, D)
        if self.m is not None:
            rescale = torch.exp(self.m - m_new)                        # <= 1
            Z = Z + rescale * self.Z
            F = F + rescale.unsqueeze(-1) * self.F
        self.m, self.Z, self.F = m_new, Z, F

    def result(self) -> torch.Tensor:
        return self.F / self.Z.unsqueeze(-1)                           # (B, *K, D)


# ------------------------------------------------------------------------------------------ memory measurement
class ActivationMemoryTracker(TorchDispatchMode):
    """Peak bytes of tensor storage allocated by the ops run inside the `with` block and alive at the same time.

    Every op's outputs go through __torch_dispatch__; a storage not seen before is counted (its nbytes) and a
    weakref finalizer subtracts it when the storage is freed. Storages that existed before the block (inputs,
    parameters) are not counted: what is measured is the activations and state the computation itself allocates
    (an in-place op on such a storage counts it once, which only overestimates).
    Exact and allocator-independent (no RSS noise, no CUDA needed); costs some Python per op, so use small models.
    """

    def __init__(self):
        super().__init__()
        self.current = self.peak = 0
        self._alive: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self._alive.discard(key)
        self.current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                storage = t.untyped_storage()
                key = id(storage)
                if key not in self._alive:
                    self._alive.add(key)
                    self.current += storage.nbytes()
                    weakref.finalize(storage, self._free, key, storage.nbytes())
        self.peak = max(self.peak, self.current)
        return out

