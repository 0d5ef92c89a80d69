"""Dataset registry: loaders register with `@register_dataset("name")`; `load_dataset(name, root, **options)`.

The dataset modules import this module (not the package): the package's __init__ imports them to register them."""
from __future__ import annotations

import inspect
from typing import Callable

from ...errors import ConfigError, DatasetError
from ...utils.registry import Registry
from ..types import VideoReIDDataset

_DATASETS = Registry("dataset", DatasetError)


def register_dataset(name: str, multi_split: bool = False, check: Callable | None = None):
    """Decorator registering a loader `fn(root, **options)` as `name`. multi_split: the dataset has numbered train/test
    splits (iLIDS-VID, PRID2011), chosen with the `split` option (data.split, `data check --split`). check: the
    loader in collecting mode for `vidreid data check`, `check(root, issues, **options)` -> the dataset or None,
    every problem recorded in `issues`; without one, data check records the loader's first error."""
    return _DATASETS.register(name, multi_split=multi_split, check=check)


def dataset_checker(name: str) -> Callable | None:
    """The collecting-mode loader registered for `name` (register_dataset's check), None if it has none."""
    return _DATASETS.attribute(name, "check", None)


def list_datasets() -> list[str]:
    return _DATASETS.names()


def is_multi_split(name: str) -> bool:
    """Does dataset `name` have numbered splits (its `split` option; register_dataset's multi_split)?"""
    return bool(_DATASETS.attribute(name, "multi_split", False))


def dataset_loader(name: str) -> Callable[..., VideoReIDDataset]:
    """The registered loader function of `name` (`loader(root, **options)`)."""
    return _DATASETS.builder(name)


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
