"""torch.distributed helpers: torchrun environment, rank-aware gathering.

vidreid uses PyTorch's own launcher (`torchrun --nproc_per_node N -m vidreid train ...`); these helpers only
read its environment and wrap the collectives the trainer and the extractor need.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def init_from_env(device_type: str | None = None) -> tuple[int, int, int]:
    """-> (rank, world_size, local_rank); initialises the default process group when launched by torchrun: NCCL
    for a CUDA run, gloo for a CPU one (`device_type`, default: CUDA when present) -- `train.device=cpu` on a GPU
    machine must not get NCCL, which cannot reduce CPU tensors."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if device_type is None:
            device_type = "cuda" if torch.cuda.is_available() else "cpu"
        backend = "nccl" if device_type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


def is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward hands each rank the summed gradient of its own slice (all_reduce + slice:
    gloo has no reduce_scatter)."""

    @staticmethod
    def forward(ctx, x):
        ctx.n = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        r = dist.get_rank()
        return grad[r * ctx.n:(r + 1) * ctx.n]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate (B, ...) tensors of all ranks in rank order; gradients flow back to their owners.

    With DDP averaging gradients over W ranks, each rank computing a batch-level loss on the gathered tensor gives
    exactly the gradient of the single-process loss on the global batch (the W from the summed backward cancels
    the 1/W of the average)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def all_gather_objects(obj) -> list:
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    """Rank `src`'s `obj` on every rank (picklable objects; a no-op without a process group)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def any_over_ranks(flag: bool) -> bool:
    """True on every rank if `flag` is true on any rank (one scalar all-reduce: cheap enough for every step)."""
    return max_over_ranks(1 if flag else 0) > 0


def max_over_ranks(value: int) -> int:
    """The largest of the ranks' small non-negative integers (e.g. a signal number), on every rank."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return int(value)
    t = torch.tensor([float(value)])
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Average scalar logs over ranks (each rank's CE is over its own share of the batch)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return dict(zip(keys, (t / dist.get_world_size()).tolist()))


class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum over ranks: y = sum_r x_r on every rank, so dL/dx_r = sum_r' dL_r'/dy (another
    all-reduce). torch.distributed.nn.functional.all_reduce does the same but is deprecated (FutureWarning)."""

    @staticmethod
    def forward(ctx, x):
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def all_reduce_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Sum of `x` over ranks, with gradients flowing back to every rank's `x`."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    return _AllReduceSum.apply(x)


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm with statistics over the whole distributed batch, for CPU/gloo process groups, where PyTorch's
    nn.SyncBatchNorm refuses to run (it is GPU-only). Sums and sums of squares are all-reduced with autograd
    (all_reduce_with_grad), so gradients also flow through the global statistics. The statistics are accumulated
    in float32 whatever the input dtype: a bf16 sum over a channel's N*H*W values keeps only ~3 digits, and bf16
    counts above 256 are not even exact."""

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x):
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        C = x.shape[1]
        dims = [0, *range(2, x.dim())]
        x32 = x.float()
        count = torch.tensor([x.numel() / C], dtype=torch.float32, device=x.device)
        stats = all_reduce_with_grad(torch.cat([x32.sum(dims), (x32 * x32).sum(dims), count]))   # (2C + 1,)
        n = stats[-1]
        mean = stats[:C] / n
        var = (stats[C:2 * C] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
                self.num_batches_tracked.add_(1)
        shape = (1, C) + (1,) * (x.dim() - 2)
        y = (x32 - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)                                    # same dtype as the input, like nn.BatchNorm


def convert_sync_batchnorm(module: nn.Module, device_type: str) -> nn.Module:
    """PyTorch's SyncBatchNorm on GPUs; CPUSyncBatchNorm (same parameters and buffers) on CPUs."""
    if device_type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CPUSyncBatchNorm):
        out = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        out.load_state_dict(module.state_dict())
        if module.affine:
            out.weight.requires_grad_(module.weight.requires_grad)
            out.bias.requires_grad_(module.bias.requires_grad)
    for name, child in module.named_children():
        out.add_module(name, convert_sync_batchnorm(child, device_type))
    return out
