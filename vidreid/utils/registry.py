"""The one registry mechanism of vidreid: models, backbones and datasets are each a `Registry` of small builder
functions (timm-style), and what other modules need to know about a builder is given where it is registered, as its
attributes (a model's kind, the frame multiple its export needs, whether search indexes centre its features; a
dataset's split option), instead of in side tables elsewhere."""
from __future__ import annotations

from typing import Callable

from ..errors import ConfigError, VidReIDError


class Registry(dict):
    """name -> builder function. `register(name=None, **attributes)` is the decorator (name: the function's own by
    default); the attributes are set on the builder and read with `attribute(name, key, default)`."""

    def __init__(self, what: str, error: type[VidReIDError] = ConfigError):
        super().__init__()
        self.what, self.error = what, error                            # "model", "dataset" ...; the unknown-name error

    def register(self, name: str | None = None, **attributes) -> Callable[[Callable], Callable]:
        def deco(fn: Callable) -> Callable:
            for key, value in attributes.items():
                setattr(fn, key, value)
            self[name or fn.__name__] = fn
            return fn
        return deco

    def copy(self) -> "Registry":
        """A registry of the same builders (a test adds to it without touching this one)."""
        other = Registry(self.what, self.error)
        other.update(self)
        return other

    def names(self) -> list[str]:
        return sorted(self)

    def builder(self, name: str) -> Callable:
        """The builder of `name`; the registry's error naming the known names otherwise."""
        if name not in self:
            raise self.error(f"unknown {self.what} {name!r}; expected one of {', '.join(self.names())}")
        return self[name]

    def attribute(self, name: str, key: str, default=None):
        """An attribute given at registration; `default` for a name or an attribute not registered."""
        return getattr(self.get(name), key, default)
