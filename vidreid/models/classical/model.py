"""Classical appearance features as vidreid models: `colour_hist` and `lomo`, each with an optional learned metric.

`ClassicalFeatureModel` has no trainable parameter. It satisfies the `VideoReIDModel` interface that extraction
uses (forward -> `ModelOutput.embedding`, `feat_dim`, the streaming protocol), so `vidreid eval`, the feature
cache, `vidreid index build` and `vidreid search` run it exactly as they run a network:

  clip (B, T, 3, H, W), normalised as the data config says
    -> pixels: x * std + mean, * 255, rounded to uint8 (the inverse of vidreid.data.transforms.normalize_clip;
       exact for frames the loader did not resize, within 0.5 grey levels otherwise)
    -> per-frame features (numpy: colour.stripe_histograms or lomo.lomo)          (B*T, D_raw)
    -> pooled over the tracklet's frames: mean (default) or max                   (B, D_raw)
    -> colour_hist with hellinger: element-wise square root, so that the Euclidean distance of two features is
       the Hellinger distance sqrt(sum (sqrt p - sqrt q)^2) = sqrt(2 - 2 BC(p, q)) of the histograms per block
       (BC = the Bhattacharyya coefficient): a Bhattacharyya ranking through Euclidean code, FAISS included
    -> metric (xqda / kissme): (f - mean) @ projection (buffers fitted by vidreid.inference.classical on a
       dataset's train split and stored in a checkpoint like a network's weights)          (B, d)

With `all` sampling the pooling is over every frame of the tracklet (streaming: per-frame features in batches,
a running sum or maximum per tracklet); with clip sampling (rrs, dense) over the frames of a clip, and a tracklet's
clips are then averaged by the extraction like any model's.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError
from ..base import ModelOutput
from ..registry import register_model
from . import colour, lomo as lomo_mod

POOLINGS = ("mean", "max")
METRICS = ("none", "xqda", "kissme")


class PoolState:
    """Running sum, count and maximum of per-frame features (B, t, D) of a batch of tracklets."""

    def __init__(self):
        self.total = self.maximum = None
        self.count = 0

    def update(self, feats: torch.Tensor) -> None:                          # (B, t, D)
        s, m = feats.float().sum(1), feats.float().amax(1)
        self.total = s if self.total is None else self.total + s
        self.maximum = m if self.maximum is None else torch.maximum(self.maximum, m)
        self.count += feats.shape[1]


class ClassicalFeatureModel(nn.Module):
    """A hand-made per-frame feature, pooled over time, optionally projected by a learned metric."""

    streams_exactly = True
    classical = True                                    # no network: nothing to train, nothing to export to ONNX

    def __init__(self, name: str, frame_features, raw_dim: int, pooling: str = "mean", metric: str = "none",
                 hellinger: bool = False, metric_options: dict | None = None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"model.kwargs.pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if metric not in METRICS:
            raise ConfigError(f"model.kwargs.metric must be one of {', '.join(METRICS)}, got {metric!r}")
        self.name, self.frame_features, self.raw_dim = name, frame_features, int(raw_dim)
        self.pooling, self.metric, self.hellinger = pooling, metric, bool(hellinger)
        self.metric_options = dict(metric_options or {})
        self.default_reg_weights: dict[str, float] = {}
        # the data config's normalisation (set from it when a checkpoint is made; ImageNet's by default)
        self.register_buffer("pixel_mean", torch.tensor([0.485, 0.456, 0.406]))
        self.register_buffer("pixel_std", torch.tensor([0.229, 0.224, 0.225]))
        # the learned metric: empty until fitted (vidreid.inference.classical); shapes come from the fit
        self.register_buffer("metric_mean", torch.zeros(0))
        self.register_buffer("projection", torch.zeros(0, 0))

    # ------------------------------------------------------------------ metric
    @property
    def fitted(self) -> bool:
        return self.projection.numel() > 0

    @property
    def feat_dim(self) -> int:
        return int(self.projection.shape[1]) if self.fitted else self.raw_dim

    def set_metric(self, mean: np.ndarray, projection: np.ndarray) -> None:
        """Install a fitted metric: features become (f - mean) @ projection, projection (raw_dim, d)."""
        if projection.shape[0] != self.raw_dim or mean.shape != (self.raw_dim,):
            raise ValueError(f"metric of shape {projection.shape} for features of {self.raw_dim} dimensions")
        self.metric_mean = torch.as_tensor(mean, dtype=torch.float32)
        self.projection = torch.as_tensor(projection, dtype=torch.float32)

    def prepare_state(self, state: dict) -> None:
        """Called by load_weights before loading: the fitted metric's buffers take the checkpoint's shapes (they
        depend on the training data, not on the config)."""
        for key in ("metric_mean", "projection"):
            if key in state:
                setattr(self, key, torch.zeros_like(state[key], dtype=torch.float32))

    # ------------------------------------------------------------------ features
    def pixels(self, x: torch.Tensor) -> np.ndarray:
        """Normalised frames (N, 3, H, W) -> uint8 RGB (N, H, W, 3)."""
        mean = self.pixel_mean.view(1, 3, 1, 1).to(x.device)
        std = self.pixel_std.view(1, 3, 1, 1).to(x.device)
        px = ((x.float() * std + mean) * 255.0).round().clamp(0, 255)
        return px.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def stream_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised -> (N, raw_dim) per-frame features."""
        if len(x) == 0:
            return torch.zeros(0, self.raw_dim, device=x.device)
        return torch.from_numpy(np.ascontiguousarray(self.frame_features(self.pixels(x)))).to(x.device)

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, raw_dim) pooled features -> (B, feat_dim) the embedding."""
        f = pooled.float()
        if self.hellinger:
            f = f.clamp_min(0).sqrt()
        if self.fitted:
            f = (f - self.metric_mean.to(f.device)) @ self.projection.to(f.device)
        return f

    def stream_init(self, batch: int) -> PoolState:
        return PoolState()

    def stream_update(self, state: PoolState, feats: torch.Tensor) -> PoolState:   # feats (B, t, raw_dim)
        state.update(feats)
        return state

    def stream_finish(self, state: PoolState) -> torch.Tensor:
        pooled = state.total / state.count if self.pooling == "mean" else state.maximum
        return self.head(pooled)                                                # (B, D)

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> ModelOutput:   # x: (B, T, 3, H, W)
        B, T = x.shape[:2]
        state = self.stream_update(self.stream_init(B), self.stream_frames(x.flatten(0, 1)).unflatten(0, (B, T)))
        return ModelOutput(None, self.stream_finish(state))


def _size(input_size) -> tuple[int, int]:
    if input_size is None:
        return 128, 64
    return int(input_size[0]), int(input_size[1])


def _region(region_x, region_y, H: int, W: int) -> tuple[tuple[float, float], tuple[float, float], int, int]:
    """Checked region options (model.kwargs.region_x / region_y: [lo, hi] fractions of the frame's width / height)
    -> (region_x, region_y, h, w) with (h, w) the region's size in a H x W frame."""
    try:
        rx, ry = tuple(float(v) for v in region_x), tuple(float(v) for v in region_y)
        if len(rx) != 2 or len(ry) != 2:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"model.kwargs.region_x and region_y must be [lo, hi] fractions of the frame, got "
                          f"{region_x!r}, {region_y!r}") from None
    h, w = colour.region_size(H, W, rx, ry)                                 # ConfigError for a bad extent
    return rx, ry, h, w


@register_model(takes_input_size=True, kind="classical")
def colour_hist(num_classes: int = 0, input_size=None, spaces=("hsv",), stripes: int = 6, bins: int = 16,
                hellinger: bool = True, pooling: str = "mean", metric: str = "none", pca_dim: int = 100,
                xqda_lambda: float = 1e-3, joint: bool = False, region_x=(0.0, 1.0), region_y=(0.0, 1.0),
                skip_colour=None):
    """Colour histograms over horizontal stripes (the re-ID baseline; e.g. Gray & Tao, ECCV 2008 ensembles of
    local colour features), per channel of each colour space in `spaces` (rgb, hsv, lab, ycbcr), `bins` bins per
    channel (joint: bins ** 3 bins of the three channels together), each stripe's histogram L1-normalised;
    hellinger: compared by the Hellinger (Bhattacharyya) distance. region_x / region_y: the part of the frame
    histogrammed, [lo, hi] fractions of its width / height (default the whole frame; configs/body_colour.yaml:
    the centre strip of a detector's loose box, where the body is). skip_colour: [r, g, b] pixels of exactly this
    colour are not counted: with data.background=suppress, [124, 116, 104] (ImageNet's mean, the fill) makes the
    histograms mask-weighted (vidreid/data/masks.py)."""
    spaces = [spaces] if isinstance(spaces, str) else list(spaces)
    bad = [s for s in spaces if s not in colour.SPACES]
    if bad or not spaces:
        raise ConfigError(f"model.kwargs.spaces: unknown colour space(s) {bad or spaces}; expected some of "
                          f"{', '.join(colour.SPACES)}")
    H, W = _size(input_size)
    rx, ry, h, _ = _region(region_x, region_y, H, W)
    if not 1 <= int(stripes) <= h or int(bins) < 1:
        raise ConfigError(f"model.kwargs: stripes must be in 1..{h} (the height of the histogrammed region) and "
                          f"bins >= 1, got stripes={stripes}, bins={bins}")
    stripes, bins, joint = int(stripes), int(bins), bool(joint)

    skip = None if skip_colour is None else np.asarray(skip_colour, np.uint8).reshape(3)

    def frame_features(frames: np.ndarray) -> np.ndarray:
        region = colour.crop_region(frames, rx, ry)
        # pixels of exactly the skipped colour (the background fill of data.background=suppress) are not counted
        weights = None if skip is None else (region != skip).any(-1).astype(np.float64)
        return colour.stripe_histograms(region, spaces, stripes, bins, joint, weights)
    block = bins ** 3 if joint else 3 * bins
    return ClassicalFeatureModel("colour_hist", frame_features, stripes * len(spaces) * block, pooling, metric,
                                 hellinger, {"pca_dim": pca_dim, "xqda_lambda": xqda_lambda})


@register_model(takes_input_size=True, kind="classical")
def lomo(num_classes: int = 0, input_size=None, retinex: bool = True, pooling: str = "mean", metric: str = "none",
         pca_dim: int = 100, xqda_lambda: float = 1e-3, region_x=(0.0, 1.0), region_y=(0.0, 1.0)):
    """Liao et al., Person Re-identification by Local Maximal Occurrence Representation and Metric Learning,
    CVPR 2015 (LOMO; metric: xqda for LOMO + XQDA). region_x / region_y: the part of the frame described, as for
    colour_hist (a scale is used while the region is at least 10 x 10 pixels at it)."""
    H, W = _size(input_size)
    rx, ry, h, w = _region(region_x, region_y, H, W)
    dim = lomo_mod.lomo_dim(h, w)
    if dim == 0:
        raise ConfigError(f"LOMO needs a region of at least {lomo_mod.BLOCK} x {lomo_mod.BLOCK} pixels, got {h} x {w}"
                          f" (frames {H} x {W}, region_x {list(rx)}, region_y {list(ry)})")

    def frame_features(frames: np.ndarray) -> np.ndarray:
        return lomo_mod.lomo(colour.crop_region(frames, rx, ry), use_retinex=bool(retinex))
    return ClassicalFeatureModel("lomo", frame_features, dim, pooling, metric, False,
                                 {"pca_dim": pca_dim, "xqda_lambda": xqda_lambda})


def is_classical(model_or_name) -> bool:
    """Whether a model (module, or registered name) is a classical feature rather than a network."""
    if isinstance(model_or_name, str):
        from ..registry import model_kind
        return model_kind(model_or_name) == "classical"
    return bool(getattr(getattr(model_or_name, "module", model_or_name), "classical", False))
