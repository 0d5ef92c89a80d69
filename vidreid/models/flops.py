"""Parameter and FLOP counts of a model's eval forward, with torch.utils.flop_counter.FlopCounterMode.

FlopCounterMode counts FLOPs = 2 x MACs of the matrix-product and convolution aten ops (convolution, mm, addmm, bmm,
baddbmm, attention kernels); element-wise ops, normalisation and pooling are not counted (they are < 1% of a ResNet).
The total is split into
  * conv:      aten.convolution (Conv1d/2d/3d, including the non-local blocks' 1x1x1 projections);
  * linear:    matrix products run inside weight layers (nn.Linear, nn.LSTM/GRU/RNN);
  * attention: every other matrix product -- the products between activations, e.g. theta^T phi and attention @ g
               of a non-local block (NVAN's "attention products"), or STA/DRSTA weighted sums done with matmul.
conv + linear is what papers that "count the conv and fc layers" report (e.g. STE-NVAN's Table of GMACs).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

_CONV_OPS = {"aten.convolution", "aten._convolution", "aten.convolution_backward"}
_WEIGHT_LAYERS = (nn.Linear, nn.RNNBase, nn.Bilinear)


def _op_name(op) -> str:
    return str(getattr(op, "_qualified_op_name", op)).replace("::", ".")


def count_forward(module: nn.Module, *inputs) -> dict[str, int]:
    """FLOPs of module(*inputs) under no_grad, split by kind: {"total", "conv", "linear", "attention"}."""
    with torch.no_grad(), FlopCounterMode(display=False, depth=None) as counter:
        module(*inputs)
    counts = counter.get_flop_counts()                  # {"Global" | "<RootClass>.<module path>": {op: flops}}
    total = sum(counts.get("Global", {}).values())
    conv = sum(n for op, n in counts.get("Global", {}).items() if _op_name(op) in _CONV_OPS)
    linear = 0
    root = type(module).__name__
    for name, sub in module.named_modules():
        if isinstance(sub, _WEIGHT_LAYERS):
            key = f"{root}.{name}" if name else root
            linear += sum(n for op, n in counts.get(key, {}).items() if _op_name(op) not in _CONV_OPS)
    return {"total": total, "conv": conv, "linear": linear, "attention": total - conv - linear}


def count_flops(model: nn.Module, frames: int = 8, size: tuple[int, int] = (256, 128), batch: int = 1,
                device: str | torch.device | None = None) -> dict:
    """Count one eval forward of `batch` clips of `frames` frames of `size` = (H, W).

    Returns per-clip numbers (divided by batch): params, gflops (total), gflops_conv, gflops_linear,
    gflops_conv_linear, gflops_attention, their per-frame versions (..._per_frame = per clip / frames), gmacs_* = half
    of the gflops_*, and the settings. The model is put in eval mode for the count and restored afterwards. The input
    is zeros on `device` (default: the model's device; "meta" counts shapes only, without computing anything).
    """
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    H, W = size
    x = torch.zeros(batch, frames, 3, H, W, device=device)
    was_training = model.training
    model.eval()
    try:
        c = count_forward(model, x)
    finally:
        model.train(was_training)
    per_clip = {
        "gflops": c["total"] / batch / 1e9,
        "gflops_conv": c["conv"] / batch / 1e9,
        "gflops_linear": c["linear"] / batch / 1e9,
        "gflops_conv_linear": (c["conv"] + c["linear"]) / batch / 1e9,
        "gflops_attention": c["attention"] / batch / 1e9,
    }
    out = {"frames": frames, "size": [H, W], "batch": batch, "params": sum(p.numel() for p in model.parameters()),
           **per_clip}
    out.update({f"{k}_per_frame": v / frames for k, v in per_clip.items()})
    out.update({k.replace("gflops", "gmacs"): v / 2 for k, v in per_clip.items()})
    return out


def build_for_count(name: str, num_classes: int = 625, size: tuple[int, int] = (256, 128),
                    device: str | torch.device = "cpu", **kwargs) -> nn.Module:
    """build_model(name, ...) on `device`; input_size=size reaches the models whose layers are sized by the
    feature map (registered with takes_input_size=True, e.g. ta and rru_stim)."""
    from .meta import on_device
    from .registry import build_model

    with on_device(device):
        return build_model(name, num_classes, input_size=tuple(size), **kwargs)


def count_model(name: str, frames: int = 8, size: tuple[int, int] = (256, 128), batch: int = 1,
                num_classes: int = 625, device: str = "auto", **kwargs) -> dict:
    """Build registered model `name` (kwargs: backbone, last_stride, model options) and count it.

    device "auto" counts on the meta device (shapes only: instant, no memory) and falls back to the CPU for a model
    whose forward needs real values; "cpu"/"cuda"/"meta" force one.
    """
    from ..errors import VidReIDError
    from ..utils.system import resolve_device

    tries = ["meta", "cpu"] if device == "auto" else [str(resolve_device(device))]   # an unknown name: one line
    for i, dev in enumerate(tries):
        model = build_for_count(name, num_classes, size, dev, **kwargs)
        try:
            result = count_flops(model, frames, size, batch, device=dev)
        except VidReIDError:  # a user error (e.g. a clip length the model refuses) fails the same way on any device
            raise
        except Exception:     # meta tensors have no values (e.g. .item(), data-dependent shapes): count on the CPU
            if i + 1 < len(tries):
                continue
            raise
        return {"model": name, "device": dev, **result}
    raise AssertionError("unreachable")
