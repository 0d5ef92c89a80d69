"""RRU + STIM — Liu et al., "Spatial and Temporal Mutual Promotion for Video-based Person Re-identification"
(AAAI 2019). A Refining Recurrent Unit (RRU) repairs each frame's feature map from the history of the tracklet, a
Spatial-Temporal clues Integration Module (STIM, 3D convolutions) turns the refined maps into the video feature.

Recurrence (methods.md, "RRU + STIM"), X_t = backbone map (C, h, w) of frame t:
  S_0 = X_0; for t >= 1:
    u      = ReLU(BN(Conv1x1_{2C -> 256}(concat(S_{t-1} - X_t, X_t - X_{t-1}))))       (256, h, w)
    s      = Conv1x1(ReLU(Conv_{kernel = h x w}(mean_channels(u))))  reshaped to        (1, h, w)   spatial branch
    c      = Conv1x1_{256 -> C}(mean_{h,w}(u))                                          (C, 1, 1)   channel branch
    z      = sigmoid(s * c)                                                             (C, h, w)
    S_t    = (1 - z) * S_{t-1} + z * X_t
STIM: Conv3d 1x1x1 (C -> 256) + BN + ReLU -> Conv3d 3x3x3 (256 -> 256, zero padding) + BN + ReLU -> mean over T, h, w
-> 256-d video feature -> Linear(256 -> classes).
Losses: CE on the video feature's logits + batch-hard triplet on the video feature ("feat") + batch-hard triplet on the
horizontal part features of the refined maps ("parts").

vidreid choices (documented deviations / decisions where the paper is silent):
  * Backbone: ResNet-50 (last stride 1: 2048 x 16 x 8 maps at 256x128) instead of the paper's Inception-v3 at 299x299
    (8 x 8 maps), so every model shares one backbone. The spatial branch's first conv covers the whole map, so its
    kernel is the backbone map size computed from the `input_size=(H, W)` kwarg (default 256x128); a clip of another
    size raises a ConfigError naming the size the model was built for.
  * Spatial branch width: `spatial_hidden` units between the whole-map conv and the 1x1 conv (default h*w, i.e. an
    MLP over the positions of the channel-mean map that does not shrink it).
  * Part features: the refined maps S averaged over T and W give (C, h); their rows are average-pooled into
    `num_parts` (default 4) horizontal parts (the authors' code uses every map row as a part: 8 rows of
    Inception-v3's 8x8 map). `part_triplet="per_part"` (default, as the authors' code, Liu et al.'s
    person-reid-lib) returns them as one feature "parts" (B, num_parts, C): the triplet loss mines each part's
    hardest positive and negative on its own and averages the parts' losses (engine/loss_terms.batch_hard_triplet), so the
    part term weighs as much as the video term whatever P. `part_triplet="concat"` (vidreid before this option,
    the BENCHMARKS.md RRU+STIM rows) returns their concatenation (B, num_parts * C): one triplet mining on the
    sqrt of the summed per-part squared distances, so a part is only pulled or pushed when the whole person is
    the hardest pair.
  * The backbone runs on all frames of a training clip in one batched call; the recurrence itself is sequential in
    t (a loop over T-1 steps, which is the method).
  * Eval streams: `forward_stream` takes the clip as a tensor (cut into `eval_chunk` frames) or as an iterable of
    (B, t_i, 3, H, W) chunks; the backbone runs per chunk, the RRU per frame, and STIM's 3x3x3 conv over a sliding
    window of 3 projected maps with a running sum, so memory does not grow with the tracklet length. The result is
    the same as the one-shot forward (tested). Any T >= 1 (T = 1: S = X, STIM sees zero padding on both sides).
  * return_attention: {"gates": (B, T, h, w)} = the update gate z averaged over channels (1 = take the new frame,
    0 = keep the history); frame 0 reads 1 since S_0 = X_0.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import ModelOutput, VideoReIDModel
from .heads import ClassifierHead
from .registry import register_model


class RRU(nn.Module):
    """Refining Recurrent Unit: one gated update S_t = (1 - z) S_{t-1} + z X_t per frame (see the module doc)."""

    def __init__(self, channels: int, map_size: tuple[int, int], hidden: int = 256,
                 spatial_hidden: int | None = None):
        super().__init__()
        self.channels = channels
        self.map_size = (h, w) = tuple(map_size)
        spatial_hidden = spatial_hidden or h * w
        self.fuse = nn.Sequential(nn.Conv2d(2 * channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                                  nn.ReLU(inplace=True))
        self.spatial_conv = nn.Conv2d(1, spatial_hidden, kernel_size=(h, w))   # conv over the whole map -> 1x1
        self.spatial_out = nn.Conv2d(spatial_hidden, h * w, 1)                   # one logit per position
        self.channel_out = nn.Conv2d(hidden, channels, 1)                        # one logit per channel

    def gate(self, S_prev: torch.Tensor, X_prev: torch.Tensor, X_t: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) x 3 -> update gate z (N, C, h, w) in (0, 1)."""
        N = X_t.shape[0]
        if tuple(X_t.shape[2:]) != self.map_size:
            raise ConfigError(
                f"rru_stim: built for {self.map_size[0]}x{self.map_size[1]} feature maps (the spatial gate's kernel "
                f"is the whole map), got {X_t.shape[2]}x{X_t.shape[3]}; build the model with "
                f"input_size=(data.height, data.width)")
        u = self.fuse(torch.cat([S_prev - X_t, X_t - X_prev], 1))             # (N, 256, h, w)
        spatial = self.spatial_out(F.relu(self.spatial_conv(u.mean(1, keepdim=True))))  # (N, h*w, 1, 1)
        spatial = spatial.view(N, 1, *self.map_size)                         # (N, 1, h, w)
        channel = self.channel_out(u.mean((2, 3), keepdim=True))             # (N, C, 1, 1)
        return torch.sigmoid(spatial * channel)                              # (N, C, h, w)

    def step(self, S_prev: torch.Tensor, X_prev: torch.Tensor, X_t: torch.Tensor):
        """One refinement: -> (S_t (N, C, h, w), z (N, C, h, w))."""
        z = self.gate(S_prev, X_prev, X_t)
        return (1 - z) * S_prev + z * X_t, z

    def forward(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """X (B, T, C, h, w) -> refined maps S (B, T, C, h, w), channel-mean gates (B, T, h, w) (frame 0: 1)."""
        S = [X[:, 0]]
        gates = [X.new_ones(X.shape[0], *X.shape[3:])]
        for t in range(1, X.shape[1]):                                   # the recurrence is sequential in t
            S_t, z = self.step(S[-1], X[:, t - 1], X[:, t])
            S.append(S_t)
            gates.append(z.mean(1))
        return torch.stack(S, 1), torch.stack(gates, 1)


class STIM(nn.Module):
    """Spatial-Temporal clues Integration Module: two 3D conv stages, then the mean over T, h, w -> (B, dim)."""

    def __init__(self, in_channels: int, dim: int = 256):
        super().__init__()
        self.dim = dim
        self.project = nn.Sequential(nn.Conv3d(in_channels, dim, 1, bias=False), nn.BatchNorm3d(dim),
                                     nn.ReLU(inplace=True))
        # time padding is applied explicitly (zeros in the projected space, as Conv3d(padding=1) would) so that
        # the streaming path can run the same conv over sliding windows of 3 frames
        self.temporal = nn.Sequential(nn.Conv3d(dim, dim, 3, padding=(0, 1, 1), bias=False), nn.BatchNorm3d(dim),
                                      nn.ReLU(inplace=True))

    def forward(self, S: torch.Tensor) -> torch.Tensor:
        """S (B, C, T, h, w) -> (B, dim)."""
        P = F.pad(self.project(S), (0, 0, 0, 0, 1, 1))                   # (B, dim, T+2, h, w) zero frame each side
        return self.temporal(P).mean((2, 3, 4))                          # (B, dim)

    def window_sum(self, P: torch.Tensor) -> torch.Tensor:
        """Projected maps P (B, dim, L, h, w), L >= 3, no padding -> sum over the L-2 output frames of their
        spatial means (B, dim)."""
        return self.temporal(P).mean((3, 4)).sum(2)


class RRUSTIM(VideoReIDModel):
    def __init__(self, num_classes: int, backbone: str = "resnet50", last_stride: int = 1,
                 pretrained: str | None = None, input_size: tuple[int, int] = (256, 128), stim_dim: int = 256,
                 rru_hidden: int = 256, spatial_hidden: int | None = None, num_parts: int = 4,
                 eval_chunk: int = 32, bnneck: bool = False, part_triplet: str = "per_part"):
        if part_triplet not in ("per_part", "concat"):
            raise ConfigError(f"rru_stim: part_triplet must be per_part or concat, got {part_triplet!r}")
        super().__init__(backbone, last_stride, pretrained)
        C = self.backbone.out_channels
        self.map_size = self.backbone.map_size(tuple(int(v) for v in input_size))
        if num_parts < 1 or num_parts > self.map_size[0]:
            raise ConfigError(
                f"rru_stim: num_parts must be in 1..{self.map_size[0]} (feature-map rows), got {num_parts}")
        self.num_parts = num_parts
        self.part_triplet = part_triplet
        self.eval_chunk = eval_chunk
        self.rru = RRU(C, self.map_size, rru_hidden, spatial_hidden)
        self.stim = STIM(C, stim_dim)
        self.feat_dim = stim_dim
        self.head = ClassifierHead(stim_dim, num_classes, bnneck)

    def part_features(self, S: torch.Tensor) -> torch.Tensor:
        """Refined maps (B, T, C, h, w) -> (B, P, C) (per_part) or (B, P*C) part-major (concat): mean over T and
        W, rows pooled into P = num_parts parts."""
        rows = S.mean((1, 4))                                            # (B, C, h)
        parts = F.adaptive_avg_pool1d(rows, self.num_parts).transpose(1, 2)  # (B, P, C)
        return parts.flatten(1) if self.part_triplet == "concat" else parts

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> ModelOutput:  # x: (B, T, 3, H, W)
        if not self.training:       # eval streams in chunks: memory bounded by eval_chunk frames, not by T
            f_test, attention = self.forward_stream(x, self.eval_chunk, return_attention)
            return self.output(None, f_test, attention=attention, return_attention=return_attention)
        S, _ = self.rru(self.frame_maps(x))                              # (B, T, C, h, w)
        video = self.stim(S.transpose(1, 2))                             # (B, 256)
        logits, f_test = self.head(video)
        return self.output(logits, f_test, {"feat": video, "parts": self.part_features(S)})

    def forward_stream(self, clips: torch.Tensor | Iterable[torch.Tensor], chunk: int | None = None,
                       return_attention: bool = False):
        """Eval feature of a clip whose frames arrive in chunks; memory is bounded by the chunk, not by T.

        clips: (B, T, 3, H, W) (cut into `chunk` frames, default eval_chunk) or an iterable of (B, t_i, 3, H, W).
        Returns the (B, stim_dim) test feature and {"gates": (B, T, h, w)} (empty without return_attention).
        """
        if isinstance(clips, torch.Tensor):
            clips = clips.split(chunk or self.eval_chunk, dim=1)
        state = None
        for x in clips:
            if state is None:
                state = self.stream_init(x.shape[0], gates=return_attention)
            state = self.stream_update(state, self.frame_maps(x))
        if state is None:
            raise ConfigError("rru_stim: forward_stream got a clip with no frames")
        f_test = self.stream_finish(state)
        return f_test, ({"gates": torch.stack(state["gates"], 1)} if return_attention else {})  # (B, T, h, w)

    # the streaming protocol of models/streaming.py (forward_stream is built on it): exact
    def stream_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C, h, w) backbone maps (the recurrence needs whole maps)."""
        return self.backbone(x)

    def stream_init(self, batch: int, gates: bool = False) -> dict:
        return {"S": None, "X_prev": None, "pending": None, "total": 0.0, "frames": 0,
                "gates": [] if gates else None}

    def stream_update(self, state: dict, X: torch.Tensor) -> dict:      # X: (B, t, C, h, w)
        """The RRU per frame, STIM's 3x3x3 conv over a sliding window of 3 projected maps with a running sum."""
        S, X_prev, refined = state["S"], state["X_prev"], []
        for t in range(X.shape[1]):                                      # the recurrence is sequential in t
            X_t = X[:, t]
            if S is None:                                                # S_0 = X_0
                S, z_mean = X_t, X_t.new_ones(X_t.shape[0], *X_t.shape[2:])
            else:
                S, z = self.rru.step(S, X_prev, X_t)
                z_mean = z.mean(1)
            X_prev = X_t
            refined.append(S)
            if state["gates"] is not None:
                state["gates"].append(z_mean)
        P = self.stim.project(torch.stack(refined, 2))                   # (B, dim, t, h, w)
        pending = state["pending"]
        if pending is None:                                              # the zero frame before frame 0
            pending = P.new_zeros(*P.shape[:2], 1, *P.shape[3:])
        window = torch.cat([pending, P], 2)                              # (B, dim, L, h, w)
        if window.shape[2] >= 3:
            state["total"] = state["total"] + self.stim.window_sum(window)  # outputs of frames with both neighbours
        state["pending"] = window[:, :, -2:].clone()                     # drop the rest of the window
        state["S"], state["X_prev"] = S.clone(), X_prev.clone()          # clones: the chunk's maps can be freed
        state["frames"] += X.shape[1]
        return state

    def stream_finish(self, state: dict) -> torch.Tensor:
        if state["frames"] == 0:
            raise ConfigError("rru_stim: forward_stream got a clip with no frames")
        pending = state["pending"]
        total = state["total"] + self.stim.window_sum(F.pad(pending, (0, 0, 0, 0, 0, 1)))  # last frame, zero after
        video = total / state["frames"]                                  # (B, dim) mean over T (and h, w)
        return self.head(video)[1]


# centre_by_default: centring raised SynthPed mAP 44.8 -> 46.5 (benchmarks/centring.py)
@register_model(takes_input_size=True, forwards_to=RRUSTIM, centre_by_default=True,
                static_frames="the RRU recurrence is a Python loop over frames (and eval streams the clip in chunks), "
                              "which tracing unrolls for the export's T; export one graph per clip length you deploy")
def rru_stim(num_classes: int, **kwargs) -> nn.Module:
    """RRU + STIM: kwargs backbone (resnet50), last_stride (1), pretrained, input_size=(256, 128), stim_dim=256,
    rru_hidden=256, spatial_hidden=None (h*w), num_parts=4, eval_chunk=32, bnneck=False, part_triplet="per_part"."""
    return RRUSTIM(num_classes, **kwargs)
