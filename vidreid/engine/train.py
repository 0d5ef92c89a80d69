"""The training loop: any registered model, any dataset, losses weighted by the config.

The engine never looks inside a model: it applies cross-entropy to `out.logits`, batch-hard triplet to every
entry of `out.features`, and adds every `out.regularizers` term with its configured weight.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import time

import numpy as np
import torch
import yaml
from torch import nn
from tqdm import tqdm

from ..config import Config
from ..data.types import VideoReIDDataset
from ..errors import ConfigError
from ..losses import batch_hard_triplet, cross_entropy
from ..models import ModelOutput, build_model
from .checkpoint import atomic_write_text, save_checkpoint
from .evaluate import evaluate_model, format_results
from .extract import resolve_device

log = logging.getLogger("vidreid")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare_dataset(cfg: Config, progress: bool = True) -> VideoReIDDataset:
    """Load the configured dataset; SynthPed is generated (once, cached by its options) if needed."""
    from ..data import load_dataset
    d = cfg.data
    if d.dataset == "synthped":
        from ..data.synthped import ensure_synthped
        ensure_synthped(d.root, progress=progress, **d.synth)
    options = {"protocol": d.protocol}
    if d.dataset in ("ilidsvid", "prid2011"):
        options["split"] = d.split
    return load_dataset(d.dataset, d.root, **options)


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    o = cfg.optim
    params = [p for p in model.parameters() if p.requires_grad]
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=True)
    raise ConfigError(f"optim.name must be adam, adamw or sgd, got {o.name!r}")


def lr_factor(epoch: int, cfg: Config) -> float:
    """Multiplier of the base lr at `epoch` (0-based): linear warm-up, then step or cosine decay."""
    o = cfg.optim
    if epoch < o.warmup_epochs:
        return o.warmup_factor + (1 - o.warmup_factor) * epoch / o.warmup_epochs
    if o.scheduler == "step":
        return o.gamma ** (epoch // o.step_size)
    if o.scheduler == "cosine":
        span = max(1, cfg.train.epochs - o.warmup_epochs)
        return 0.5 * (1 + math.cos(math.pi * (epoch - o.warmup_epochs) / span))
    if o.scheduler == "none":
        return 1.0
    raise ConfigError(f"optim.scheduler must be step, cosine or none, got {o.scheduler!r}")


def compute_loss(out: ModelOutput, pids: torch.Tensor, cfg: Config, model: nn.Module) -> tuple[torch.Tensor, dict]:
    """Total loss and its named terms (floats, for logging)."""
    l = cfg.loss
    terms: dict[str, torch.Tensor] = {}
    logits = out.logits if isinstance(out.logits, (list, tuple)) else [out.logits]
    if l.ce_weight:
        terms["ce"] = l.ce_weight * sum(cross_entropy(z, pids, l.label_smoothing) for z in logits) / len(logits)
    if l.triplet_weight:
        for name, f in out.features.items():
            terms[f"tri_{name}"] = l.triplet_weight * batch_hard_triplet(f, pids, l.triplet_margin,
                                                                         l.triplet_distance)
    defaults = getattr(model, "default_reg_weights", {})
    for name, value in out.regularizers.items():
        w = l.reg_weights.get(name, defaults.get(name, 1.0))
        if w:
            terms[name] = w * value
    total = sum(terms.values())
    return total, {k: float(v.detach()) for k, v in terms.items()}


def setup_logging(run_dir: str) -> None:
    os.makedirs(run_dir, exist_ok=True)
    log.setLevel(logging.INFO)
    for h in list(log.handlers):
        log.removeHandler(h)
    fh = logging.FileHandler(os.path.join(run_dir, "train.log"))
    fh.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(fh)

    class TqdmHandler(logging.Handler):  # print above progress bars instead of breaking them
        def emit(self, record):
            tqdm.write(self.format(record))
    log.addHandler(TqdmHandler())


def build_for_dataset(cfg: Config, num_classes: int, pretrained: bool = True) -> nn.Module:
    """The configured model for `num_classes` identities and the configured frame size."""
    m = cfg.model
    return build_model(m.name, num_classes=num_classes, input_size=(cfg.data.height, cfg.data.width),
                       backbone=m.backbone, last_stride=m.last_stride,
                       pretrained=m.pretrained if pretrained else None, **m.kwargs)


def train(cfg: Config, progress: bool = True) -> dict:
    """Train, evaluate every `train.eval_every` epochs and at the end; returns the final metrics."""
    run_dir = cfg.train.output_dir
    setup_logging(run_dir)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    atomic_write_text(os.path.join(run_dir, "config.yaml"), yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    device = resolve_device(cfg.train.device)

    dataset = prepare_dataset(cfg, progress)
    log.info(dataset.summary())
    from ..data.loader import build_train_loader
    loader = build_train_loader(dataset, cfg.data, seed=cfg.train.seed)
    model = build_for_dataset(cfg, dataset.num_train_pids).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log.info(f"model {cfg.model.name} ({cfg.model.backbone}): "
             f"{n_params / 1e6:.2f} M parameters, {dataset.num_train_pids} classes, device {device}")
    optimizer = build_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, cfg))
    amp_dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.amp, "bad")
    if amp_dtype == "bad":
        raise ConfigError(f"train.amp must be off, bf16 or fp16, got {cfg.train.amp!r}")
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype is torch.float16)

    iters = cfg.train.iters_per_epoch or len(loader)
    meta = {"model": cfg.model.name, "num_classes": dataset.num_train_pids, "config": cfg.to_dict(),
            "dataset": dataset.name}
    history, evals, best, final = [], [], -1.0, None
    t_start = time.time()
    for epoch in range(cfg.train.epochs):
        model.train()
        if hasattr(loader.batch_sampler, "set_epoch"):
            loader.batch_sampler.set_epoch(epoch)
        elif hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        sums: dict[str, float] = {}
        seen, t_epoch = 0, time.time()
        bar = tqdm(total=iters, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", unit="it", leave=False,
                   disable=not progress, dynamic_ncols=True)
        it = 0
        while it < iters:
            for clips, pids, _ in loader:                           # clips: (B, T, 3, H, W)
                clips, pids = clips.to(device, non_blocking=True), pids.to(device)
                with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    out = model(clips)
                loss, terms = compute_loss(out, pids, cfg, model)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss {terms} at epoch {epoch + 1}, iteration {it + 1}")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v
                sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
                seen += len(pids)
                it += 1
                rate = seen / (time.time() - t_epoch)
                bar.set_postfix(loss=f"{float(loss):.3f}", lr=f"{optimizer.param_groups[0]['lr']:.1e}",
                                clips_s=f"{rate:.1f}")
                bar.update()
                if it >= iters:
                    break
        bar.close()
        scheduler.step()
        epoch_stats = {"epoch": epoch + 1, **{k: v / iters for k, v in sums.items()},
                       "lr": optimizer.param_groups[0]["lr"], "clips_per_s": seen / (time.time() - t_epoch),
                       "elapsed_s": time.time() - t_start}
        history.append(epoch_stats)
        log.info(f"epoch {epoch + 1}/{cfg.train.epochs} " + " ".join(
            f"{k}={v:.4f}" for k, v in epoch_stats.items() if k not in ("epoch", "elapsed_s", "lr"))
            + f" lr={epoch_stats['lr']:.2e} elapsed={epoch_stats['elapsed_s']:.0f}s")
        ckpt_dir = os.path.join(run_dir, "checkpoints")
        save_checkpoint(os.path.join(ckpt_dir, "last.safetensors"), model, {**meta, "epoch": epoch + 1})
        last = epoch + 1 == cfg.train.epochs
        if last or (cfg.train.eval_every and (epoch + 1) % cfg.train.eval_every == 0):
            res = evaluate_model(model, dataset, cfg, device, progress)
            log.info(format_results(res, title=f"evaluation after epoch {epoch + 1}"))
            final = {k: v for k, v in res.items() if k != "distmat"}
            evals.append({"epoch": epoch + 1, "mAP": res["mAP"], "R1": float(res["cmc"][0])})
            if res["mAP"] > best:
                best = res["mAP"]
                save_checkpoint(os.path.join(ckpt_dir, "best.safetensors"), model,
                                {**meta, "epoch": epoch + 1, "mAP": res["mAP"]})
        write_metrics(run_dir, cfg, history, evals, final, time.time() - t_start)
    return {**(final or {}), "train_seconds": time.time() - t_start, "history": history, "model": model,
            "dataset": dataset}


def jsonable(obj):
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def write_metrics(run_dir: str, cfg: Config, history: list, evals: list, final: dict | None, seconds: float):
    doc = {"config": cfg.to_dict(), "train_seconds": seconds, "history": history, "evals": evals, "final": final}
    atomic_write_text(os.path.join(run_dir, "metrics.json"), json.dumps(jsonable(doc), indent=1))
