"""timm-style model registry: small builder functions, one uniform model interface (base.py).

Every model is a `VideoReIDModel` mapping a clip batch `(B, T, 3, H, W)` to a `ModelOutput` in training and in
eval: `.embedding` (B, D) is the test feature, `.attention` is filled in eval when `return_attention=True`.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError
from .base import ModelOutput  # noqa: F401  (re-exported: vidreid.models.ModelOutput)

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module] | None = None, *, takes_input_size: bool = False):
    """Decorator; `takes_input_size=True` marks models whose layers depend on the frame size (they then
    receive `input_size=(H, W)` from `build_model`)."""
    def deco(f):
        f.takes_input_size = takes_input_size
        _MODELS[f.__name__] = f
        return f
    return deco(fn) if fn is not None else deco


def list_models() -> list[str]:
    return sorted(_MODELS)


def build_model(name: str, num_classes: int, input_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    """Build a registered model. `input_size=(H, W)` is passed on only to models whose layers depend on it;
    kwargs set to None (e.g. last_stride) are dropped so the model's own default applies."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; expected one of {', '.join(list_models())}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if input_size is not None and _MODELS[name].takes_input_size:
        kwargs["input_size"] = tuple(input_size)
    try:
        return _MODELS[name](num_classes=num_classes, **kwargs)
    except TypeError as e:  # unknown keyword -> say which model and what it takes
        raise ConfigError(f"model {name!r}: {e}") from None
