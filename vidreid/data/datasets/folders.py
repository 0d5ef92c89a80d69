"""Folder listing without stat'ing the frames: entry and sub-folder names, the image files of tracklet folders."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ...errors import DatasetError
from .issues import Issues
from .names import image_names


def list_dir(path: str, issues: Issues | None = None, what: str = "folder") -> list[str]:
    """Sorted entry names of a folder (no stat of the entries). A missing/unreadable folder raises DatasetError, or
    with a collecting `issues` is recorded and gives []."""
    try:
        return sorted(os.listdir(path))
    except OSError as e:
        return _unlistable(path, e, issues, what)


def list_subdirs(path: str, issues: Issues | None = None, what: str = "folder") -> list[str]:
    """Sorted names of the sub-folders of `path` (dirent types, no stat on common file systems)."""
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir())
    except OSError as e:
        return _unlistable(path, e, issues, what)


def _unlistable(path: str, e: OSError, issues: Issues | None, what: str) -> list[str]:
    """A folder that cannot be listed: DatasetError, or with a collecting `issues` an index problem and []."""
    msg = f"cannot list this {what} ({e.strerror or e})"
    if issues is None or not issues.collect:
        raise DatasetError(f"{path}: {msg}") from None
    issues.error("index", path, msg)
    return []


def scan_folders(folders: Sequence[str], issues: Issues, what: str, splits=None) -> tuple[np.ndarray, np.ndarray]:
    """List the image files of every folder (one listing each, no stat) -> (names (N,), owner (N,): the index of
    each name's folder). Folders without images are reported through `issues.drop` (kind empty_tracklet)."""
    names: list[str] = []
    owner: list[int] = []
    empty: list[int] = []
    for i, folder in enumerate(folders):                       # loop over tracklet folders, not frames
        frames = image_names(list_dir(folder, issues, what))
        if len(frames) == 0:
            empty.append(i)
            continue
        names.extend(frames.tolist())
        owner.extend([i] * len(frames))
    if empty:
        issues.drop("empty_tracklet", [folders[i] for i in empty], f"{what} without image files",
                    [splits[i] for i in empty] if splits is not None else "")
    return (np.asarray(names, dtype=str) if names else np.zeros(0, "<U1")), np.asarray(owner, dtype=np.int64)
