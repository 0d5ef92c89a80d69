"""The dataset loaders; importing this package registers them all (see registry.py)."""
from .registry import (check_options, dataset_loader, dataset_options, is_multi_split, list_datasets, load_dataset,
                       register_dataset)
from . import mars  # noqa: F401  (registers mars, synthped)
from . import dukev, ilidsvid, lsvid, manifest, prid2011, tracklet_folder, vtest  # noqa: F401

__all__ = ["check_options", "dataset_loader", "dataset_options", "is_multi_split", "list_datasets", "load_dataset",
           "register_dataset"]
