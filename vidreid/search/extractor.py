"""One feature per tracklet from a trained checkpoint, the way `vidreid eval` computes it, for search.

A tracklet's feature is the mean of its clip features (clips from the checkpoint's test-time sampling, `dense` by
default: every frame, in clips of T), L2-normalised, so that the inner product of two features is their cosine
similarity. Gallery tracklets given as frame files go through the evaluation loader (`extract_features`, decoding in
worker processes); a probe (frame files, a decoded video, an array) is embedded in this process with the same frame
decoding (`read_clip`), sampling and test transform, so a gallery tracklet used as a probe finds itself at distance 0
(up to float rounding). Pixels not decoded from files here (video frames, arrays, `--box` crops) are first reduced as
the JPEG decoder reduces files (`vidreid.search.probe.reduce_like_decoder`), so they meet the same resize.

The model is loaded, its features' identity (`model_hash`) computed and its sampling chosen by the inference layer
(vidreid.inference), exactly as for `vidreid eval`; indexes store the hash and refuse features from any other model.
"""
from __future__ import annotations

import copy
import os
from typing import Sequence

import numpy as np
import torch

from ..config import config_from_dict
from ..data.types import Tracklet
from ..errors import ConfigError, DatasetError
from ..store.identity import model_hash

def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


class FeatureExtractor:
    """`FeatureExtractor(checkpoint)(frames) -> (D,) float32`, the L2-normalised feature of one tracklet.

    frames: a folder of frames, a video file, a list of frame files, or a uint8 RGB array (L, H, W, 3) / list of
    (H, W, 3) arrays. `sampling` / `seq_len` default to the checkpoint's test settings (eval.sampling or
    data.test_sampling; data.test_seq_len or data.seq_len); `workers` (loader processes for galleries) to its
    data.workers. `normalize=False` returns the raw mean of the clip features.
    """

    def __init__(self, checkpoint: str, device: str | torch.device = "cpu", sampling: str | None = None,
                 seq_len: int | None = None, batch_size: int | None = None, workers: int | None = None,
                 normalize: bool = True):
        from ..data.sampling import check_mode
        from ..data.transforms import ClipTransform
        from ..inference.extract import resolve_sampling, sampling_plan
        from ..inference.model import build_model_from_checkpoint
        from ..utils.system import resolve_device
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
        if workers is not None and workers < 0:
            raise ConfigError(f"--workers must be >= 0 (0: frames loaded in this process), got {workers}")
        self.checkpoint = os.path.abspath(os.fspath(checkpoint))      # indexes record it for later searches
        self.device = resolve_device(str(device))
        self.model, self.meta = build_model_from_checkpoint(self.checkpoint, device=self.device)
        self.cfg = config_from_dict(self.meta["config"])
        d = self.cfg.data
        self.seq_len = int(seq_len or d.test_seq_len or d.seq_len)
        check_mode(resolve_sampling(self.cfg, sampling), train=False)
        if self.seq_len <= 0:
            raise ConfigError(f"test clip length must be positive, got {self.seq_len}")
        self.sampling, _ = sampling_plan(self.model, self.cfg, sampling)      # the policy extract_features uses
        self.batch_size = int(batch_size or d.test_batch_size)
        self.workers = d.workers if workers is None else int(workers)
        self.normalize = normalize
        self.input_size = (int(d.height), int(d.width))
        self.transform = ClipTransform.from_config(d, train=False)
        self.model_name = self.cfg.model.name
        self.feat_dim = int(getattr(self.model, "feat_dim", 0)) or None
        self._hash: str | None = None

    @property
    def model_hash(self) -> str:
        if self._hash is None:
            self._hash = model_hash(self.model, self.cfg)
        return self._hash

    def describe(self) -> dict:
        """What the index records about the model and the extraction settings."""
        m = self.cfg.model
        return {"hash": self.model_hash, "name": m.name, "backbone": m.backbone, "checkpoint": self.checkpoint,
                "input_size": list(self.input_size), "feat_dim": self.feat_dim,
                "epoch": self.meta.get("epoch"), "vidreid_version": self.meta.get("vidreid_version"),
                **({"fusion": {k: self.meta["fusion"].get(k) for k in ("weight", "scale_net", "scale_cls",
                                                                      "network_checkpoint", "classical_config")}}
                   if isinstance(self.meta.get("fusion"), dict) else {})}

    def extraction(self) -> dict:
        return {"sampling": self.sampling, "seq_len": self.seq_len, "normalize": self.normalize}

    # ------------------------------------------------------------------ one tracklet
    def __call__(self, frames, box: Sequence[int] | None = None) -> np.ndarray:
        """(D,) float32 feature of one tracklet (see the class docstring for what `frames` may be)."""
        from .probe import load_probe
        return self.embed_probe(load_probe(frames, box=box, size=self.input_size))

    def embed_probe(self, probe) -> np.ndarray:
        """(D,) feature of a `vidreid.search.probe.Probe`."""
        if probe.frames is not None:
            if probe.reduced_for == self.input_size:                   # reduced when decoded: not twice
                return self._embed_frames(_as_frame_array(probe.frames))
            return self.embed_array(probe.frames)
        return self.embed_paths(probe.frame_paths)

    def clip_indices(self, length: int) -> np.ndarray:
        """(num_clips, T) frame indices of the test clips of a tracklet of `length` frames."""
        from ..data.sampling import sample_clip
        return sample_clip(length, self.seq_len, self.sampling, train=False)

    def embed_paths(self, paths: Sequence[str]) -> np.ndarray:
        """(D,) feature of a tracklet given as frame files (each distinct sampled frame decoded once)."""
        from ..data.decode import read_clip
        if len(paths) == 0:
            raise DatasetError("a probe needs at least one frame, got none")
        if self.sampling == "all":
            return self._embed_stream(read_clip(list(paths), np.arange(len(paths)), self.input_size,
                                                self.cfg.data.strict))
        idx = self.clip_indices(len(paths))                             # (num_clips, T)
        used, inverse = np.unique(idx, return_inverse=True)
        frames = read_clip(list(paths), used, self.input_size, self.cfg.data.strict)  # (U, h, w, 3)
        return self._embed_clips(frames, inverse.reshape(idx.shape))

    def embed_array(self, frames) -> np.ndarray:
        """(D,) feature of a tracklet given as decoded uint8 RGB frames (L, H, W, 3) (or a list of (H, W, 3)),
        resized as frame files of these pixels are in `vidreid eval` (see `vidreid.search.probe`)."""
        return self._embed_frames(_as_frame_array(frames, self.input_size))

    def _embed_frames(self, frames: np.ndarray) -> np.ndarray:
        """(D,) feature of frames (L, h, w, 3) uint8 as read_clip returns them (the transform resizes to the input)."""
        if self.sampling == "all":
            return self._embed_stream(frames)
        return self._embed_clips(frames, self.clip_indices(len(frames)))

    def _autocast(self):
        """The precision extract_features uses for the gallery (train.amp on CUDA, fp32 on CPU)."""
        from ..inference.extract import resolve_amp
        from ..utils.system import amp_dtype
        dtype = amp_dtype(resolve_amp(self.cfg, self.device))
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    def _finish(self, feat: torch.Tensor) -> np.ndarray:
        feat = feat.float().cpu().numpy().astype(np.float32)
        return l2_normalize(feat) if self.normalize else feat

    @torch.inference_mode()
    def _embed_clips(self, frames: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """frames (U, h, w, 3) uint8, idx (num_clips, T) rows of `frames` -> (D,) mean clip feature."""
        self.model.eval()
        total, count = None, 0
        with self._autocast():
            for start in range(0, len(idx), self.batch_size):          # loop over batches of clips
                chunk = idx[start:start + self.batch_size]             # (N, T)
                x = self.transform(frames[chunk.reshape(-1)])          # (N*T, 3, H, W)
                x = x.view(*chunk.shape, *x.shape[1:]).to(self.device)  # (N, T, 3, H, W)
                f = self.model(x).embedding.float().sum(0)             # (D,)
                total = f if total is None else total + f
                count += len(chunk)
        return self._finish(total / count)

    @torch.inference_mode()
    def _embed_stream(self, frames: np.ndarray) -> np.ndarray:
        """`all` sampling: the whole tracklet as one clip, streamed through the model `chunk` frames at a time
        (exact; memory bounded by the chunk), as extract_features does for the gallery."""
        from ..inference.extract import default_chunk
        from ..models.streaming import frame_multiple, stream_clip
        self.model.eval()
        m = frame_multiple(self.model)
        chunk = -(-default_chunk(self.cfg) // m) * m
        pieces = (self.transform(frames[a:a + chunk])[None].to(self.device) for a in range(0, len(frames), chunk))
        with self._autocast():
            return self._finish(stream_clip(self.model, pieces, chunk)[0])

    # ------------------------------------------------------------------ many tracklets
    def embed_tracklets(self, tracklets: list[Tracklet], progress: bool = False, desc: str = "gallery",
                        ) -> np.ndarray:
        """(N, D) features of tracklets given as frame files, through the evaluation loader (`workers` processes)."""
        from ..inference.extract import extract_features
        if not tracklets:
            return np.zeros((0, self.feat_dim or 0), np.float32)
        cfg = copy.deepcopy(self.cfg)
        cfg.data.workers = self.workers
        cfg.data.test_seq_len = self.seq_len
        cfg.data.test_batch_size = self.batch_size
        feats = extract_features(self.model, tracklets, cfg, self.sampling, self.device, desc, progress)
        return l2_normalize(feats) if self.normalize else feats

    # ------------------------------------------------------------------ explanations
    @torch.no_grad()
    def attention(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """The model's attention on `frames` (L, H, W, 3) uint8 taken as ONE clip of L frames: name -> array with
        the batch axis removed (STA: "S" (L, K), "g" (L, h, w)). {} when the model has none or cannot run on a
        clip of L frames (e.g. STE-NVAN needs L % 4 == 0)."""
        frames = _as_frame_array(frames, self.input_size)
        x = self.transform(frames)[None].to(self.device)               # (1, L, 3, H, W)
        try:
            attention = self.model(x, return_attention=True).attention
        except (ConfigError, ValueError, RuntimeError):
            return {}
        return {k: v[0].float().cpu().numpy() for k, v in attention.items()}


def _as_frame_array(frames, size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 (L, h, w, 3) from an array or a list of (H, W, 3) arrays; with `size` (the model input), frames are
    first brought to what decoding files of them for that input gives (`vidreid.search.probe.decode_like_files`)."""
    from .probe import _check_frames, decode_like_files
    if not (isinstance(frames, np.ndarray) and frames.ndim == 4):
        frames = [np.asarray(f) for f in frames]
    _check_frames(frames)
    arr = decode_like_files(frames, size) if size is not None else np.stack(frames) if isinstance(frames, list) \
        else frames
    return np.ascontiguousarray(arr)
