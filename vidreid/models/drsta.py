"""DRSTA — Li et al., "Diversity Regularized Spatiotemporal Attention for Video-based Person Re-identification"
(CVPR 2018).

Pipeline (methods.md, "DRSTA"), N frames of a clip (N = 6 by restricted random sampling in the data config; the
model takes any T >= 1), K spatial attention models (K = 6):
  1. f_n (C, h, w): ResNet-50 map, last stride 2 -> 2048 x 8 x 4 at 256x128; L = h*w positions.
  2. Spatial attention k: conv1x1 -> ReLU -> conv1x1 -> softmax over the L positions -> a_{n,k} (rows sum to 1).
  3. Part feature x_{n,k} = sum_l a_{n,k}(l) f_n(l) (C-d; optionally projected to `part_dim`).
  4. Diversity (Hellinger): Q_n = sqrt(A_n), A_n the K x L attention matrix of frame n;
     R = ||Q_n Q_n^T - I||_F^2 averaged over frames; returned as the regulariser "drsta_div" (weight lambda).
  5. Temporal attention per part: e_{n,k} = w_k . x_{n,k} + b_k, softmax over the N frames -> t_{n,k};
     x_k = sum_n t_{n,k} x_{n,k}. Concatenate x_1..x_K -> clip feature (K*C-d) -> classifier.

Deviations / vidreid decisions:
  * Loss: the paper's training loss is unclear in the public record; vidreid trains DRSTA with label-smoothed CE +
    batch-hard triplet on the clip feature (applied by the trainer) + lambda * R, for comparability with the others.
  * The K attention models are independent two-layer nets (hidden width `attention_dim`, default 256: the paper's
    width is not in the public record). They run as one 1x1 conv C -> K*hidden and one grouped 1x1 conv
    (groups=K) hidden -> 1 per model, which is exactly K separate models, vectorised.
  * `part_dim` (default None = keep C): one Linear(C -> part_dim) shared by the parts, applied before the temporal
    attention.
  * lambda = `reg_weight` (default 1.0, a placeholder: the paper's value is not in the public record); the config's
    `loss.reg_weights.drsta_div` overrides it. Scale: 0 <= R <= K^2 - K (30 at K = 6); near-uniform maps at
    initialisation give R close to that maximum (29.5 measured, against CE ~ ln(classes) = 5 on 150 ids).
  * `diversity_norm`: "sum" (default) is the paper's R; "pairs" divides it by K(K-1), the number of ordered pairs of
    maps, so R is in [0, 1] whatever K -- the same term at lambda / (K(K-1)). Measured on SynthPed (BENCHMARKS.md,
    "DRSTA diversity normalisation"; ImageNet MobileNetV2, 40 steps, lambda = 1): sum 36.9 mAP, pairs 15.4
    (-21.5 +- 1.5 paired over queries). The large early term is what pulls the K maps apart: with sum, R falls from
    29.5 to 5.8 in 40 steps and the trained maps are peaked (mean max weight 0.63 over 32 positions) on ~4
    distinct positions per frame; with pairs the maps stay near-identical (R / 30 = 0.995) and diffuse (0.09), so
    the K parts carry one feature K times. Hence the default: sum. "pairs" is for choosing lambda independently of
    K (lambda = K(K-1) reproduces sum).
  * sqrt(A) uses A clamped at 1e-12, so attention weights that underflow to 0 give a finite gradient.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import ModelOutput, SoftmaxStream, VideoReIDModel
from .heads import ClassifierHead
from .registry import register_model


# --------------------------------------------------------------------------- formulas (unit-tested directly)
def attend_parts(attention: torch.Tensor, fmaps: torch.Tensor) -> torch.Tensor:
    """Step 3: attention (N, K, L) rows summing to 1, fmaps (N, C, L) -> part features (N, K, C)."""
    return torch.einsum("nkl,ncl->nkc", attention, fmaps)             # (N, K, C)


DIVERSITY_NORMS = ("sum", "pairs")


def hellinger_diversity(attention: torch.Tensor, norm: str = "sum") -> torch.Tensor:
    """Step 4: attention (N, K, L), rows sum to 1 -> mean over the N frames of ||sqrt(A) sqrt(A)^T - I||_F^2.

    norm="sum" (the paper's R): 0 when the K maps have disjoint supports, K^2 - K when all K maps are the same map.
    norm="pairs": R / (K^2 - K), the mean over the K(K-1) ordered pairs of maps of their squared Bhattacharyya
    coefficient -> in [0, 1] whatever K (1 for identical maps, 0 for disjoint ones).
    """
    q = attention.clamp_min(1e-12).sqrt()                              # (N, K, L)
    gram = q @ q.transpose(1, 2)                                       # (N, K, K)  Bhattacharyya coefficients
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    r = (gram - eye).pow(2).sum((1, 2)).mean()                         # scalar
    if norm == "pairs":
        k = gram.shape[-1]
        return r / max(k * k - k, 1)                                   # K = 1: R is 0 anyway (diagonal only)
    return r


def temporal_pool_parts(parts: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 5: parts (B, T, K, D), scores (B, T, K) -> (x_k (B, K, D), weights (B, T, K) summing to 1 over T)."""
    weights = F.softmax(scores, dim=1)                                 # (B, T, K)
    return torch.einsum("btk,btkd->bkd", weights, parts), weights      # (B, K, D), (B, T, K)


# --------------------------------------------------------------------------- model
class DRSTA(SoftmaxStream, VideoReIDModel):
    def __init__(self, num_classes: int, backbone: str = "resnet50", last_stride: int = 2,
                 pretrained: str | None = None, num_parts: int = 6, attention_dim: int = 256,
                 part_dim: int | None = None, reg_weight: float = 1.0, diversity_norm: str = "sum",
                 bnneck: bool = False):
        if num_parts < 1:
            raise ConfigError(f"drsta: num_parts must be >= 1, got {num_parts}")
        if diversity_norm not in DIVERSITY_NORMS:
            raise ConfigError(f"drsta: diversity_norm must be one of {', '.join(DIVERSITY_NORMS)}, "
                              f"got {diversity_norm!r}")
        super().__init__(backbone, last_stride, pretrained)
        self.num_parts = num_parts
        self.diversity_norm = diversity_norm
        self.default_reg_weights = {"drsta_div": float(reg_weight)}
        channels = self.backbone.out_channels
        # K independent conv1x1 -> ReLU -> conv1x1 nets, vectorised (see the module docstring)
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(channels, num_parts * attention_dim, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_parts * attention_dim, num_parts, 1, groups=num_parts),
        )
        self.projection = nn.Linear(channels, part_dim) if part_dim else nn.Identity()
        part_dim = part_dim or channels
        # one linear temporal scorer (w_k, b_k) per part
        self.temporal_weight = nn.Parameter(torch.empty(num_parts, part_dim).uniform_(-1, 1) / math.sqrt(part_dim))
        self.temporal_bias = nn.Parameter(torch.zeros(num_parts))
        self.feat_dim = num_parts * part_dim
        self.head = ClassifierHead(self.feat_dim, num_classes, bnneck)

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> ModelOutput:  # x: (B, T, 3, H, W)
        B, T = x.shape[:2]
        fmaps = self.backbone(x.flatten(0, 1))                         # (B*T, C, h, w)
        h, w = fmaps.shape[2:]
        logits_map = self.spatial_attention(fmaps)                     # (B*T, K, h, w)
        spatial = F.softmax(logits_map.flatten(2), dim=2)              # (B*T, K, L)  sums to 1 over positions
        parts = attend_parts(spatial, fmaps.flatten(2))                # (B*T, K, C)
        parts = self.projection(parts).unflatten(0, (B, T))           # (B, T, K, D)
        scores = torch.einsum("btkd,kd->btk", parts, self.temporal_weight) + self.temporal_bias  # (B, T, K)
        pooled, temporal = temporal_pool_parts(parts, scores)          # (B, K, D), (B, T, K)
        f = pooled.flatten(1)                                          # (B, K*D)
        logits, f_test = self.head(f)                                  # (B, classes), (B, K*D)
        attention = {"spatial": spatial.view(B, T, self.num_parts, h, w),  # (B, T, K, h, w)
                     "temporal": temporal}                                 # (B, T, K)
        regularizers = {"drsta_div": hellinger_diversity(spatial, self.diversity_norm)} if self.training else {}
        return self.output(logits, f_test, {"feat": f}, regularizers, attention, return_attention)

    # streaming evaluation (models/streaming.py): exact, one online log-sum-exp softmax over time per part
    # (SoftmaxStream: the last column of stream_frames is the score, the others the value)
    def stream_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, K, D + 1): per part, its feature x_{n,k} and (last column) its temporal score."""
        fmaps = self.backbone(x)                                       # (N, C, h, w)
        spatial = F.softmax(self.spatial_attention(fmaps).flatten(2), dim=2)  # (N, K, L)
        parts = self.projection(attend_parts(spatial, fmaps.flatten(2)))    # (N, K, D)
        scores = torch.einsum("nkd,kd->nk", parts, self.temporal_weight) + self.temporal_bias  # (N, K)
        return torch.cat([parts, scores[..., None]], 2)

    def stream_head(self, pooled: torch.Tensor) -> torch.Tensor:     # pooled parts (B, K, D)
        return self.head(pooled.flatten(1))[1]                         # (B, K*D)


@register_model(forwards_to=DRSTA)
def drsta(num_classes: int, **kwargs) -> nn.Module:
    return DRSTA(num_classes, **kwargs)
