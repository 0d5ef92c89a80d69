"""Dataset registry: loaders register with `@register_dataset("name")`; `load_dataset(name, root, **options)`.

The dataset modules import this module (not the package): the package's __init__ imports them to register them."""
from __future__ import annotations

import inspect
from typing import Callable

from ...errors import ConfigError, DatasetError
from ..types import VideoReIDDataset

_DATASETS: dict[str, Callable[..., VideoReIDDataset]] = {}


def register_dataset(name: str):
    def deco(fn):
        _DATASETS[name] = fn
        return fn
    return deco


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def dataset_loader(name: str) -> Callable[..., VideoReIDDataset]:
    """The registered loader function of `name` (`loader(root, **options)`)."""
    if name not in _DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(list_datasets())}")
    return _DATASETS[name]


def dataset_options(name: str) -> list[str]:
    """The options the loader of `name` accepts (its keyword parameters after `root`)."""
    params = inspect.signature(dataset_loader(name)).parameters.values()
    return [p.name for p in params if p.name != "root"
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def check_options(name: str, options: dict) -> None:
    """Raise ConfigError (naming the dataset, the unknown options and the accepted ones) for options the loader of
    `name` does not take, rather than the bare TypeError of calling it with them; DatasetError for an unknown name."""
    accepted = dataset_options(name)
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise ConfigError(f"dataset {name!r} has no option {', '.join(map(repr, unknown))} (given in data.options or "
                          f"-o KEY=VALUE); accepted options: {', '.join(accepted)}")


def load_dataset(name: str, root: str, **options) -> VideoReIDDataset:
    check_options(name, options)
    return _DATASETS[name](root, **options)
