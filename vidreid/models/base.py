"""The one interface of every method: `VideoReIDModel`, `ModelOutput`, and the streaming mixins.

    out = model(clips)                          # clips (B, T, 3, H, W), training or eval
    out.embedding                               # (B, D) the test feature retrieval compares (D = model.feat_dim)
    out.logits, out.features, out.regularizers  # what the losses read (regularizers: training only)
    model(clips, return_attention=True).attention   # the model's own explanation tensors (viz/attention.py)

Streaming (bounded-memory evaluation of whole tracklets, streaming.py) is written once per kind of temporal
reduction: `MeanStream` (a running mean of per-frame or per-group features: TP, STE-NVAN) and `SoftmaxStream`
(an online softmax over time: DRSTA). A model mixes one in and defines `stream_frames` and `stream_head`; models
with their own recurrence (TA's windowed conv, RNN's LSTM, STA's running argmax, RRU's gates) define the four
methods themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import ConfigError
from .backbones import Backbone, build_backbone
from .streaming import OnlineSoftmaxPool, RunningSum


@dataclass
class ModelOutput:
    logits: torch.Tensor | list[torch.Tensor] | None               # (B, num_classes) for CE (list = several heads)
    embedding: torch.Tensor | None = None                            # (B, D) the test feature (eval and training)
    # name -> (B, D') or (B, P, D') (P parts, mined one by one); each entry gets the triplet loss
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    regularizers: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> scalar, weighted by the config
    attention: dict[str, torch.Tensor] = field(default_factory=dict)     # explanation tensors (eval: when asked)


def _check_clips(module: nn.Module, args: tuple) -> None:
    """Forward pre-hook: the input must be clips (B, T, 3, H, W) with B, T >= 1 (a frame batch (N, 3, H, W) is
    the usual slip: `clips[None]` or `frames.unsqueeze(1)` makes it one clip or N one-frame clips)."""
    x = args[0] if args else None
    if not torch.is_tensor(x):
        return
    if x.dim() != 5 or x.shape[2] != 3 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ConfigError(f"{type(module).__name__} takes clips (B, T, 3, H, W) with B, T >= 1, got a tensor of "
                          f"shape {tuple(x.shape)}" + (" (frames (N, 3, H, W)? x[None] is one clip of N frames)"
                                                      if x.dim() == 4 else ""))


class VideoReIDModel(nn.Module):
    """Base of every method: a backbone (any of backbones.list_backbones()), an explicit `feat_dim`, the default
    weights of its regularisers, and `output(...)`, which every forward returns through so that training and
    eval give the same `ModelOutput`."""

    feat_dim: int                              # D of `embedding`

    def __init__(self, backbone: str = "resnet50", last_stride: int = 1, pretrained: str | None = None):
        super().__init__()
        self.backbone: Backbone = build_backbone(backbone, last_stride, pretrained)
        self.default_reg_weights: dict[str, float] = {}   # regulariser name -> weight when the config sets none
        self.register_forward_pre_hook(_check_clips)      # a wrong input: one line, not a deep torch error

    def frame_maps(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, T, C, h, w): the backbone on every frame."""
        return self.backbone(x.flatten(0, 1)).unflatten(0, x.shape[:2])

    def output(self, logits, embedding: torch.Tensor, features: dict | None = None, regularizers: dict | None = None,
               attention: dict | None = None, return_attention: bool = False) -> ModelOutput:
        """Training keeps everything; eval drops the regularisers and keeps attention only when asked."""
        if self.training:
            return ModelOutput(logits, embedding, features or {}, regularizers or {}, attention or {})
        return ModelOutput(logits, embedding, features or {}, {}, (attention or {}) if return_attention else {})


class MeanStream:
    """Streaming for models whose temporal reduction is a mean of `stream_frames` outputs (exact)."""

    def stream_init(self, batch: int) -> RunningSum:
        return RunningSum()

    def stream_update(self, state: RunningSum, feats: torch.Tensor) -> RunningSum:   # feats: (B, t, ...)
        state.update(feats)
        return state

    def stream_finish(self, state: RunningSum) -> torch.Tensor:
        return self.stream_head(state.mean())                          # (B, D)


class SoftmaxStream:
    """Streaming for models whose temporal reduction is a softmax over time of scores (last column of
    `stream_frames`' output) weighting values (the other columns): one online log-sum-exp per (b, *k) (exact)."""

    def stream_init(self, batch: int) -> OnlineSoftmaxPool:
        return OnlineSoftmaxPool()

    def stream_update(self, state: OnlineSoftmaxPool, feats: torch.Tensor) -> OnlineSoftmaxPool:
        state.update(feats[..., -1], feats[..., :-1])                  # scores (B, t, *K), values (B, t, *K, D)
        return state

    def stream_finish(self, state: OnlineSoftmaxPool) -> torch.Tensor:
        return self.stream_head(state.result())                        # (B, D)


# ------------------------------------------------------------------------------------------ memory format
def to_channels_last(model: nn.Module) -> nn.Module:
    """Channels-last memory format for every convolution, in place (before the optimizer is built) -> `model`.

    4-D weights and buffers (Conv2d: every backbone) become NHWC (`torch.channels_last`); 5-D ones (Conv3d: NVAN's
    and STE-NVAN's non-local blocks, RRU+STIM's STIM) become NDHWC (`torch.channels_last_3d`), the layout their
    inputs already have: NHWC frame maps (B*T, C, h, w) seen as (B, C, T, h, w) by unflatten + transpose are NDHWC
    without a copy. `model.to(memory_format=torch.channels_last)` cannot do this: it raises on the 5-D weights.
    Values are unchanged; only strides differ (tests/test_channels_last.py)."""
    def convert(t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 4:
            return t.contiguous(memory_format=torch.channels_last)
        if t.dim() == 5:
            return t.contiguous(memory_format=torch.channels_last_3d)
        return t
    return model._apply(convert)        # what Module.to uses: parameters (and their grads) and buffers


def frames_channels_last(x: torch.Tensor) -> torch.Tensor:
    """Clips (B, T, 3, H, W) or frames (N, 3, H, W) with every frame NHWC in memory, so that the backbone's
    `x.flatten(0, 1)` is a view that the first convolution reads without a layout change. Only an input-side
    saving: a convolution whose weight is channels-last turns a contiguous input NHWC itself."""
    if x.dim() == 5:
        return x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, x.shape[:2])
    return x.contiguous(memory_format=torch.channels_last)
