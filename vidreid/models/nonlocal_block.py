"""Non-local blocks: the embedded-Gaussian block of Wang et al., "Non-local Neural Networks" (CVPR 2018), and the
stripe variant of STE-NVAN (Liu et al., "Spatially and Temporally Efficient Non-local Attention Network for
Video-based Person Re-Identification", BMVC 2019; authors' code github.com/jackie840129/STE-NVAN, net/resnet.py).

Both work on video maps (N, C, T, h, w). Parameter names (theta, phi, g, W.0, W.1) follow the authors' code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def embedded_gaussian_attention(theta: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """Wang et al. eq. (3): f(x_i, x_j) = exp(theta(x_i)^T phi(x_j)), normalised over j (= softmax over keys).

    theta (N, L, C'), phi (N, C', L) -> attention (N, L, L); each row (one query position) sums to 1.
    """
    return torch.softmax(theta @ phi, dim=-1)                          # (N, L, L)


class NonLocalBlock(nn.Module):
    """z = x + W(y),  y_i = sum_j softmax_j(theta_i . phi_j) g_j  over all T*h*w positions of a clip.

    theta, phi, g: Conv3d 1x1x1 C -> C/2; W: Conv3d 1x1x1 C/2 -> C followed by BatchNorm3d whose weight AND bias
    start at 0, so W(y) == 0 and the block is exactly the identity at initialisation (Wang et al., sec. 4.1) -- an
    ImageNet backbone with blocks inserted starts out computing what it did without them.
    """

    def __init__(self, in_channels: int, inter_channels: int | None = None):
        super().__init__()
        self.in_channels = in_channels
        self.inter_channels = inter_channels or max(in_channels // 2, 1)
        self.theta = nn.Conv3d(in_channels, self.inter_channels, kernel_size=1)
        self.phi = nn.Conv3d(in_channels, self.inter_channels, kernel_size=1)
        self.g = nn.Conv3d(in_channels, self.inter_channels, kernel_size=1)
        self.W = nn.Sequential(nn.Conv3d(self.inter_channels, in_channels, kernel_size=1),
                               nn.BatchNorm3d(in_channels))
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)

    def transform(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (N, C, *grid) -> (W(y) (N, C, *grid), attention (N, L, L)) with L = prod(grid)."""
        N, grid = tokens.shape[0], tokens.shape[2:]
        theta = self.theta(tokens).flatten(2).transpose(1, 2)          # (N, L, C')
        phi = self.phi(tokens).flatten(2)                              # (N, C', L)
        g = self.g(tokens).flatten(2).transpose(1, 2)                  # (N, L, C')
        attention = embedded_gaussian_attention(theta, phi)            # (N, L, L)
        y = (attention @ g).transpose(1, 2).reshape(N, self.inter_channels, *grid)  # (N, C', *grid)
        return self.W(y), attention                                    # (N, C, *grid), (N, L, L)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """x (N, C, T, h, w) -> x + W(y), same shape; with return_attention also the (N, L, L) attention."""
        w_y, attention = self.transform(x)
        out = x + w_y
        return (out, attention) if return_attention else out


def stripe_of_row(height: int, num_stripes: int, device=None) -> torch.Tensor:
    """(height,) index of the stripe each feature-map row belongs to.

    Row r lies in adaptive-pooling bin floor(r * S / h) (bin i spans rows [floor(i h / S), ceil((i+1) h / S))); when
    S divides h this is the plain r // (h / S) of the authors' code.
    """
    return torch.arange(height, device=device) * num_stripes // height


class StripeNonLocalBlock(NonLocalBlock):
    """STE-NVAN's spatially reduced non-local block (BMVC 2019, sec. 3.3 "spatial reduction").

    Each frame's map is average-pooled into S horizontal stripes (S = num_stripes = 16 in the paper, one token per
    stripe of h/S rows x w columns), the non-local runs on the T*S stripe tokens instead of T*h*w pixels, and W(y) of
    a stripe is broadcast back: every pixel of stripe s receives the same added vector W(y)_s.

    If the map has fewer rows than num_stripes (small test inputs, or last-stride-2 maps), S = min(num_stripes, h)
    (one stripe per row); if S does not divide h the stripes are adaptive-pooling bins (possibly overlapping by one
    row) and each row takes the stripe given by `stripe_of_row`. The authors' code asserts S | h instead.
    """

    def __init__(self, in_channels: int, inter_channels: int | None = None, num_stripes: int = 16):
        super().__init__(in_channels, inter_channels)
        self.num_stripes = num_stripes

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """x (N, C, T, h, w) -> same shape; attention (N, T*S, T*S) over stripe tokens when asked."""
        T, h = x.shape[2], x.shape[3]
        stripes = min(self.num_stripes, h)
        tokens = F.adaptive_avg_pool3d(x, (T, stripes, 1))             # (N, C, T, S, 1)
        w_y, attention = self.transform(tokens)                        # (N, C, T, S, 1)
        rows = stripe_of_row(h, stripes, x.device)                     # (h,)
        out = x + w_y[:, :, :, rows]                                   # (N, C, T, h, 1) broadcast over the w columns
        return (out, attention) if return_attention else out
