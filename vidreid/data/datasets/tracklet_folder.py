"""Unlabeled tracklets cut from your own videos, with pseudo-identities from tracking (data/pseudo_labels.py):
the training set of `vidreid adapt`.

    root = the output folder of `vidreid tracklets` (tracklets.json lists every tracklet: camera, track, frame
           numbers), or a folder of tracklet folders ROOT/<camera>/<tracklet>/<frames> (video frame numbers read
           from file names f<number>.jpg as `vidreid tracklets` writes them -- other names give no frame numbers,
           hence no known negatives; tracklets named like `vidreid tracklets` names them, t0007-2, are the
           pieces of track 7, any other name is a track of its own).

train = every tracklet, pid = its pseudo-identity (one per camera and track), camid = its camera; query and
gallery are empty (nobody labelled anything). meta["frames"] holds each train tracklet's frame numbers (for the
known negatives: tracks of one camera seen in the same frame), meta["names"] its name.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

from ...errors import DatasetError
from ..pseudo_labels import frame_numbers, pseudo_labels, track_number
from ..types import Tracklet, VideoReIDDataset
from .folders import list_dir, list_subdirs
from .names import natural_order
from .registry import register_dataset

SIDECAR = "tracklets.json"          # = tracking.pipeline.SIDECAR (data/ may not import tracking/)
CROPS = "tracklets"                 # = tracking.pipeline.CROPS
IMAGE = re.compile(r".*\.(jpe?g|png|bmp)\Z", re.IGNORECASE)


def _from_sidecar(root: str, path: str) -> tuple[list[str], list[int], list[int], list[list[str]], list[np.ndarray]]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        entries = doc["tracklets"]
        cams = {v["camera"]: i for i, v in enumerate(doc.get("videos", []))}
        names, camids, tracks, files, frames = [], [], [], [], []
        for e in entries:                                           # loop over tracklets
            cam = cams.setdefault(e["camera"], int(e.get("camid", len(cams))))
            nums = np.asarray(e["frames"], np.int64)
            names.append(e["name"])
            camids.append(cam)
            tracks.append(int(e["track"]))
            files.append([os.path.join(root, CROPS, e["name"], f"f{n:06d}.jpg") for n in nums.tolist()])
            frames.append(nums)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{path}: not a readable `vidreid tracklets` sidecar ({type(e).__name__}: {e})") from None
    return names, camids, tracks, files, frames


def _from_folders(root: str) -> tuple[list[str], list[int], list[int], list[list[str]], list[np.ndarray]]:
    names, camids, tracks, files, frames = [], [], [], [], []
    for camid, cam in enumerate(sorted(list_subdirs(root, what="camera folder"))):
        cam_dir = os.path.join(root, cam)
        folders = sorted(list_subdirs(cam_dir, what="camera folder"))
        own = iter(range(10 ** 9, 2 * 10 ** 9))                      # track ids of names not made by vidreid
        for name in folders:                                         # loop over tracklets
            images = [n for n in list_dir(os.path.join(cam_dir, name)) if IMAGE.match(n)]
            if not images:
                continue
            images = [images[i] for i in natural_order(images)]
            track = track_number(name)
            names.append(f"{cam}/{name}")
            camids.append(camid)
            tracks.append(track if track is not None else next(own))
            files.append([os.path.join(cam_dir, name, n) for n in images])
            frames.append(frame_numbers(images))
    return names, camids, tracks, files, frames


@register_dataset("tracklets")
def tracklet_folder(root: str, protocol: str = "") -> VideoReIDDataset:
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise DatasetError(f"{root}: no such tracklets folder (expected a `vidreid tracklets` output or "
                           f"<camera>/<tracklet>/<frames> folders)")
    sidecar = os.path.join(root, SIDECAR)
    if os.path.isfile(sidecar):
        names, camids, tracks, files, frames = _from_sidecar(root, sidecar)
    else:
        base = os.path.join(root, CROPS) if os.path.isdir(os.path.join(root, CROPS)) else root
        names, camids, tracks, files, frames = _from_folders(base)
    if not names:
        raise DatasetError(f"{root}: no tracklets found (expected a `vidreid tracklets` output or "
                           f"<camera>/<tracklet>/<frames> folders)")
    labels, class_camera = pseudo_labels(camids, tracks)
    train = [Tracklet(tuple(f), int(p), int(c)) for f, p, c in zip(files, labels.tolist(), camids)]
    return VideoReIDDataset("tracklets", root, train, [], [], protocol or "gao",
                            meta={"frames": frames, "names": names, "class_camera": class_camera})
