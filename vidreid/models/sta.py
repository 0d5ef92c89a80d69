"""STA — Fu et al., "STA: Spatial-Temporal Attention for Large-Scale Video-based Person Re-Identification"
(AAAI 2019). Parameter-free spatial-temporal attention over horizontal blocks of the frames' feature maps.

Pipeline (methods.md, "STA"), N frames of a clip, K horizontal blocks:
  1. f_n (C, h, w) backbone map of frame n (ResNet-50, last stride 1 -> 2048x16x8 at 256x128).
  2. g_n(h, w) = sum_d f_n(h, w, d)^2, normalised over the h*w positions (l1 = the paper's formula, default;
     l2 = the alternative reading of its text, `spatial_norm="l2"`).
  3. Block score s_{n,k} = sum of g_n over block k (K equal horizontal stripes).
  4. S(n, k) = s_{n,k} / sum_n s_{n,k}: the N x K attention matrix, columns sum to 1.
  5. Reg = ||g_i - g_j||_F for two distinct random frames i != j of each clip, averaged over the clips.
  6. P1: for each block k, block k of the frame argmax_n S(n, k); P2 = sum_n S(n, k) f_{n,k}.
     concat(P1, P2) on channels (2C, h, w) -> GAP -> 2C.
  7. Linear(2C -> 1024) + BN1d + ReLU -> 1024-d test feature -> Linear(1024 -> classes).
  8. Loss: CE + batch-hard triplet on the 1024-d feature (applied by the trainer) + lambda * Reg.

vidreid choices where the paper is silent (no official code exists):
  * lambda is the constructor kwarg `reg_weight`, exposed as `default_reg_weights["sta_reg"]`; the config's
    `loss.reg_weights.sta_reg` overrides it. Default 1e-3 (the paper does not give its value). The SynthPed
    ablation (BENCHMARKS.md, "STA ablations", from scratch) does not single out a best lambda: 0, 1e-3, 0.1, 1 and
    10 are all within noise of one another (lambda = 0 scored highest, +1.5 +- 1.0 mAP and +2.6 +- 1.7 on
    occlusion-heavy queries over 1e-3, both within 2 paired SEs), so the default stays 1e-3 rather than switching
    the paper's regulariser off on a difference the benchmark cannot resolve. Scale: with l1 maps each g_n sums to
    1, so 0 <= Reg <= sqrt(2) and is typically << 1 -- at 1e-3 the term is a gentle nudge; raise it to make
    frames' maps agree more strongly.
  * `fusion="weighted"` / `"max"` keep one branch only (C channels) for the ablation; `"both"` is the paper.
  * P1 passes gradients to the picked frame's features only (argmax is not differentiable); S receives gradients
    through P2 and Reg.
  * T = 1 is allowed: S = 1, P1 = P2 = f, Reg = 0.
  * A frame whose map is all zeros gets g = 0 (no mass) instead of a division by zero.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .base import ModelOutput, VideoReIDModel
from .heads import ClassifierHead
from .registry import register_model

_EPS = 1e-12


# --------------------------------------------------------------------------- formulas (unit-tested directly)
def spatial_attention(fmaps: torch.Tensor, norm: str = "l1") -> torch.Tensor:
    """Step 2: (B, T, C, h, w) -> g (B, T, h, w), each frame's map normalised over its h*w positions."""
    # in float32: a sum of 2048 squares overflows fp16 under autocast
    energy = fmaps.float().pow(2).sum(2)                               # (B, T, h, w)  sum_d f^2 >= 0
    flat = energy.flatten(2)                                           # (B, T, h*w)
    if norm == "l1":
        denom = flat.sum(-1, keepdim=True)                             # (B, T, 1)  = l1 norm (entries >= 0)
    elif norm == "l2":
        denom = flat.pow(2).sum(-1, keepdim=True).sqrt()               # (B, T, 1)
    else:
        raise ConfigError(f"sta: spatial_norm must be 'l1' or 'l2', got {norm!r}")
    return (flat / denom.clamp_min(_EPS)).view_as(energy)              # (B, T, h, w)


def split_blocks(x: torch.Tensor, num_blocks: int, height_dim: int) -> torch.Tensor:
    """Split dimension `height_dim` of size h into (K, h/K) horizontal blocks."""
    h = x.shape[height_dim]
    if h % num_blocks:
        raise ConfigError(
            f"sta: num_blocks K={num_blocks} must divide the feature-map height {h} "
            f"(change K, the input height, or last_stride)")
    return x.unflatten(height_dim, (num_blocks, h // num_blocks))


def block_scores(g: torch.Tensor, num_blocks: int) -> torch.Tensor:
    """Step 3: g (B, T, h, w) -> s (B, T, K), the attention mass of each horizontal block."""
    return split_blocks(g, num_blocks, 2).sum((3, 4))                  # (B, T, K)


def temporal_normalise(scores: torch.Tensor) -> torch.Tensor:
    """Step 4: s (B, T, K) -> S (B, T, K) = s / sum_n s; every column (fixed block k) sums to 1 over frames."""
    return scores / scores.sum(1, keepdim=True).clamp_min(_EPS)        # (B, T, K)


def sample_frame_pairs(batch: int, num_frames: int, generator: torch.Generator | None = None,
                       device: torch.device | str = "cpu") -> torch.Tensor:
    """Two distinct random frame indices per clip: (B, 2). With T = 1 both are 0 (Reg is then 0)."""
    if num_frames < 2:
        return torch.zeros(batch, 2, dtype=torch.long, device=device)
    first = torch.randint(num_frames, (batch,), generator=generator)                 # (B,)
    offset = torch.randint(1, num_frames, (batch,), generator=generator)             # (B,)  in [1, T-1] -> j != i
    return torch.stack([first, (first + offset) % num_frames], 1).to(device)        # (B, 2)


def inter_frame_regulariser(g: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Step 5: Reg = mean over clips of ||g_i - g_j||_F; g (B, T, h, w), pairs (B, 2) frame indices -> scalar."""
    batch_idx = torch.arange(g.shape[0], device=g.device)             # (B,)
    diff = g[batch_idx, pairs[:, 0]] - g[batch_idx, pairs[:, 1]]       # (B, h, w)
    # torch's norm has a zero (sub)gradient at 0, so identical maps (or T = 1, i = j = 0) give Reg = 0, no NaN.
    return torch.linalg.matrix_norm(diff).mean()                      # scalar; Frobenius by default


def gather_frame_per_block(blocks: torch.Tensor, frame_idx: torch.Tensor) -> torch.Tensor:
    """For each clip b and block k take block k of frame frame_idx[b, k].

    blocks (B, T, C, K, hk, w), frame_idx (B, K) -> (B, C, K, hk, w). Vectorised with torch.gather over the T axis.
    """
    B, T, C, K, hk, w = blocks.shape
    index = frame_idx.view(B, 1, 1, K, 1, 1).expand(B, 1, C, K, hk, w)   # (B, 1, C, K, hk, w)
    return blocks.gather(1, index).squeeze(1)                            # (B, C, K, hk, w)


def fuse(fmaps: torch.Tensor, attention: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 6: fmaps (B, T, C, h, w), S (B, T, K) -> (P1, P2), each (B, C, h, w).

    P1 = block k of the frame with the largest S(n, k); P2 = sum_n S(n, k) * f_{n,k}.
    """
    K = attention.shape[2]
    blocks = split_blocks(fmaps, K, 3)                                 # (B, T, C, K, h/K, w)
    p1 = gather_frame_per_block(blocks, attention.argmax(1))           # (B, C, K, h/K, w)
    p2 = torch.einsum("btk,btckiw->bckiw", attention, blocks)          # (B, C, K, h/K, w)
    return p1.flatten(2, 3), p2.flatten(2, 3)                          # (B, C, h, w) each


# --------------------------------------------------------------------------- model
class EmbeddingHead(nn.Module):
    """STA step 7: Linear(in -> dim) + BN1d + ReLU gives the test feature; a ClassifierHead gives the logits."""

    def __init__(self, in_dim: int, dim: int, num_classes: int):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(in_dim, dim), nn.BatchNorm1d(dim), nn.ReLU(inplace=True))
        nn.init.kaiming_normal_(self.embed[0].weight, mode="fan_out")  # re-ID codebases' usual init for embeddings
        nn.init.zeros_(self.embed[0].bias)
        self.classifier = ClassifierHead(dim, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, in_dim) -> (logits (B, classes), feature (B, dim))."""
        f = self.embed(x)                                              # (B, dim)
        logits, f_test = self.classifier(f)                            # (B, classes), (B, dim)
        return logits, f_test


class STA(VideoReIDModel):
    def __init__(self, num_classes: int, backbone: str = "resnet50", last_stride: int = 1,
                 pretrained: str | None = None, num_blocks: int = 4, spatial_norm: str = "l1",
                 fusion: str = "both", embed_dim: int = 1024, reg_weight: float = 1e-3):
        if spatial_norm not in ("l1", "l2"):
            raise ConfigError(f"sta: spatial_norm must be 'l1' or 'l2', got {spatial_norm!r}")
        if fusion not in ("both", "weighted", "max"):
            raise ConfigError(f"sta: fusion must be 'both', 'weighted' or 'max', got {fusion!r}")
        if num_blocks < 1:
            raise ConfigError(f"sta: num_blocks must be >= 1, got {num_blocks}")
        super().__init__(backbone, last_stride, pretrained)
        self.num_blocks, self.spatial_norm, self.fusion = num_blocks, spatial_norm, fusion
        self.default_reg_weights = {"sta_reg": float(reg_weight)}
        channels = self.backbone.out_channels
        self.head = EmbeddingHead(2 * channels if fusion == "both" else channels, embed_dim, num_classes)
        self.feat_dim = embed_dim

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> ModelOutput:  # x: (B, T, 3, H, W)
        B, T = x.shape[:2]
        fmaps = self.frame_maps(x)                                     # (B, T, C, h, w)
        g = spatial_attention(fmaps, self.spatial_norm)                # (B, T, h, w)
        S = temporal_normalise(block_scores(g, self.num_blocks))       # (B, T, K)
        p1, p2 = fuse(fmaps, S)                                        # (B, C, h, w) each
        if self.fusion == "both":
            fused = torch.cat([p1, p2], 1)                             # (B, 2C, h, w)
        else:
            fused = p1 if self.fusion == "max" else p2                 # (B, C, h, w)
        pooled = fused.mean((2, 3))                                    # (B, 2C) or (B, C)
        logits, f = self.head(pooled)                                  # (B, classes), (B, 1024)
        attention = {"S": S, "g": g}                                   # (B, T, K), (B, T, h, w)
        regularizers = {}
        if self.training:
            pairs = sample_frame_pairs(B, T, device=x.device)          # (B, 2)
            regularizers["sta_reg"] = inter_frame_regulariser(g, pairs)  # scalar
        return self.output(logits, f, {"feat": f}, regularizers, attention, return_attention)

    # streaming evaluation (models/streaming.py): exact. S(n, k) = s_{n,k} / sum_n s_{n,k} has no parameters, so
    # P1 is a running argmax of s_{n,k} and P2 a ratio of two running sums; both only need each frame's block
    # scores and the GAP of each block (GAP over the map = mean of the K equal blocks' GAPs).
    def stream_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, K, C + 1): per block, its GAP feature and (last column) its score s_{n,k}."""
        fmaps = self.backbone(x)                                       # (N, C, h, w)
        s = block_scores(spatial_attention(fmaps[:, None], self.spatial_norm), self.num_blocks)[:, 0]  # (N, K)
        block_means = split_blocks(fmaps, self.num_blocks, 2).float().mean((3, 4))  # (N, C, K)
        return torch.cat([block_means.transpose(1, 2), s[..., None]], 2)  # (N, K, C + 1)

    def stream_init(self, batch: int) -> dict:
        return {"best_score": None}

    def stream_update(self, state: dict, feats: torch.Tensor) -> dict:  # feats: (B, t, K, C + 1)
        blocks, s = feats[..., :-1].float(), feats[..., -1].float()   # (B, t, K, C), (B, t, K)
        best, idx = s.max(1)                                           # (B, K): first maximum, as torch.argmax
        best_blocks = blocks.gather(1, idx[:, None, :, None].expand(-1, 1, -1, blocks.shape[3])).squeeze(1)
        weighted = torch.einsum("btk,btkc->bkc", s, blocks)            # (B, K, C)
        if state["best_score"] is None:
            state.update(best_score=best, best_blocks=best_blocks, weighted=weighted, mass=s.sum(1))
            return state
        newer = best > state["best_score"]                             # strictly: earlier frames win ties
        state["best_score"] = torch.where(newer, best, state["best_score"])
        state["best_blocks"] = torch.where(newer[..., None], best_blocks, state["best_blocks"])
        state["weighted"] = state["weighted"] + weighted
        state["mass"] = state["mass"] + s.sum(1)
        return state

    def stream_finish(self, state: dict) -> torch.Tensor:
        p1 = state["best_blocks"].mean(1)                              # (B, C)  GAP of P1
        p2 = (state["weighted"] / state["mass"].clamp_min(_EPS)[..., None]).mean(1)  # (B, C)  GAP of P2
        pooled = torch.cat([p1, p2], 1) if self.fusion == "both" else (p1 if self.fusion == "max" else p2)
        return self.head(pooled)[1]                                    # (B, 1024)


@register_model(forwards_to=STA)
def sta(num_classes: int, **kwargs) -> nn.Module:
    return STA(num_classes, **kwargs)
