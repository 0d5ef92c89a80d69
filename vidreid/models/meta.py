"""Building a model on the meta device: shapes only, no memory, no values. vidreid does it to check a config before
any data is read (`builders.check_model_config`), to estimate a checkpoint's size (`validate.py`), to list which
backbones a method runs on (`listing.py`) and to count FLOPs (`flops.py`). SkipRandomInit(everywhere=True) also
builds a network whose every weight a checkpoint replaces next (`inference/model.py`)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.overrides import TorchFunctionMode


class SkipRandomInit(TorchFunctionMode):
    """Leaves a meta tensor as it is where an initialiser would fill it with random numbers. A meta tensor has no
    values to fill, and its `normal_`/`uniform_` run as Python decompositions whose first call imports torch._dynamo
    (seconds), then milliseconds a tensor. Tensors on other devices are filled as usual, unless `everywhere`: for a
    model whose every weight a strict load replaces next (their values are then whatever the memory held)."""
    # the tensor methods, and the nn.init functions that hand themselves to a mode before calling them (with the
    # tensor as the keyword `tensor`)
    RANDOM_FILLS = {torch.Tensor.normal_, torch.Tensor.uniform_, nn.init.normal_, nn.init.uniform_,
                    nn.init.kaiming_uniform_}

    def __init__(self, everywhere: bool = False):
        super().__init__()
        self.everywhere = everywhere

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.RANDOM_FILLS:
            tensor = args[0] if args else kwargs["tensor"]
            if self.everywhere or tensor.is_meta:
                return tensor
        return func(*args, **kwargs)


@contextlib.contextmanager
def on_device(device: str | torch.device = "meta") -> Iterator[None]:
    """Modules built inside are created on `device`; on the meta device without random initialisation."""
    with torch.device(device), SkipRandomInit():
        yield
