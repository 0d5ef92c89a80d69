"""Dataset registry: `load_dataset(name, root, **options)`."""
from __future__ import annotations

from typing import Callable

from ...errors import DatasetError
from ..types import VideoReIDDataset

_DATASETS: dict[str, Callable[..., VideoReIDDataset]] = {}


def register_dataset(name: str):
    def deco(fn):
        _DATASETS[name] = fn
        return fn
    return deco


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def load_dataset(name: str, root: str, **options) -> VideoReIDDataset:
    if name not in _DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(list_datasets())}")
    return _DATASETS[name](root, **options)


from . import mars  # noqa: E402,F401  (registers mars, synthped)
from . import dukev, ilidsvid, lsvid, manifest, prid2011  # noqa: E402,F401
