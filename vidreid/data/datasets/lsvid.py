"""LS-VID (Li et al., "Global-Local Temporal Representations for Video Person Re-Identification", ICCV 2019).

Layout (root/ = the unpacked LS-VID folder; the data is released by its authors on request):
    list_sequence/list_seq_train.txt    one tracklet per line: "<path prefix> <pid>", the prefix relative to root,
    list_sequence/list_seq_val.txt      e.g. "tracklet_train/0001/00001_ 1": the tracklet's frames are the images of
    list_sequence/list_seq_test.txt     that folder whose names start with the prefix's last part
    test/data/info_test.mat             variable `query`: 1-based line numbers of list_seq_test.txt that are queries
    test/data/info_val.mat              the same for list_seq_val.txt (MATLAB v7.3 files: reading them needs h5py)
    tracklet_train/<pid4>/*.jpg, tracklet_val/<pid4>/*.jpg, tracklet_test/<pid4>/*.jpg
Some code bases move list_sequence/ and data/ under info/ (info/list_sequence/..., info/data/info_test.mat); both
places are accepted. Frame names carry the camera (1..15) in their third "_"-separated field, which is all the loader
assumes about them besides the prefix; frames are ordered by the numbers in their names (natural sort).

The index comes from the list files plus one listing per person folder (no frame is opened or stat'ed): every
folder is listed once and each tracklet's frames are found by binary search of its prefix in the sorted names.

Protocol (as in the authors' code and the community loaders): query = the `query` rows of the test list, gallery =
the other test rows (minus pid -1 junk, if any); evaluated with the gao rules. `subset="val"` evaluates on the
validation lists instead. Train = list_seq_train.txt (pid -1 rows left out), pids relabelled 0..N-1.
"""
from __future__ import annotations

import os

import numpy as np

from ...errors import ConfigError, DatasetError
from ..types import Tracklet, VideoReIDDataset
from .folders import list_dir
from .grouping import majority, relabel
from .issues import Issues, check_protocol, index_or_none, root_error
from .matfile import load_mat_var
from .names import find_char, image_names, int_at, natural_order
from .registry import register_dataset

LIST_DIRS = ("list_sequence", os.path.join("info", "list_sequence"))
INFO_DIRS = (os.path.join("test", "data"), os.path.join("info", "data"))
NUM_CAMERAS = 15
SUBSETS = ("test", "val")
LAYOUT = """\
ROOT/                                   (LS-VID/)
├── list_sequence/
│   ├── list_seq_train.txt              "<frames path prefix> <pid>" per line, e.g. tracklet_train/0001/00001_ 1
│   ├── list_seq_val.txt
│   └── list_seq_test.txt
├── test/data/
│   ├── info_test.mat                   query: 1-based lines of list_seq_test.txt (MATLAB v7.3: needs h5py)
│   └── info_val.mat
├── tracklet_train/<pid4>/<prefix>*.jpg camera = 3rd "_"-separated field of the frame name (1..15)
├── tracklet_val/<pid4>/...
└── tracklet_test/<pid4>/...
(list_sequence/ and data/ may also sit under info/)"""
LAYOUT_SHORT = ("list_sequence/list_seq_{train,val,test}.txt (lines '<frames path prefix> <pid>'), "
                "test/data/info_test.mat (variable query) and tracklet_{train,val,test}/<pid4>/*.jpg")


def _find(root: str, folders, name: str) -> str | None:
    return next((os.path.join(root, d, name) for d in folders if os.path.isfile(os.path.join(root, d, name))), None)


def _read_list(path: str, issues: Issues, split: str) -> tuple[list[str], np.ndarray]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read the list file ({e})") from None
    prefixes, pids, bad = [], [], []
    for i, line in enumerate(lines, 1):                             # loop over tracklets
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            bad.append((i, line))
            continue
        prefixes.append(parts[0])
        pids.append(int(parts[1]))
    issues.error("index", [f"{path}:{i}" for i, _ in bad],
                 [f"{line[:60]!r}: expected '<frames path prefix> <pid>'" for _, line in bad], split)
    if not prefixes:
        issues.error("index", path, "no tracklet listed (expected lines '<frames path prefix> <pid>')", split)
    return prefixes, np.array(pids, dtype=np.int64)


def _frames(root: str, prefixes: list[str], issues: Issues) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (names, owner: row of each name, folder of each row) for the rows' prefixes; one listing per folder."""
    n = len(prefixes)
    folder = np.array([os.path.dirname(p) for p in prefixes] or [""])
    base = np.array([os.path.basename(p) for p in prefixes] or [""])
    order = np.argsort(folder, kind="stable")
    uniq, first = np.unique(folder[order], return_index=True)
    bounds = np.append(first, n)
    names_parts, owner_parts = [], []
    for j, f in enumerate(uniq.tolist()):                           # loop over person folders
        rows = order[bounds[j]:bounds[j + 1]]
        listed = np.sort(image_names(list_dir(os.path.join(root, f), issues, "LS-VID tracklet folder")))
        if len(listed) == 0:
            continue
        lo = np.searchsorted(listed, base[rows], "left")
        hi = np.searchsorted(listed, np.char.add(base[rows], chr(0x10FFFF)), "right")
        counts = hi - lo
        take = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        names_parts.append(listed[take])
        owner_parts.append(np.repeat(rows, counts))
    if not names_parts:
        return np.zeros(0, "<U1"), np.zeros(0, np.int64), folder
    names = np.concatenate([p.astype(str) for p in names_parts])
    owner = np.concatenate(owner_parts)
    return names, owner, folder


def build(root: str, protocol: str = "gao", subset: str = "test", issues: Issues | None = None,
          name: str = "lsvid") -> VideoReIDDataset:
    """Read an LS-VID root (see the module docstring) -> VideoReIDDataset (test or validation query/gallery)."""
    check_protocol(name, protocol)
    if subset not in SUBSETS:
        raise ConfigError(f"{name}: subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
    issues = issues or Issues()
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise root_error(name, root, "no such folder", LAYOUT, LAYOUT_SHORT)
    lists = {s: _find(root, LIST_DIRS, f"list_seq_{s}.txt") for s in ("train", subset)}
    missing = [s for s, p in lists.items() if p is None]
    if missing:
        raise root_error(name, root, f"no list_sequence/list_seq_{missing[0]}.txt", LAYOUT, LAYOUT_SHORT)
    info_path = _find(root, INFO_DIRS, f"info_{subset}.mat") or os.path.join(root, INFO_DIRS[0], f"info_{subset}.mat")

    train_prefix, train_pid = _read_list(lists["train"], issues, "train")
    test_prefix, test_pid = _read_list(lists[subset], issues, subset)
    prefixes = train_prefix + test_prefix
    pids = np.concatenate([train_pid, test_pid])
    n_train, n = len(train_prefix), len(prefixes)

    names, owner, folder = _frames(root, prefixes, issues)
    counts = np.bincount(owner, minlength=n)
    empty = np.flatnonzero(counts == 0)
    issues.drop("empty_tracklet", [os.path.join(root, prefixes[i]) + "*" for i in empty.tolist()],
                "no image file starts with this listed prefix",
                ["train" if i < n_train else subset for i in empty.tolist()])
    order = natural_order(names, owner)
    names, owner = names[order], owner[order]

    # the camera is the third "_"-separated field of every frame name; one camera per tracklet, within 1..15
    cam, cam_ok = int_at(names, find_char(names, "_", nth=2) + 1)
    cam_ok &= find_char(names, "_", nth=2) >= 0
    # the tracklet's camera: the most common among its frames (one stray name is one problem, even when it sorts first)
    row_cam, has_cam = majority(owner, cam, cam_ok, n)
    full = np.char.add(np.char.add(folder[owner], "/"), names) if len(names) else names
    bad = np.flatnonzero(~cam_ok | (cam != row_cam[owner]))
    if bad.size:
        issues.error("name_mismatch", [os.path.join(root, p) for p in full[bad].tolist()],
                     [f"expected the tracklet's camera ({row_cam[o]}) as the third '_'-separated field of the name"
                      for o in owner[bad].tolist()])
    out = np.flatnonzero(has_cam & ((row_cam < 1) | (row_cam > NUM_CAMERAS)))
    if out.size:
        issues.error("out_of_range", [os.path.join(root, prefixes[i]) + "*" for i in out.tolist()],
                     [f"camera {c} outside 1..{NUM_CAMERAS}" for c in row_cam[out].tolist()])
    paths = np.char.add(root + os.sep, full).tolist() if len(names) else []
    starts, ends = np.searchsorted(owner, np.arange(n)).tolist(), np.searchsorted(owner, np.arange(n), "right").tolist()
    cams = np.clip(row_cam - 1, 0, None).tolist()

    try:
        query_idx = load_mat_var(info_path, "query", "LS-VID query index").reshape(-1) - 1
    except DatasetError as e:
        issues.error("index", info_path, str(e).removeprefix(f"{info_path}: "), subset)
        query_idx = np.zeros(0, np.int64)
    n_test = n - n_train
    bad = np.flatnonzero((query_idx < 0) | (query_idx >= n_test))
    if bad.size:
        issues.error("index", info_path, f"query value {query_idx[bad[0]] + 1} outside 1..{n_test} (the lines of "
                                         f"{lists[subset]}); {bad.size} bad value(s)", subset)
        query_idx = query_idx[(query_idx >= 0) & (query_idx < n_test)]
    query_rows = n_train + np.unique(query_idx)
    is_query = np.zeros(n, dtype=bool)
    is_query[query_rows] = True
    nonempty = counts > 0
    train_rows = np.flatnonzero(nonempty[:n_train] & (pids[:n_train] >= 0))
    gallery_rows = n_train + np.flatnonzero(nonempty[n_train:] & ~is_query[n_train:] & (pids[n_train:] != -1))
    query_rows = query_rows[nonempty[query_rows]]
    labels, train_pids = relabel(pids[train_rows])

    def tracklets(rows, ids=None) -> list[Tracklet]:
        ids = pids[rows].tolist() if ids is None else ids
        return [Tracklet(tuple(paths[starts[i]:ends[i]]), p, cams[i]) for i, p in zip(rows.tolist(), ids)]

    meta = {"train_pids": train_pids.tolist(), "subset": subset, "query_rows": (query_rows - n_train).tolist(),
            "gallery_rows": (gallery_rows - n_train).tolist(), "num_cameras": NUM_CAMERAS}
    return VideoReIDDataset(name=name, root=root, train=tracklets(train_rows, labels.tolist()),
                            query=tracklets(query_rows), gallery=tracklets(gallery_rows), protocol=protocol,
                            meta=meta)


@register_dataset("lsvid", check=lambda root, issues, **options: index_or_none(build, root, issues, **options))
def lsvid(root: str, protocol: str = "gao", split: int = 0, subset: str = "test") -> VideoReIDDataset:
    if split != 0:
        raise ConfigError(f"dataset 'lsvid' has a single fixed split; data.split must be 0, got {split}")
    return build(root, protocol, subset)
