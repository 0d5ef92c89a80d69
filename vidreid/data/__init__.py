from .types import Tracklet, VideoReIDDataset
from .datasets import load_dataset, register_dataset, list_datasets
from .clips import load_clips

__all__ = ["Tracklet", "VideoReIDDataset", "load_dataset", "register_dataset", "list_datasets", "load_clips"]
