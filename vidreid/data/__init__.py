from .types import Tracklet, VideoReIDDataset
from .datasets import load_dataset, register_dataset, list_datasets

__all__ = ["Tracklet", "VideoReIDDataset", "load_dataset", "register_dataset", "list_datasets"]
