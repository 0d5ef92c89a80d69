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
from ..utils.registry import Registry
from .base import ModelOutput  # noqa: F401  (re-exported: vidreid.models.ModelOutput)

_MODELS = Registry("model")


def register_model(fn: Callable[..., nn.Module] | None = None, *, takes_input_size: bool = False,
                   forwards_to: type | None = None, builder_sets: tuple[str, ...] = (), kind: str = "network",
                   frame_multiple: int = 1, static_frames: str | None = None, centre_by_default: bool = False):
    """Decorator; `takes_input_size=True` marks models whose layers depend on the frame size (they then
    receive `input_size=(H, W)` from `build_model`); `forwards_to` is the class the builder's `**kwargs` go to,
    `builder_sets` the keywords the builder passes itself (not options); `kind`: "network" (what `vidreid train`
    trains), "classical" (hand-made features, vidreid.models.classical: no backbone, nothing to train) or "fusion"
    (a network and a classical feature combined, models/fused.py). For export and search: `frame_multiple`, the
    clip lengths the model takes are multiples of it (vidreid/export.py); `static_frames`, why its ONNX graph has a
    fixed clip length (None: dynamic); `centre_by_default`, search indexes centre its features by default
    (`index build --center auto`; measured with benchmarks/centring.py, docs/search.md "Readable scores")."""
    deco = _MODELS.register(takes_input_size=takes_input_size, kind=kind, forwards_to=forwards_to,
                            builder_sets=tuple(builder_sets), frame_multiple=frame_multiple,
                            static_frames=static_frames, centre_by_default=centre_by_default)
    return deco(fn) if fn is not None else deco


def model_attribute(name: str, key: str, default=None):
    """What `register_model` recorded about model `name` (e.g. "frame_multiple"); `default` for an unknown name."""
    return _MODELS.attribute(name, key, default)


def list_models(classical: bool = False) -> list[str]:
    """The registered networks (what `vidreid train` trains); with classical=True also the classical features and
    the fusion of a network with one."""
    return sorted(n for n, f in _MODELS.items() if classical or f.kind == "network")


def model_kind(name: str) -> str:
    """"network", "classical" or "fusion" (see register_model); "network" for a name not registered."""
    return model_attribute(name, "kind", "network")


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


def _option_defaults(name: str) -> dict:
    """{option: its default} of builder `name` and of the class it forwards its **kwargs to (the class's own
    defaults win: they are what an option left out becomes)."""
    builder = _MODELS[name]
    out = {}
    for fn in (builder, getattr(builder, "forwards_to", None)):
        if fn is not None:
            out.update({p.name: p.default for p in inspect.signature(fn).parameters.values()
                        if p.default is not inspect.Parameter.empty})
    return out


def _type_mismatch(value, default) -> str | None:
    """The type an option's value should have, judged by its default (bool, int, float, str), when `value` has
    another one; None when it fits or the default says nothing (None, a tuple ...)."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if _is_int(value) and not isinstance(value, bool) else "an integer"
    if isinstance(default, float):
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    return None


def _is_int(value) -> bool:
    import operator
    try:
        operator.index(value)                     # int, numpy integers
        return True
    except TypeError:
        return False


def build_model(name: str, num_classes: int, input_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    """Build a registered model. `input_size=(H, W)` is passed on only to models whose layers depend on it;
    kwargs set to None (e.g. last_stride) are dropped so the model's own default applies. An option the model does
    not take is a ConfigError naming it and the accepted ones."""
    if name not in _MODELS:   # the names listed include the classical features and fusion
        raise ConfigError(f"unknown model {name!r}; expected one of {', '.join(list_models(classical=True))}")
    if model_kind(name) == "network" and (isinstance(num_classes, bool) or not _is_int(num_classes)
                                          or num_classes < 1):
        raise ConfigError(f"model {name!r}: num_classes must be an integer >= 1 (the training identities), got "
                          f"{num_classes!r}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if input_size is not None and _MODELS[name].takes_input_size:
        kwargs["input_size"] = tuple(input_size)
    accepted = model_options(name)
    unknown = sorted(set(kwargs) - accepted) if accepted is not None else []
    if unknown:
        raise ConfigError(f"model {name!r} does not take {', '.join(unknown)} (model.kwargs); it takes: "
                          f"{', '.join(sorted(accepted))}")
    defaults = _option_defaults(name)
    for key, value in kwargs.items():
        expected = _type_mismatch(value, defaults.get(key))
        if expected:
            raise ConfigError(f"model {name!r}: option {key} must be {expected} (default {defaults[key]!r}), got "
                              f"{value!r}")
        size = key.startswith("num_") or key.endswith("_dim")     # sizes of layers / counts of parts or blocks
        if size and _is_int(value) and not isinstance(value, bool) and value < 1:
            raise ConfigError(f"model {name!r}: option {key} is a size and must be >= 1, got {value!r}")
        if key.endswith("_weight") and isinstance(value, (int, float)) and not value >= 0:
            raise ConfigError(f"model {name!r}: option {key} must be >= 0, got {value!r}")
    try:
        return _MODELS[name](num_classes=num_classes, **kwargs)
    except (ValueError, RuntimeError, IndexError) as e:  # a value its layers cannot take (a TypeError is a bug: raised)
        options = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "input_size") or "its defaults"
        raise ConfigError(f"model {name!r} cannot be built with {options} (model.kwargs): "
                          f"{(str(e).splitlines() or [type(e).__name__])[0]}") from e
