"""Optional JPEG decoding on the GPU: torchvision's batched nvJPEG (`torchvision.io.decode_jpeg(device="cuda")`).

Used only where torchvision is importable and CUDA is available (`cuda_jpeg_decoder()` returns None otherwise, and
vidreid never depends on torchvision). Today it serves benchmarks/data_speed.py as a decode floor: the loaders decode
on the CPU in their workers (libjpeg-turbo at reduced scale), which keeps the batches a function of (seed, epoch)
on any machine. Not tested on a GPU by this project's CPU-only test suite: only the fallback (None) is.
"""
from __future__ import annotations

from typing import Callable, Sequence


def cuda_jpeg_decoder(device: str = "cuda") -> Callable[[Sequence[bytes]], list] | None:
    """A function decoding a list of JPEG files' bytes into RGB uint8 (3, H, W) CUDA tensors in one batched nvJPEG
    call, or None when torchvision or CUDA is missing."""
    try:
        import torch
        if not torch.cuda.is_available():
            return None
        from torchvision.io import ImageReadMode, decode_jpeg
    except (ImportError, RuntimeError, OSError):  # no torchvision, or one built against another torch
        return None

    def decode(datas: Sequence[bytes]) -> list:
        tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
        return decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device)

    return decode
