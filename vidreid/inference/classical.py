"""Classical features (vidreid.models.classical) as checkpoints: what `vidreid eval --config <classical>.yaml` runs.

A classical feature has no network weights, but its learned metric (XQDA / KISSME) is fitted on the dataset's train
split and must be the same for every command that compares features (eval, its feature cache, index build,
search). So it is stored as an ordinary vidreid checkpoint: the model's buffers (the data config's normalisation,
which the model inverts to get pixels back, and the metric's mean and projection, empty for metric none) plus the
usual metadata. Everything downstream treats it exactly like a trained network's checkpoint.

The file is <train.output_dir>/checkpoints/<model>-<metric>-<key>.safetensors, key = a hash of what decides its
contents (model settings, input size, normalisation, test sampling, the train split's tracklets, the classical
code); it is written once, atomically, and reused when present (same key = same contents).
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from .. import __version__
from ..config import Config
from ..data.types import VideoReIDDataset


def _key(cfg: Config, dataset: VideoReIDDataset, sampling: str) -> str:
    from .feature_cache import code_hash
    d = cfg.data
    train = [(t.frames[0] if t.frames else "", t.frames[-1] if t.frames else "", len(t.frames), t.pid, t.camid)
             for t in dataset.train]
    key = {"model": cfg.to_dict()["model"], "size": [d.height, d.width], "mean": list(d.mean), "std": list(d.std),
           "sampling": sampling, "seq_len": d.test_seq_len or d.seq_len, "dataset": dataset.name,
           "root": os.path.abspath(d.root or ""), "train": train, "code": code_hash(cfg.model.name),
           "vidreid": __version__}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


def fit_metric(model, features: np.ndarray, pids: np.ndarray) -> dict:
    """Fit `model.metric` (xqda | kissme) on pooled training features (N, raw_dim) and install it; -> a summary."""
    from ..models.classical.metric import fit_kissme, fit_xqda
    opts = model.metric_options
    if model.metric == "xqda":
        mean, proj, vals = fit_xqda(features, pids, lam=float(opts.get("xqda_lambda", 1e-3)))
    else:
        mean, proj, vals = fit_kissme(features, pids, pca_dim=int(opts.get("pca_dim", 100)))
    model.set_metric(mean.astype(np.float32), proj.astype(np.float32))
    return {"metric": model.metric, "train_tracklets": int(len(features)), "identities": int(len(np.unique(pids))),
            "dim": int(proj.shape[1]), "eigenvalues": [float(v) for v in vals[:5]]}


def build_classical(cfg: Config, train: list | None = None, device="cpu", progress: bool = True):
    """-> (the classical model of `cfg`, fit summary or None): its metric (if any) fitted on the `train` tracklets
    with the test-time sampling, so that training and test features are pooled alike."""
    import torch

    from ..builders import build_for_dataset
    from ..errors import ConfigError
    from .extract import extract_features, finite_rows, resolve_sampling
    model = build_for_dataset(cfg, 1, pretrained=False)
    model.pixel_mean = torch.tensor(list(cfg.data.mean), dtype=torch.float32)
    model.pixel_std = torch.tensor(list(cfg.data.std), dtype=torch.float32)
    if model.metric == "none":
        return model.eval(), None
    if not train:
        raise ConfigError(f"model.kwargs.metric={model.metric} is fitted on labelled training tracklets; none given")
    feats = extract_features(model, train, cfg, resolve_sampling(cfg), device, f"fit {model.metric}", progress)
    keep = finite_rows(feats, train, "train")
    pids = np.array([train[i].pid for i in keep])
    return model.eval(), fit_metric(model, feats[keep], pids)


def classical_config(name: str, size: tuple[int, int] = (128, 64), sampling: str = "all", seq_len: int = 8,
                     workers: int = 0, batch_size: int = 16, **kwargs) -> Config:
    """The Config of classical feature `name` (colour_hist, lomo) with model options `kwargs` (e.g. metric="xqda",
    spaces=["hsv", "lab"]), frames read at `size` = (H, W), tracklets pooled over `sampling` clips."""
    cfg = Config()
    cfg.model.name, cfg.model.backbone, cfg.model.kwargs = name, None, dict(kwargs)
    cfg.data.height, cfg.data.width = int(size[0]), int(size[1])
    cfg.data.test_sampling, cfg.data.test_seq_len = sampling, int(seq_len)
    cfg.data.workers, cfg.data.test_batch_size = int(workers), int(batch_size)
    return cfg


def classical_features(name: str, tracklets: list, train: list | None = None, *, device="cpu",
                       progress: bool = False, size: tuple[int, int] = (128, 64), sampling: str = "all",
                       seq_len: int = 8, workers: int = 0, **kwargs) -> np.ndarray:
    """The Python API: (len(tracklets), D) float32 features of classical feature `name` for a list of Tracklets
    (rows of tracklets without a readable frame are NaN), its metric (kwargs metric="xqda" | "kissme") fitted on the
    labelled `train` tracklets. Compare with Euclidean distance: vidreid.eval.distance(qf, gf, "euclidean").

        f = classical_features("colour_hist", tracks, spaces=["hsv"], stripes=6, bins=16)   # Hellinger by default
        f = classical_features("lomo", tracks, train=train_tracks, metric="xqda", sampling="rrs")
    """
    from .extract import extract_features
    cfg = classical_config(name, size, sampling, seq_len, workers, **kwargs)
    model, _ = build_classical(cfg, train, device, progress)
    return extract_features(model, tracklets, cfg, sampling, device, name, progress)


def classical_checkpoint(cfg: Config, dataset: VideoReIDDataset, device="cpu", progress: bool = True,
                         log=print) -> str:
    """Path of the checkpoint of `cfg`'s classical model on `dataset` (fitted and written on first use)."""
    from ..store.checkpoint import save_checkpoint
    from ..store.run_folder import checkpoints_folder
    from .extract import resolve_sampling
    sampling = resolve_sampling(cfg)
    m = cfg.model
    metric = (m.kwargs or {}).get("metric", "none")
    folder = checkpoints_folder(cfg.train.output_dir or os.path.join("runs", m.name))
    path = os.path.join(folder, f"{m.name}-{metric}-{_key(cfg, dataset, sampling)}.safetensors")
    if os.path.isfile(path):
        log(f"vidreid: {m.name} (metric {metric}) fitted earlier on the same data: {path}")
        return path
    model, summary = build_classical(cfg, dataset.train, device, progress)
    os.makedirs(folder, exist_ok=True)
    save_checkpoint(path, model, {"model": m.name, "num_classes": max(dataset.num_train_pids, 1),
                                  "config": cfg.to_dict(), "epoch": 0, "dataset": dataset.name,
                                  "classical": summary or {"metric": "none"}})
    log(f"vidreid: {m.name} (metric {metric}" + (f", {summary['dim']} dimensions fitted on "
                                                 f"{summary['train_tracklets']} train tracklets" if summary else "")
        + f"): {path}")
    return path
