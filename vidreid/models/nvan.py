"""NVAN and STE-NVAN — Liu et al., "Spatially and Temporally Efficient Non-local Attention Network for Video-based
Person Re-Identification" (BMVC 2019); authors' code github.com/jackie840129/STE-NVAN (net/resnet.py, net/models.py).

NVAN (methods.md, "NVAN and STE-NVAN"):
  * ResNet-50, last stride 1. Embedded-Gaussian non-local blocks (nonlocal_block.py) over all T*h*w positions of a
    clip: 2 in layer2 (after its last two bottlenecks), 3 in layer3 (after its last three) -- the authors'
    `--non_layers 0 2 3 0`. Around each block the frame batch (B*T, C, h, w) is viewed as (B, C, T, h, w).
    `nonlocal_blocks=(n2, n3)` changes the counts; left unset with resnet18 (whose layer3 has 2 residual blocks, for
    fast CPU runs) it becomes (2, 2).
  * Feature pooling layer (FPL): (B, 2048, T, 16, 8) -> 3D average pool -> f (B, 2048) -> BN1d (bias frozen) -> f_bn
    -> Linear(2048 -> classes, no bias): the BNNeck ClassifierHead. Training returns logits = classifier(f_bn) and
    features {"feat": f} (the soft-margin triplet is the config's `loss.triplet_soft_margin: true`); eval returns
    f_bn (the config uses cosine distance). Any T >= 1.

STE-NVAN = NVAN with
  (a) spatial reduction: StripeNonLocalBlock (16 horizontal stripes per frame, W(y) broadcast over each stripe);
  (b) temporal reduction: every non-local runs within pairs of consecutive frames (t, t+1), and the frames are
      max-pooled pairwise after layer2 and after layer3 (T: 8 -> 4 -> 2), so layer3 runs on T/2 frames and layer4 on
      T/4. Hence T % 4 == 0 (FrameCountError otherwise; `all`-frames testing needs a multiple-of-4 clip length).
  The paper's pipeline is followed (T 8 -> 4 -> 2); one version of the authors' code
  (ResNet_Video_nonlocal_stripe_hr) instead keeps T/2 + 1 frames after layer3 (max of frames 0-1, frame 2 kept,
  frame 3 dropped), which looks like an experiment left in.

return_attention=True (eval): {"nonlocal": received attention of the last non-local block of layer3}, i.e. the
attention matrix averaged over its query positions, which is where the clip as a whole looks:
  NVAN     (B, T, h, w)  over the layer3 map (16x8 at 256x128); sums to 1 over (T, h, w) per clip;
  STE-NVAN (B, T/2, S)   over the S stripes of the T/2 layer3 frames; sums to 1 over each pair of frames.
The full (T*h*w)^2 matrix (1024^2 per clip at layer3, 4096^2 at layer2) is not returned: too big to keep.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .base import MeanStream, ModelOutput, VideoReIDModel
from .heads import ClassifierHead
from .nonlocal_block import NonLocalBlock, StripeNonLocalBlock
from .registry import register_model


class FrameCountError(ConfigError, ValueError):
    """The clip length T does not suit the model (printed by the CLI as one line)."""


class NonLocalVideoNet(MeanStream, VideoReIDModel):
    """ResNet backbone with non-local blocks after the last bottlenecks of layer2/layer3, FPL and BNNeck head.

    stripe=False, temporal_reduction=False is NVAN; stripe=True, temporal_reduction=True is STE-NVAN.
    """

    def __init__(self, num_classes: int, backbone: str = "resnet50", last_stride: int = 1,
                 pretrained: str | None = None, nonlocal_blocks: tuple[int, int] | None = None,
                 stripe: bool = False, num_stripes: int = 16, temporal_reduction: bool = False,
                 name: str = "nvan"):
        super().__init__(backbone, last_stride, pretrained)
        self.name = name
        self.temporal_reduction = temporal_reduction
        bb = self.backbone
        # the stages of reduction 8 and 16 (ResNet's layer2 and layer3) hold the non-local blocks, on any backbone
        self.stage8, self.stage16 = bb.stage_index(8), bb.stage_index(16)
        if nonlocal_blocks is None:   # the paper's (2, 3), capped for ResNet-18's 2-block layer3 (fast CPU runs)
            n2, n3 = min(2, len(bb.stage(self.stage8))), min(3, len(bb.stage(self.stage16)))
        else:
            n2, n3 = (int(n) for n in nonlocal_blocks)
        block_cls = StripeNonLocalBlock if stripe else NonLocalBlock
        extra = {"num_stripes": num_stripes} if stripe else {}
        self.nonlocal2, self.nonlocal2_after = self._make_blocks(self.stage8, n2, block_cls, extra)
        self.nonlocal3, self.nonlocal3_after = self._make_blocks(self.stage16, n3, block_cls, extra)
        self.feat_dim = bb.out_channels
        self.head = ClassifierHead(self.feat_dim, num_classes, bnneck=True)   # FPL's BN1d (bias frozen) + Linear

    def _make_blocks(self, stage: int, count: int, block_cls, extra: dict):
        layer, info = self.backbone.stage(stage), self.backbone.feature_info[stage]
        if not 0 <= count <= len(layer):
            raise ConfigError(f"{self.name}: nonlocal_blocks asks for {count} blocks in the reduction-{info.reduction} "
                              f"stage {info.name} of {len(layer)} blocks (resnet50: at most 4 in layer2, 6 in layer3)")
        after = list(range(len(layer) - count, len(layer)))            # indices of the last `count` blocks
        blocks = nn.ModuleList(block_cls(layer[i].out_channels, **extra) for i in after)
        return blocks, after

    def _check_frames(self, T: int) -> None:
        if self.temporal_reduction and T % 4:
            raise FrameCountError(
                f"{self.name}: T (frames per clip) must be divisible by 4, got T={T}: frames are max-pooled in pairs "
                f"after layer2 and after layer3 (T -> T/2 -> T/4); set data.seq_len / data.test_seq_len to a "
                f"multiple of 4 (the paper uses 8)")

    def _nonlocal(self, block: nn.Module, x: torch.Tensor, group: int, want_attention: bool):
        """(B*T, C, h, w) -> same, the non-local running over groups of `group` consecutive frames."""
        NT, C, h, w = x.shape
        clips = x.view(NT // group, group, C, h, w).transpose(1, 2)   # (N, C, group, h, w)
        if want_attention:
            clips, attention = block(clips, return_attention=True)
        else:
            clips, attention = block(clips), None
        return clips.transpose(1, 2).reshape(NT, C, h, w), attention

    def _layer(self, layer, blocks, after, x, group, want_attention):
        attention = None
        for i, residual_block in enumerate(layer):
            x = residual_block(x)
            if i in after:
                j = after.index(i)
                x, attention = self._nonlocal(blocks[j], x, group, want_attention and j == len(blocks) - 1)
        return x, attention

    @staticmethod
    def _pairwise_max(x: torch.Tensor) -> torch.Tensor:
        """(B*T, C, h, w) -> (B*T/2, C, h, w): max over frames (2k, 2k+1) of each clip (T even)."""
        NT, C, h, w = x.shape
        return x.view(NT // 2, 2, C, h, w).amax(1)

    def video_maps(self, x: torch.Tensor, want_attention: bool = False):
        """(B, T, 3, H, W) -> (B, T', C, h, w) backbone maps (T' = T, or T/4 with temporal reduction),
        and the received attention of the last layer3 block (or None)."""
        B, T = x.shape[:2]
        self._check_frames(T)
        group = 2 if self.temporal_reduction else T                    # frames one non-local sees together
        bb = self.backbone
        x = bb.stem(x.flatten(0, 1))
        for i in range(self.stage8):
            x = bb.stage(i)(x)                                         # (B*T, C1, h1, w1)
        x, _ = self._layer(bb.stage(self.stage8), self.nonlocal2, self.nonlocal2_after, x, group, False)
        if self.temporal_reduction:
            x = self._pairwise_max(x)                                  # (B*T/2, C2, h2, w2)
        for i in range(self.stage8 + 1, self.stage16):
            x = bb.stage(i)(x)
        x, attention = self._layer(bb.stage(self.stage16), self.nonlocal3, self.nonlocal3_after, x, group,
                                   want_attention)
        t3, (h3, w3) = x.shape[0] // B, x.shape[2:]                   # frames and map size at layer3
        if self.temporal_reduction:
            x = self._pairwise_max(x)                                  # (B*T/4, C3, h3, w3)
        for i in range(self.stage16 + 1, len(bb.feature_info)):
            x = bb.stage(i)(x)                                         # (B*T', C, h, w)
        received = None
        if attention is not None:                                      # (N, L, L), rows sum to 1
            received = attention.mean(1).reshape(B, t3, -1)            # mean over the queries: (B, t3, tokens/frame)
            if not isinstance(self.nonlocal3[-1], StripeNonLocalBlock):
                received = received.view(B, t3, h3, w3)                # NVAN: (B, T, h3, w3)
        return x.view(B, -1, *x.shape[1:]), received

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> ModelOutput:  # x: (B, T, 3, H, W)
        want = return_attention and not self.training
        maps, received = self.video_maps(x, want)                      # (B, T', C, h, w)
        f = maps.mean((1, 3, 4))                                       # (B, C)  FPL: 3D average pool over T', h, w
        logits, f_bn = self.head(f)                                    # BN1d (frozen bias) -> Linear (no bias)
        attention = {"nonlocal": received} if received is not None else {}
        return self.output(logits, f_bn, {"feat": f}, attention=attention, return_attention=return_attention)

    # streaming evaluation (models/streaming.py). STE-NVAN (temporal reduction) is exact: its non-locals see pairs of
    # frames and frames are max-pooled pairwise twice, so every group of 4 frames gives one layer4 map independently
    # of the others; the FPL mean over T' is a running sum over groups. A tracklet of L % 4 != 0 frames is padded by
    # repeating its last frame. NVAN's non-locals attend over the whole clip: no exact streaming (streams_exactly is
    # False; `all` sampling falls back to dense clips in vidreid.inference.extract).
    @property
    def streams_exactly(self) -> bool:
        return self.temporal_reduction

    @property
    def stream_frame_multiple(self) -> int:
        return 4 if self.temporal_reduction else 1

    def stream_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W), N % 4 == 0, consecutive groups of 4 frames of one tracklet -> (N / 4, C) pooled maps."""
        if not self.temporal_reduction:
            raise ConfigError(f"{self.name}: non-local attention over the whole clip cannot stream")
        maps, _ = self.video_maps(x.unflatten(0, (-1, 4)))             # (N/4, 1, C, h, w)
        return maps.mean((1, 3, 4))                                    # (N/4, C)

    def stream_head(self, mean: torch.Tensor) -> torch.Tensor:        # the running mean of groups (MeanStream)
        return self.head(mean)[1]                                      # (B, C)  BN1d of the FPL feature


# centre_by_default: centring its search features raised SynthPed mAP 43.9 -> 44.0 (benchmarks/centring.py)
@register_model(forwards_to=NonLocalVideoNet, builder_sets=("stripe", "temporal_reduction", "name"),
                centre_by_default=True)
def nvan(num_classes: int, **kwargs) -> nn.Module:
    """NVAN: kwargs backbone, last_stride (1), pretrained, nonlocal_blocks=(2, 3) (None: (2, 3), or (2, 2) with
    resnet18 whose layer3 has 2 residual blocks)."""
    return NonLocalVideoNet(num_classes, stripe=False, temporal_reduction=False, name="nvan", **kwargs)


# frame_multiple: the temporal reduction halves the clip twice (export needs T a multiple of 4); centring lowered
# its mAP 38.1 -> 37.9 (benchmarks/centring.py): off
@register_model(forwards_to=NonLocalVideoNet, builder_sets=("stripe", "name"), frame_multiple=4)
def ste_nvan(num_classes: int, **kwargs) -> nn.Module:
    """STE-NVAN: kwargs backbone, last_stride (1), pretrained, nonlocal_blocks=(2, 3) (as nvan), num_stripes=16,
    temporal_reduction=True (False keeps only the stripe reduction, for ablation)."""
    kwargs.setdefault("temporal_reduction", True)
    return NonLocalVideoNet(num_classes, stripe=True, name="ste_nvan", **kwargs)
