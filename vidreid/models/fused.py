"""Fusion of a network's embedding with a classical feature (vidreid.models.classical), as one model.

The fused feature of a clip is the concatenation
    f = [ sqrt(1 - w) * n(f_net) / s_net ,  sqrt(w) * n(f_cls) / s_cls ]          n = L2 normalisation
so that the squared Euclidean distance of two fused features is the weighted sum of the two normalised squared
distances:
    d(x, y)^2 = (1 - w) * (d_net(x, y) / s_net)^2 + w * (d_cls(x, y) / s_cls)^2,
d_* the Euclidean distances of the L2-normalised features (chordal distances, sqrt(2 - 2 cos)), s_* their median
over pairs of validation tracklets (vidreid.inference.fused_checkpoint): both distances on one scale before weighting.
w = 0 ranks as the network alone under cosine distance, w = 1 as the classical feature alone under cosine.

Why features rather than distance matrices: the concatenation is an ordinary embedding, so eval, the feature cache,
FAISS indexes and search run it unchanged. Why the normalised parts: every fused feature then has the same length
sqrt((1 - w) / s_net^2 + w / s_cls^2), so the L2 normalisation that search indexes apply scales all of them alike
and rankings (and the fused distance up to one factor) are kept. Why squares: Euclidean distance of a concatenation
adds squared distances; the ranking of sqrt((1-w) a^2 + w b^2) is that of the fused distance, not of (1-w) a + w b.

A fused model does not stream (`all` sampling falls back to dense clips); with clip sampling each clip's fused
feature is computed, and the extraction averages a tracklet's clips as for any model.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import ModelOutput
from .registry import build_model, register_model


def fuse(f_net: torch.Tensor, f_cls: torch.Tensor, weight: float, scale_net: float, scale_cls: float
         ) -> torch.Tensor:
    """(B, D1), (B, D2) -> (B, D1 + D2) fused features (module docstring)."""
    return torch.cat([F.normalize(f_net.float(), dim=1) * (math.sqrt(1.0 - weight) / scale_net),
                      F.normalize(f_cls.float(), dim=1) * (math.sqrt(weight) / scale_cls)], 1)


class FusedModel(nn.Module):
    """A network and a classical feature model run on the same clips; `embedding` is their fusion."""

    def __init__(self, network: nn.Module, classical: nn.Module, weight: float = 0.5, scale_net: float = 1.0,
                 scale_cls: float = 1.0):
        super().__init__()
        self.network, self.classical = network, classical
        self.default_reg_weights: dict[str, float] = {}
        # in the state dict, hence in the checkpoint and in the feature-space hash of indexes and feature files
        self.register_buffer("fusion", torch.tensor([weight, scale_net, scale_cls], dtype=torch.float32))
        self.set_fusion(weight, scale_net, scale_cls)

    def set_fusion(self, weight: float, scale_net: float, scale_cls: float) -> None:
        if not 0.0 <= weight <= 1.0 or scale_net <= 0 or scale_cls <= 0:
            raise ConfigError(f"fusion weight must be in [0, 1] and scales positive, got w={weight}, "
                              f"scales {scale_net}, {scale_cls}")
        self.fusion = torch.tensor([weight, scale_net, scale_cls], dtype=torch.float32)

    @property
    def feat_dim(self) -> int:
        return int(self.network.feat_dim) + int(self.classical.feat_dim)

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3, H, W) -> (network embedding (B, D1), classical embedding (B, D2)), neither normalised."""
        return self.network(x).embedding, self.classical(x).embedding

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> ModelOutput:   # x: (B, T, 3, H, W)
        out = self.network(x, return_attention=return_attention) if return_attention else self.network(x)
        w, s_net, s_cls = (float(v) for v in self.fusion)
        emb = fuse(out.embedding, self.classical(x).embedding, w, s_net, s_cls)
        return ModelOutput(None, emb, attention=out.attention)

    def prepare_state(self, state: dict) -> None:
        """The classical part's fitted buffers take the checkpoint's shapes (see ClassicalFeatureModel)."""
        self.classical.prepare_state({k[len("classical."):]: v for k, v in state.items()
                                      if k.startswith("classical.")})


@register_model(takes_input_size=True, kind="fusion")
def fused(num_classes: int, input_size=None, network: str = "tp", network_kwargs: dict | None = None,
          classical: str = "colour_hist", classical_kwargs: dict | None = None, backbone: str | None = None,
          last_stride: int | None = None, pretrained: str | None = None):
    """A network fused with a classical feature (distance-level fusion through scaled concatenation)"""
    from .classical import is_classical
    if not is_classical(classical):
        raise ConfigError(f"model.kwargs.classical must name a classical feature (colour_hist, lomo), got "
                          f"{classical!r}")
    net = build_model(network, num_classes, input_size=input_size, backbone=backbone, last_stride=last_stride,
                      pretrained=pretrained, **(network_kwargs or {}))
    cls = build_model(classical, 0, input_size=input_size, **(classical_kwargs or {}))
    return FusedModel(net, cls)           # weight and scales: buffers, from the checkpoint
