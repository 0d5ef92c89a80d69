"""TA and RNN — the temporal-attention and recurrent baselines of Gao & Nevatia, "Revisiting Temporal Modeling
for Video-based Person ReID" (BMVC 2018). TP, the third baseline of the paper, lives in tp.py.

TA: per-frame backbone map (C, h, w) -> Conv2d(C -> 256, kernel = the whole h x w map) + ReLU -> (B, T, 256)
    -> Conv1d(256 -> 1, k=3, pad=1) over time -> softmax over T -> weights a (B, T) on the per-frame GAP features.
RNN: per-frame GAP features (B, T, C) -> LSTM(C -> 512) -> outputs averaged over time -> 512-d clip feature.

Deviations / decisions:
  * The authors' model factory maps "ta" to the pooling model by a typo, so their "TA" results use uniform 1/T
    weights. Ours really attends (methods.md); a test checks the weights move away from uniform while training.
  * The authors' code applies a ReLU after the temporal Conv1d; methods.md does not, and we follow methods.md
    (a ReLU there can zero every score of a clip, which collapses the softmax to uniform weights).
  * The spatial conv's kernel is the full map, so its size is fixed when the model is built: `input_size=(H, W)`
    (default 256x128) gives the map size through the backbone's stride (16 with last_stride=1, 32 with 2; each
    stride-2 stage rounds up). A clip of another size raises a ConfigError naming the expected size.
  * last_stride: TA defaults to 2, the authors' standard ResNet-50 (a 7x4 kernel at their 224x112 input, 8x4 at
    256x128: 2048*256*32 = 16.8 M weights). Its spatial conv's kernel is the whole map, so its size follows the
    stride: at last stride 1 the kernel is 16x8 and the conv alone has 67.1 M weights, 2.9x the whole ResNet-50,
    which is not the model the paper describes. RNN (and TP, tp.py) keep last stride 1, vidreid's re-ID default
    (Luo et al., 2019): their parameter counts do not depend on the stride (GAP of the map), TP is the default
    model the demo, the speed benchmarks and the tests build, and TP and RNN then share the same per-frame GAP
    features, so RNN - TP by default compares the temporal step alone. Compare the three on one backbone by
    setting `model.last_stride` in the config, as every shipped config does (synthped: 1, mars: 2, the paper's).
  * `bnneck` as in TP (off by default = the paper).
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import ModelOutput, VideoReIDModel
from .heads import ClassifierHead
from .registry import register_model
from .streaming import OnlineSoftmaxPool, RunningSum


def temporal_attention_weights(scores: torch.Tensor) -> torch.Tensor:
    """(B, T) temporal scores -> (B, T) weights, softmax over the frames (sum to 1 per clip)."""
    return F.softmax(scores, dim=1)                                    # (B, T)


class TemporalAttention(VideoReIDModel):
    def __init__(self, num_classes: int, backbone: str = "resnet50", last_stride: int = 2,
                 pretrained: str | None = None, input_size: tuple[int, int] = (256, 128),
                 attention_dim: int = 256, bnneck: bool = False):
        super().__init__(backbone, last_stride, pretrained)
        channels = self.feat_dim = self.backbone.out_channels
        self.input_size = tuple(int(v) for v in input_size)
        self.map_size = self.backbone.map_size(self.input_size)
        self.spatial_conv = nn.Conv2d(channels, attention_dim, kernel_size=self.map_size)  # whole map -> 1x1
        self.temporal_conv = nn.Conv1d(attention_dim, 1, kernel_size=3, padding=1)
        self.head = ClassifierHead(channels, num_classes, bnneck)

    def attention_scores(self, fmaps: torch.Tensor, batch: int) -> torch.Tensor:
        """(B*T, C, h, w) -> (B, T) unnormalised temporal scores."""
        if tuple(fmaps.shape[2:]) != self.map_size:
            raise ConfigError(
                f"ta: built for input_size={self.input_size} (feature map {self.map_size}), got a feature map of "
                f"{tuple(fmaps.shape[2:])}; build the model with input_size=(data.height, data.width)")
        a = F.relu(self.spatial_conv(fmaps))                           # (B*T, 256, 1, 1)
        a = a.flatten(1).unflatten(0, (batch, -1))                     # (B, T, 256)
        return self.temporal_conv(a.transpose(1, 2)).squeeze(1)        # (B, T)

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> ModelOutput:  # x: (B, T, 3, H, W)
        B, T = x.shape[:2]
        fmaps = self.backbone(x.flatten(0, 1))                         # (B*T, C, h, w)
        weights = temporal_attention_weights(self.attention_scores(fmaps, B))  # (B, T)
        frame_feats = fmaps.mean((2, 3)).view(B, T, -1)                # (B, T, C)
        f = torch.einsum("bt,btc->bc", weights, frame_feats)           # (B, C)
        logits, f_test = self.head(f)                                  # (B, classes), (B, C)
        return self.output(logits, f_test, {"feat": f}, attention={"temporal": weights},
                           return_attention=return_attention)

    # streaming evaluation (models/streaming.py): exact. A frame's score needs its two neighbours (Conv1d k=3,
    # zero padding), so the last frame of a chunk is scored when the next chunk arrives; online softmax pooling.
    def stream_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C + 256): per-frame GAP feature and spatial attention vector, concatenated."""
        fmaps = self.backbone(x)                                       # (N, C, h, w)
        if tuple(fmaps.shape[2:]) != self.map_size:
            self.attention_scores(fmaps[:1], 1)                        # raises the ConfigError naming the sizes
        a = F.relu(self.spatial_conv(fmaps)).flatten(1)                # (N, 256)
        return torch.cat([fmaps.mean((2, 3)), a], 1)

    def stream_init(self, batch: int) -> dict:
        # halo: attention vectors of the frame(s) before the unscored one (the zero pad before frame 0 at first)
        return {"pool": OnlineSoftmaxPool(), "halo": None, "pending": None}

    def _score_window(self, state: dict, window: torch.Tensor, values: torch.Tensor) -> None:
        """window (B, 256, L) attention vectors -> scores of its L-2 inner frames, pooled with `values`."""
        if window.shape[2] >= 3:
            conv = self.temporal_conv
            scores = F.conv1d(window, conv.weight, conv.bias).squeeze(1)  # (B, L-2)
            state["pool"].update(scores, values)

    def stream_update(self, state: dict, feats: torch.Tensor) -> dict:   # feats: (B, t, C + 256)
        f, a = feats.float().split([self.feat_dim, feats.shape[2] - self.feat_dim], 2)  # (B, t, C), (B, t, 256)
        if state["halo"] is None:
            state["halo"] = a.new_zeros(a.shape[0], a.shape[2], 1)     # (B, 256, 1)  zero padding before frame 0
            state["pending"] = f[:, :0]                                # (B, 0, C)
        window = torch.cat([state["halo"], a.transpose(1, 2)], 2)     # (B, 256, L)
        self._score_window(state, window, torch.cat([state["pending"], f], 1)[:, :-1])
        # the last frame waits for its right neighbour (clones: the chunk's tensors can be freed)
        state["halo"], state["pending"] = window[:, :, -2:].clone(), f[:, -1:].clone()
        return state

    def stream_finish(self, state: dict) -> torch.Tensor:
        halo = state["halo"]
        self._score_window(state, F.pad(halo, (0, 1)), state["pending"])  # the zero padding after the last frame
        return self.head(state["pool"].result())[1]                    # (B, C)


class RecurrentTemporal(VideoReIDModel):
    def __init__(self, num_classes: int, backbone: str = "resnet50", last_stride: int = 1,
                 pretrained: str | None = None, hidden_dim: int = 512, bnneck: bool = False):
        super().__init__(backbone, last_stride, pretrained)
        self.lstm = nn.LSTM(self.backbone.out_channels, hidden_dim, num_layers=1, batch_first=True)
        self.feat_dim = hidden_dim
        self.head = ClassifierHead(hidden_dim, num_classes, bnneck)

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> ModelOutput:  # x: (B, T, 3, H, W)
        B, T = x.shape[:2]
        fmaps = self.backbone(x.flatten(0, 1))                         # (B*T, C, h, w)
        frame_feats = fmaps.mean((2, 3)).view(B, T, -1)                # (B, T, C)
        outputs, _ = self.lstm(frame_feats)                            # (B, T, 512)
        f = outputs.mean(1)                                            # (B, 512)  average over time (Gao & Nevatia)
        logits, f_test = self.head(f)                                  # (B, classes), (B, 512)
        return self.output(logits, f_test, {"feat": f}, return_attention=return_attention)

    # streaming evaluation (models/streaming.py): exact, the LSTM's (h, c) carried across chunks
    def stream_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C) per-frame GAP features."""
        return self.backbone(x).mean((2, 3))

    def stream_init(self, batch: int) -> dict:
        return {"hc": None, "outputs": RunningSum()}

    def stream_update(self, state: dict, feats: torch.Tensor) -> dict:  # feats: (B, t, C)
        outputs, state["hc"] = self.lstm(feats, state["hc"])           # (B, t, 512)
        state["outputs"].update(outputs)
        return state

    def stream_finish(self, state: dict) -> torch.Tensor:
        return self.head(state["outputs"].mean())[1]                   # (B, 512)


@register_model(takes_input_size=True, forwards_to=TemporalAttention)
def ta(num_classes: int, **kwargs) -> nn.Module:
    return TemporalAttention(num_classes, **kwargs)


@register_model(forwards_to=RecurrentTemporal)
def rnn(num_classes: int, **kwargs) -> nn.Module:
    return RecurrentTemporal(num_classes, **kwargs)
