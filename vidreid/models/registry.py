"""timm-style model registry: small builder functions, one uniform model interface (base.py).

Every model is a `VideoReIDModel` mapping a clip batch `(B, T, 3, H, W)` to a `ModelOutput` in training and in
eval: `.embedding` (B, D) is the test feature, `.attention` is filled in eval when `return_attention=True`.

`build_model` checks the options against what the builder accepts before calling it, so a misspelt `model.kwargs`
key is a ConfigError naming it and the accepted ones, while a TypeError raised inside a constructor stays the bug it
is. A builder that passes `**kwargs` on to a class says so (`register_model(forwards_to=Cls)`); its options are
then the class's keyword parameters, less those the builder sets itself (`builder_sets`).
"""
from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

from ..errors import ConfigError
from .base import ModelOutput  # noqa: F401  (re-exported: vidreid.models.ModelOutput)

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module] | None = None, *, takes_input_size: bool = False,
                   forwards_to: type | None = None, builder_sets: tuple[str, ...] = (), kind: str = "network"):
    """Decorator; `takes_input_size=True` marks models whose layers depend on the frame size (they then
    receive `input_size=(H, W)` from `build_model`); `forwards_to` is the class the builder's `**kwargs` go to,
    `builder_sets` the keywords the builder passes itself (not options); `kind`: "network" (what `vidreid train`
    trains), "classical" (hand-made features, vidreid.models.classical: no backbone, nothing to train) or "fusion"
    (a network and a classical feature combined, models/fusion.py)."""
    def deco(f):
        f.takes_input_size = takes_input_size
        f.kind = kind
        f.forwards_to = forwards_to
        f.builder_sets = tuple(builder_sets)
        _MODELS[f.__name__] = f
        return f
    return deco(fn) if fn is not None else deco


def list_models(classical: bool = False) -> list[str]:
    """The registered networks (what `vidreid train` trains); with classical=True also the classical features and
    the fusion of a network with one."""
    return sorted(n for n, f in _MODELS.items() if classical or f.kind == "network")


def model_kind(name: str) -> str:
    """"network", "classical" or "fusion" (see register_model); "network" for a name not registered."""
    return getattr(_MODELS.get(name), "kind", "network")


def _keywords(fn: Callable) -> tuple[set[str], bool]:
    """(names of fn's keyword-passable parameters, whether it also takes **kwargs)."""
    params = inspect.signature(fn).parameters.values()
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def model_options(name: str) -> set[str] | None:
    """The keyword options builder `name` accepts (besides num_classes); None = any (a **kwargs builder that does
    not say where they go, or a class that takes **kwargs itself)."""
    builder = _MODELS[name]
    names, open_ended = _keywords(builder)
    if open_ended:
        target = getattr(builder, "forwards_to", None)
        if target is None:
            return None
        target_names, target_open = _keywords(target)         # a class: its __init__, without self
        if target_open:
            return None
        names |= target_names - set(builder.builder_sets)
    return names - {"num_classes"}


def build_model(name: str, num_classes: int, input_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    """Build a registered model. `input_size=(H, W)` is passed on only to models whose layers depend on it;
    kwargs set to None (e.g. last_stride) are dropped so the model's own default applies. An option the model does
    not take is a ConfigError naming it and the accepted ones."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; expected one of {', '.join(list_models(classical=True))}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if input_size is not None and _MODELS[name].takes_input_size:
        kwargs["input_size"] = tuple(input_size)
    accepted = model_options(name)
    unknown = sorted(set(kwargs) - accepted) if accepted is not None else []
    if unknown:
        raise ConfigError(f"model {name!r} does not take {', '.join(unknown)} (model.kwargs); it takes: "
                          f"{', '.join(sorted(accepted))}")
    return _MODELS[name](num_classes=num_classes, **kwargs)
