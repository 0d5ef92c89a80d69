"""A fused checkpoint: a trained network + a classical feature + the fusion weight and scales (models/fused.py).

`fused_checkpoint(network_checkpoint, classical_config, weight, dataset)`:
  1. the identities of the dataset's train split are split (seeded) into a fitting part (70 %) and a validation part
     (30 %);
  2. the classical feature's metric (xqda / kissme, if any) is fitted on the fitting part;
  3. both features are computed on the validation tracklets (the network's test-time input size, normalisation and
     sampling; the classical feature sees the same clips); the scales are the median distances between
     validation tracklets of each L2-normalised feature; with weight "auto" the weight is the best of
     0, 0.05, ..., 1 by mAP with every validation tracklet as a query (mars rules; ties within 0.1 mAP point go to
     the weight closest to 0.5);
  4. the fused model is written as an ordinary checkpoint next to the network's, named by a hash of everything above,
     so eval, index build and search use it like any checkpoint (the index records its hash and path).
Caveat: the network was trained on the whole train split, validation identities included, so on them it looks
better than on unseen people, and the chosen weight leans towards the network; one that ranks them perfectly on
its own ties every small weight, which the tie rule resolves towards an equal share.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os

import numpy as np

from ..config import Config, ModelConfig, config_from_dict, load_config
from ..data.types import VideoReIDDataset
from ..errors import CheckpointError, ConfigError
from ..eval.distance_fusion import TIE_MAP

VALIDATION_FRACTION = 0.3


def split_identities(tracklets: list, fraction: float = VALIDATION_FRACTION, seed: int = 0) -> tuple[list, list]:
    """(fit, validation) tracklets: a seeded `fraction` of the identities (pid >= 0) held out, at least 2."""
    pids = np.array(sorted({t.pid for t in tracklets if t.pid >= 0}))
    if len(pids) < 4:
        raise ConfigError(f"fusion needs a train split of 4 or more identities to hold some out, got {len(pids)}; "
                          f"on footage without one, pass a fused checkpoint made on SynthPed as --checkpoint (`make "
                          f"demo` writes runs/demo/checkpoints/recommended.safetensors)")
    n_val = max(2, int(round(fraction * len(pids))))
    val = set(np.random.default_rng(seed).permutation(pids)[:n_val].tolist())
    return [t for t in tracklets if t.pid not in val], [t for t in tracklets if t.pid in val]


def fused_config(network_cfg: Config, classical_model: ModelConfig) -> Config:
    """The fused model's config: the network's (data, input size, sampling) with model = fused(network, classical)."""
    cfg = copy.deepcopy(network_cfg)
    net = network_cfg.model
    cfg.model = ModelConfig(name="fused", backbone=net.backbone, last_stride=net.last_stride, pretrained=None,
                            kwargs={"network": net.name, "network_kwargs": dict(net.kwargs),
                                    "classical": classical_model.name,
                                    "classical_kwargs": dict(classical_model.kwargs)})
    return cfg


def fused_checkpoint(network_checkpoint: str, classical_config: str, weight: str | float, dataset: VideoReIDDataset,
                     device="cpu", progress: bool = True, classical_overrides: list[str] | None = None,
                     log=print) -> str:
    """Path of the fused checkpoint (written on first use; module docstring)."""
    import torch

    from ..builders import build_for_dataset
    from ..store.checkpoint import Checkpoint, load_weights, save_checkpoint
    from ..eval.distance_fusion import choose_weight, l2_rows, median_pair_distance
    from ..models.classical import is_classical
    from .classical import fit_metric
    from .extract import extract_features, finite_rows, resolve_sampling

    network = Checkpoint.open(network_checkpoint)
    meta = network.meta
    if "config" not in meta:
        raise CheckpointError(f"{network_checkpoint}: checkpoint metadata lacks its config (not written by vidreid)")
    net_cfg = config_from_dict(meta["config"])
    if net_cfg.model.name == "fused" or is_classical(net_cfg.model.name):
        raise ConfigError(f"{network_checkpoint} holds {net_cfg.model.name!r}; --fuse combines a network checkpoint "
                          f"with a classical feature")
    cls_model = load_config(classical_config, classical_overrides).model
    if not is_classical(cls_model.name):
        raise ConfigError(f"--fuse {classical_config}: model {cls_model.name!r} is not a classical feature "
                          f"(colour_hist, lomo)")
    if weight != "auto":
        try:
            weight = float(weight)
        except ValueError:
            raise ConfigError(f"--fuse-weight must be 'auto' or a number in [0, 1], got {weight!r}") from None
        if not 0 <= weight <= 1:
            raise ConfigError(f"--fuse-weight must be in [0, 1], got {weight}")
    cfg = fused_config(net_cfg, cls_model)
    sampling = resolve_sampling(cfg)
    fit, val = split_identities(dataset.train, seed=cfg.train.seed)
    key = {"network": network.hash, "classical": cls_model.name, "kwargs": cls_model.kwargs,
           "weight": weight if weight != "auto" else f"auto, ties within {TIE_MAP} -> nearest 0.5",
           "sampling": sampling, "dataset": dataset.name, "root": os.path.abspath(cfg.data.root or ""),
           "train": [(t.frames[0] if t.frames else "", len(t.frames), t.pid, t.camid) for t in dataset.train]}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    path = os.path.join(os.path.dirname(os.path.abspath(network_checkpoint)),
                        f"fused-{cls_model.name}-{cls_model.kwargs.get('metric', 'none')}-{digest}.safetensors")
    if os.path.isfile(path):
        log(f"vidreid: fusion with {cls_model.name} made earlier with the same settings: {path}")
        return path

    model = build_for_dataset(cfg, meta["num_classes"], pretrained=False)
    load_weights(model.network, network.state, network_checkpoint)
    model.classical.pixel_mean = torch.tensor(list(cfg.data.mean), dtype=torch.float32)
    model.classical.pixel_std = torch.tensor(list(cfg.data.std), dtype=torch.float32)
    model = model.to(device).eval()
    summary = None
    if model.classical.metric != "none":
        feats = extract_features(model.classical, fit, cfg, sampling, device, f"fit {model.classical.metric}",
                                 progress)
        keep = finite_rows(feats, fit, "train")
        summary = fit_metric(model.classical, feats[keep], np.array([fit[i].pid for i in keep]))
    # both parts on the validation tracklets, in one pass: w = 1/2, unit scales -> [n(f_net), n(f_cls)] / sqrt(2)
    model.set_fusion(0.5, 1.0, 1.0)
    both = extract_features(model, val, cfg, sampling, device, "fusion validation", progress)
    keep = finite_rows(both, val, "validation")
    both = both[keep] * np.sqrt(2.0)
    d_net = int(model.network.feat_dim)
    f_net, f_cls = both[:, :d_net], both[:, d_net:]
    pids = np.array([val[i].pid for i in keep])
    cams = np.array([val[i].camid for i in keep])
    if weight == "auto":
        chosen = choose_weight(f_net, f_cls, pids, cams)
    else:
        chosen = {"weight": weight, "scale_net": median_pair_distance(l2_rows(f_net)),
                  "scale_cls": median_pair_distance(l2_rows(f_cls)), "table": []}
    model.set_fusion(chosen["weight"], chosen["scale_net"], chosen["scale_cls"])
    fusion = {**chosen, "chosen_on": dataset.name,     # an adapted network was trained elsewhere: say where
              "network_checkpoint": os.path.abspath(network_checkpoint), "classical_config": classical_config,
              "classical_fit": summary, "validation": {"tracklets": int(len(keep)), "identities": int(len(set(pids)))},
              "fit_tracklets": len(fit)}
    save_checkpoint(path, model, {"model": "fused", "num_classes": meta["num_classes"], "config": cfg.to_dict(),
                                  "epoch": meta.get("epoch"), "dataset": meta.get("dataset", dataset.name),
                                  "fusion": fusion})
    table = "  ".join(f"{w:.2f}:{m * 100:.1f}" for w, m, _ in chosen["table"])
    log(f"vidreid: fused {net_cfg.model.name} + {cls_model.name}: weight {chosen['weight']:.2f}"
        + (" (auto: best validation mAP of " + table + ")" if table else "")
        + f", scales {chosen['scale_net']:.4f} / {chosen['scale_cls']:.4f} (median validation distances): {path}")
    return path
