"""Dataset registry: `load_dataset(name, root, **options)`."""
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


def dataset_options(name: str) -> list[str]:
    """The options the loader of `name` accepts (its keyword parameters after `root`)."""
    params = inspect.signature(_DATASETS[name]).parameters.values()
    return [p.name for p in params if p.name != "root"
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def check_options(name: str, options: dict) -> None:
    """Raise ConfigError (naming the dataset, the unknown options and the accepted ones) for options the loader of
    `name` does not take, rather than the bare TypeError of calling it with them."""
    if name not in _DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(list_datasets())}")
    accepted = dataset_options(name)
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise ConfigError(f"dataset {name!r} has no option {', '.join(map(repr, unknown))} (given in data.options or "
                          f"-o KEY=VALUE); accepted options: {', '.join(accepted)}")


def load_dataset(name: str, root: str, **options) -> VideoReIDDataset:
    check_options(name, options)
    return _DATASETS[name](root, **options)


from . import mars  # noqa: E402,F401  (registers mars, synthped)
from . import dukev, ilidsvid, lsvid, manifest, prid2011  # noqa: E402,F401
