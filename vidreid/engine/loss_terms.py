"""Losses shared by every model: label-smoothed cross-entropy and batch-hard triplet (hard / soft margin, one
feature or per part)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Softmax cross-entropy; with eps > 0 the target is (1-eps)*onehot + eps/num_classes (Szegedy et al.)."""
    return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)


def grouped_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, class_group: torch.Tensor,
                          label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy whose softmax runs only over the classes of the target's group: TAUDL's per-camera tracklet
    discrimination (Li, Zhu & Gong, ECCV 2018), one classifier over all tracklets with a within-camera softmax
    (= a classifier per camera sharing the features). logits (B, C), targets (B,), class_group (C,) (the camera
    of each class). Smoothing eps spreads over the G classes of the group: target (1-eps)*onehot + eps/G."""
    allowed = class_group[None, :] == class_group[targets][:, None]              # (B, C)
    logp = torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=1)  # -inf outside the group
    nll = -logp.gather(1, targets[:, None]).squeeze(1)                           # (B,)
    uniform = -logp.masked_fill(~allowed, 0.0).sum(1) / allowed.sum(1)          # mean -log p over the group
    return ((1.0 - label_smoothing) * nll + label_smoothing * uniform).mean()


def pairwise_distance(x: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """(..., B, D) -> (..., B, B). Euclidean (not squared, as in Hermans et al.) or cosine distance."""
    if metric == "cosine":
        x = F.normalize(x, dim=-1)
        return 1.0 - x @ x.transpose(-1, -2)
    sq = (x * x).sum(-1)                                             # (..., B)
    d2 = sq[..., :, None] + sq[..., None, :] - 2.0 * (x @ x.transpose(-1, -2))
    return d2.clamp_min(1e-12).sqrt()


def batch_hard_triplet(features: torch.Tensor, pids: torch.Tensor, margin: float = 0.3,
                       metric: str = "euclidean", soft_margin: bool = False,
                       negatives: torch.Tensor | None = None) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al., 2017): for each anchor, its farthest positive and nearest negative.

    Hard margin: mean(max(0, margin + d_ap - d_an)) (margin 0 is a hinge at 0: zero once d_an >= d_ap).
    soft_margin=True: mean(log(1 + exp(d_ap - d_an))), Hermans et al.'s soft margin; `margin` is not used.
    Anchors with no positive or no negative in the batch are ignored.
    features (B, P, D) are P part features (e.g. RRU+STIM's horizontal parts): each part mines its own hardest
    positive and negative, and the P losses are averaged.
    negatives (B, B) bool: only these pairs (of different pids) may be mined as negatives (`vidreid adapt`: tracks
    known to be different people); None: every pair of different pids.
    """
    if features.dim() == 3:
        features = features.transpose(0, 1)                          # (P, B, D)
    dist = pairwise_distance(features, metric)                       # (B, B) or (P, B, B)
    same = pids[:, None] == pids[None, :]
    eye = torch.eye(len(pids), dtype=torch.bool, device=pids.device)
    pos_mask, neg_mask = same & ~eye, ~same
    if negatives is not None:
        neg_mask = neg_mask & negatives
    valid = pos_mask.any(1) & neg_mask.any(1)
    if not valid.any():
        return features.sum() * 0.0
    d_ap = dist.masked_fill(~pos_mask, float("-inf")).amax(-1)[..., valid]  # (V,) or (P, V)
    d_an = dist.masked_fill(~neg_mask, float("inf")).amin(-1)[..., valid]
    if soft_margin:
        return F.softplus(d_ap - d_an).mean()
    return F.relu(margin + d_ap - d_an).mean()
