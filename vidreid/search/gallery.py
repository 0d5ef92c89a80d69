"""Where gallery tracklets come from: a folder of tracklet folders, a manifest, or a registered dataset.

Every source gives a `GallerySource`: the tracklets (frame files), and for each a display name, a camera label and a
person id (-1 when unknown). Cameras are labels (strings) so that any naming works; `--exclude-same-camera` compares
labels.

Folder of tracklet folders: every folder under the root that directly holds image files is one tracklet (frames in
natural order). Its path relative to the root (with "/") is matched by `pattern`, a regular expression searched in
that path, with named groups:
    camera    the camera label (required for --exclude-same-camera)
    tracklet  the tracklet name shown in results (default: the relative path)
    pid       an integer person id (optional; shown, and used to colour nothing but your own checks)
The default pattern, DEFAULT_PATTERN, reads ROOT/<camera>/<tracklet>/frames; a tracklet folder directly under the
root then has no camera (""). A folder a user-given pattern does not match is an error naming it.

Manifest (`vidreid.data.datasets.manifest`): `load_dataset("manifest", path)`; camera label "cam{camid + 1}"
(camid is 0-based), name = the tracklet's folder relative to the manifest's folder.
Registered dataset (`--dataset NAME --root R`): its gallery split by default; names are the first frame's path
relative to the root, camera labels "cam{camid + 1}".
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..data.types import Tracklet, VideoReIDDataset
from ..errors import DatasetError, VidReIDError
from .probe import IMAGE_EXTENSIONS

DEFAULT_PATTERN = r"(?:^|/)(?P<camera>[^/]+)/(?P<tracklet>[^/]+)$"
SPLITS = ("gallery", "query", "train", "all")


@dataclass
class GallerySource:
    tracklets: list[Tracklet]        # frame files of every tracklet
    names: list[str]                 # display name of each tracklet
    cameras: list[str]               # camera label of each tracklet ("" = unknown)
    pids: list[int]                  # person id (-1 = unknown)
    paths: list[str]                 # where the tracklet lives (its folder, or its first frame)
    description: str = ""            # what was read, for messages
    pattern: str | None = None       # the user's folder pattern (None = DEFAULT_PATTERN), kept by the index
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tracklets)

    def subset(self, idx) -> "GallerySource":
        idx = list(idx)
        return GallerySource([self.tracklets[i] for i in idx], [self.names[i] for i in idx],
                             [self.cameras[i] for i in idx], [self.pids[i] for i in idx],
                             [self.paths[i] for i in idx], self.description, self.pattern, self.extra)


def compile_pattern(pattern: str | None) -> re.Pattern:
    try:
        rx = re.compile(pattern or DEFAULT_PATTERN)
    except re.error as e:
        raise VidReIDError(f"--pattern {pattern!r} is not a valid regular expression ({e})") from None
    unknown = set(rx.groupindex) - {"camera", "tracklet", "pid"}
    if unknown:
        raise VidReIDError(f"--pattern {pattern!r}: unknown named group(s) {', '.join(sorted(unknown))}; "
                           f"use (?P<camera>...), (?P<tracklet>...), (?P<pid>...)")
    return rx


def parse_path(rx: re.Pattern, rel: str) -> dict | None:
    """Match a relative tracklet path -> {"camera", "tracklet", "pid"} (missing groups None), or None."""
    m = rx.search(rel.replace(os.sep, "/"))
    if m is None:
        return None
    g = m.groupdict()
    pid = g.get("pid")
    try:
        pid = int(pid) if pid is not None else None
    except ValueError:
        pid = None
    return {"camera": g.get("camera"), "tracklet": g.get("tracklet"), "pid": pid}


def camera_of_path(path: str, pattern: str | None) -> str | None:
    """The camera label `pattern` reads from a probe path (its last two components are tried as a tracklet folder
    path), or None."""
    rx = compile_pattern(pattern)
    parts = os.path.abspath(path).replace(os.sep, "/").split("/")
    for n in range(min(len(parts), 4), 0, -1):                        # "a/b/c/d", "b/c/d", ... shortest last
        found = parse_path(rx, "/".join(parts[-n:]))
        if found and found["camera"]:
            return found["camera"]
    return None


def from_folder(root: str, pattern: str | None = None) -> GallerySource:
    """Every folder under `root` holding image files is one tracklet (see the module docstring)."""
    from ..data.datasets.names import natural_order
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise DatasetError(f"gallery folder not found: {root}")
    rx = compile_pattern(pattern)
    folders, frame_lists = [], []
    for folder, dirs, files in os.walk(root):                         # loop over folders
        dirs.sort()
        names = [f for f in files if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")]
        if names:
            arr = np.array(sorted(names))
            folders.append(folder)
            frame_lists.append(tuple(os.path.join(folder, n) for n in arr[natural_order(arr)].tolist()))
    if not folders:
        raise DatasetError(f"{root}: no tracklet folders (expected ROOT/<camera>/<tracklet>/<frames>.jpg or "
                           f"ROOT/<tracklet>/<frames>.jpg, frames {', '.join(IMAGE_EXTENSIONS)})")
    rels = [os.path.relpath(f, root).replace(os.sep, "/") for f in folders]
    if rels == ["."]:
        raise DatasetError(f"{root} holds frames itself: a gallery is a folder of tracklet folders (one folder of "
                           f"frames per tracklet); pass it as --probe to search with it instead")
    parsed = [parse_path(rx, r) if r != "." else None for r in rels]
    unmatched = [r for r, p in zip(rels, parsed) if p is None]
    if unmatched and pattern:
        raise DatasetError(f"{root}: {len(unmatched)} tracklet folder(s) do not match --pattern {pattern!r}, e.g. "
                           + ", ".join(repr(u) for u in unmatched[:3]))
    cameras = [(p["camera"] or "") if p else "" for p in parsed]
    names = [(p["tracklet"] if p and p["tracklet"] and pattern else r) for r, p in zip(rels, parsed)]
    pids = [(p["pid"] if p and p["pid"] is not None else -1) for p in parsed]
    labels = sorted(set(cameras))
    camid = {c: i for i, c in enumerate(labels)}
    tracklets = [Tracklet(fr, pid, camid[c]) for fr, pid, c in zip(frame_lists, pids, cameras)]
    return GallerySource(tracklets, names, cameras, pids, folders, f"folder {root}", pattern)


def _names_relative(tracklets: list[Tracklet], base: str) -> tuple[list[str], list[str]]:
    """(names, paths): each tracklet's folder relative to `base`; tracklets sharing a folder are told apart by
    their first frame."""
    folders = [os.path.dirname(t.frames[0]) for t in tracklets]
    counts: dict[str, int] = {}
    for f in folders:
        counts[f] = counts.get(f, 0) + 1
    names, paths = [], []
    for t, f in zip(tracklets, folders):
        if counts[f] == 1:
            names.append(os.path.relpath(f, base).replace(os.sep, "/"))
            paths.append(f)
        else:
            names.append(os.path.splitext(os.path.relpath(t.frames[0], base))[0].replace(os.sep, "/"))
            paths.append(t.frames[0])
    return names, paths


def from_dataset(dataset: VideoReIDDataset, split: str = "gallery", base: str | None = None,
                 description: str = "") -> GallerySource:
    """The `split` tracklets (gallery | query | train | all) of a loaded dataset."""
    if split not in SPLITS:
        raise VidReIDError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    train_pids = dataset.meta.get("train_pids")
    def original(ts, is_train):
        if is_train and train_pids is not None:
            return [Tracklet(t.frames, int(train_pids[t.pid]), t.camid) for t in ts]
        return list(ts)
    if split == "all":
        seen, tracklets = set(), []
        for ts, is_train in ((dataset.train, True), (dataset.query, False), (dataset.gallery, False)):
            for t in original(ts, is_train):                         # loop over tracklets (dedupe query in gallery)
                if t.frames[0] not in seen:
                    seen.add(t.frames[0])
                    tracklets.append(t)
    else:
        tracklets = original(getattr(dataset, split), split == "train")
    if not tracklets:
        raise DatasetError(f"{description or dataset.name}: the {split} split holds no tracklet")
    base = base or dataset.root
    names, paths = _names_relative(tracklets, base)
    cameras = [f"cam{t.camid + 1}" for t in tracklets]
    return GallerySource(tracklets, names, cameras, [t.pid for t in tracklets], paths,
                         description or f"{dataset.name} {split} ({dataset.root})")


def from_manifest(path: str, split: str = "all") -> GallerySource:
    from ..data import load_dataset
    from ..data.datasets import list_datasets
    if "manifest" not in list_datasets():
        raise VidReIDError("this vidreid has no 'manifest' dataset loader; pass a folder of tracklet folders")
    # protocol mars: its gallery is every query and gallery row, junk (pid -1) included
    dataset = load_dataset("manifest", path, protocol="mars")
    base = os.path.dirname(dataset.meta.get("manifest", path))
    if split == "gallery":
        queries = set(dataset.query)
        split_ts = [t for t in dataset.gallery if t not in queries]
        dataset = VideoReIDDataset(dataset.name, dataset.root, dataset.train, dataset.query, split_ts,
                                   dataset.protocol, dataset.meta)
    return from_dataset(dataset, split, base, f"manifest {path} ({split})")


def is_manifest(path: str) -> bool:
    low = path.lower()
    return os.path.isfile(path) and low.endswith((".jsonl", ".ndjson", ".json", ".csv"))


def resolve_gallery(gallery=None, dataset: str | None = None, root: str | None = None, split: str | None = None,
                    pattern: str | None = None) -> GallerySource:
    """Any gallery description -> GallerySource.

    gallery: a folder of tracklet folders, a manifest file (.jsonl/.ndjson/.json/.csv), a folder holding
    manifest.jsonl/.csv (with dataset="manifest"), a VideoReIDDataset, a list of Tracklets, or a GallerySource.
    dataset + root: a registered dataset (`vidreid.data.list_datasets()`), `split` of it (default gallery).
    """
    if isinstance(gallery, GallerySource):
        return gallery
    if isinstance(gallery, VideoReIDDataset):
        return from_dataset(gallery, split or "gallery")
    if isinstance(gallery, (list, tuple)) and (not gallery or isinstance(gallery[0], Tracklet)):
        tracklets = list(gallery)
        if not tracklets:
            raise DatasetError("empty gallery: no tracklet given")
        base = os.path.commonpath([os.path.dirname(os.path.abspath(t.frames[0])) for t in tracklets])
        names, paths = _names_relative(tracklets, base)
        return GallerySource(tracklets, names, [f"cam{t.camid + 1}" for t in tracklets], [t.pid for t in tracklets],
                             paths, f"{len(tracklets)} tracklets")
    if dataset is not None:
        if gallery is not None and root is not None:
            raise VidReIDError(f"pass either --gallery {os.fspath(gallery)} or --dataset {dataset} --root {root}, "
                               f"not both")
        if dataset == "manifest":
            return from_manifest(root or gallery, split or "all")
        if root is None and gallery is None:
            raise VidReIDError(f"--dataset {dataset} needs --root (the dataset's root folder)")
        from ..data import load_dataset
        ds = load_dataset(dataset, root or gallery)
        return from_dataset(ds, split or "gallery", description=f"{dataset} {split or 'gallery'} ({root or gallery})")
    if gallery is None:
        raise VidReIDError("no gallery: pass --gallery PATH (a folder of tracklet folders or a manifest) or "
                           "--dataset NAME --root R")
    path = os.fspath(gallery)
    if is_manifest(path):
        return from_manifest(path, split or "all")
    if split not in (None, "all"):
        raise VidReIDError(f"--split {split} applies to datasets and manifests, not to a folder of tracklet folders")
    if os.path.isfile(os.path.join(path, "tracklets.json")) and os.path.isdir(os.path.join(path, "tracklets")):
        path = os.path.join(path, "tracklets")       # a `vidreid tracklets` output: its crops, not its pictures
    return from_folder(path, pattern)
