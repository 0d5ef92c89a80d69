"""iLIDS-VID (Wang et al., "Person Re-Identification by Video Ranking", ECCV 2014).

Layout (root/):
    i-LIDS-VID/sequences/cam1/personNNN/cam1_personNNN_FFFFF.png    one sequence per person and camera; the frame
    i-LIDS-VID/sequences/cam2/personNNN/cam2_personNNN_FFFFF.png    number FFFFF does not start at 1
    train-test people splits/train_test_splits_ilidsvid.mat         (also accepted inside i-LIDS-VID/)
The split file's variable `ls_set` (10 x 300) holds, per split, 1-based indices into the sorted person folder names
of cam1: the first 150 are the test people, the last 150 the train people.

The index comes from folder listings (one per person and camera; no frame is opened or stat'ed); names are checked
with numpy (`cam<k>_<person folder>_<number>.<ext>`) and frames sorted by their number.

Protocol (shared spec): 10 splits, `split=0..9`; train = both cameras of the train people (labels 0..149 in sorted
person order, person numbers in meta["train_pids"]); query = cam1 sequences of the test people, gallery = cam2
(camid 0 / 1), pid = the person number; evaluated with the gao rules; report the mean over the splits
(`vidreid eval --split all`).
"""
from __future__ import annotations

import os

import numpy as np

from ...errors import ConfigError
from ..types import VideoReIDDataset
from .folders import list_subdirs, scan_folders
from .grouping import frames_by_number, two_camera_split
from .issues import Issues, check_protocol, index_or_none, root_error
from .matfile import load_mat_var
from .names import int_at, join_paths
from .registry import register_dataset

SPLIT_FILES = ("train-test people splits/train_test_splits_ilidsvid.mat",
               "i-LIDS-VID/train-test people splits/train_test_splits_ilidsvid.mat")
CAMERAS = ("cam1", "cam2")
LAYOUT = """\
ROOT/
├── i-LIDS-VID/
│   └── sequences/
│       ├── cam1/
│       │   ├── person001/
│       │   │   ├── cam1_person001_00317.png    frame number after the last "_" (not from 1)
│       │   │   └── ...
│       │   └── ...                             300 person folders (person001..person319, with gaps)
│       └── cam2/                               the same person folders, cam2_personNNN_FFFFF.png
└── train-test people splits/
    └── train_test_splits_ilidsvid.mat          ls_set (10 x 300): per split 150 test, then 150 train indices"""
LAYOUT_SHORT = ("i-LIDS-VID/sequences/cam1|cam2/personNNN/camK_personNNN_FFFFF.png and "
                "'train-test people splits/train_test_splits_ilidsvid.mat' (variable ls_set)")


def _person_folders(cam_dir: str, issues: Issues) -> list[str]:
    names = list_subdirs(cam_dir, issues, "iLIDS-VID camera folder")
    arr = np.asarray(names, dtype=str) if names else np.zeros(0, "<U1")
    _, ok = int_at(arr, 6)
    ok &= np.char.startswith(arr, "person") if len(arr) else ok
    issues.error("name_mismatch", [os.path.join(cam_dir, n) for n in arr[~ok].tolist()],
                 "not a person folder: expected personNNN")
    return arr[ok].tolist()


def _load_splits(root: str, issues: Issues, num_people: int) -> tuple[np.ndarray | None, str]:
    candidates = [os.path.join(root, f) for f in SPLIT_FILES]
    path = next((p for p in candidates if os.path.isfile(p)), candidates[0])
    try:
        ls_set = load_mat_var(path, "ls_set", "iLIDS-VID split file")
    except Exception as e:  # DatasetError; recorded when checking
        issues.error("split_file", path, str(e).removeprefix(f"{path}: "))
        return None, path
    if ls_set.ndim != 2 or ls_set.shape[1] % 2:
        issues.error("split_file", path, f"ls_set must be (splits, 2 x people), got shape {ls_set.shape}")
        return None, path
    bad = (ls_set < 1) | (ls_set > num_people)
    dup = np.sort(ls_set, 1)
    if bad.any() or (dup[:, 1:] == dup[:, :-1]).any():
        r = int(np.flatnonzero((bad.any(1)) | (dup[:, 1:] == dup[:, :-1]).any(1))[0])
        issues.error("split_file", path, f"row {r + 1} of ls_set must hold distinct indices 1..{num_people} (the "
                                         f"sorted cam1 person folders); it has {ls_set[r].min()}..{ls_set[r].max()}")
        return None, path
    return ls_set, path


def build(root: str, split: int = 0, protocol: str = "gao", issues: Issues | None = None,
          name: str = "ilidsvid") -> VideoReIDDataset:
    """Read an iLIDS-VID root (see the module docstring) -> VideoReIDDataset of split `split`."""
    check_protocol(name, protocol)
    issues = issues or Issues()
    root = os.path.abspath(os.fspath(root))
    seq = os.path.join(root, "i-LIDS-VID", "sequences")
    if not os.path.isdir(root):
        raise root_error(name, root, "no such folder", LAYOUT, LAYOUT_SHORT)
    missing = [c for c in CAMERAS if not os.path.isdir(os.path.join(seq, c))]
    if missing:
        raise root_error(name, root, f"no i-LIDS-VID/sequences/{missing[0]}/ folder", LAYOUT, LAYOUT_SHORT)

    people = {c: _person_folders(os.path.join(seq, c), issues) for c in CAMERAS}
    cam1 = people["cam1"]                                          # ls_set indexes these, sorted
    only = [(c, p) for c, other in (("cam1", "cam2"), ("cam2", "cam1"))
            for p in sorted(set(people[c]) - set(people[other]))]
    issues.error("index", [os.path.join(seq, c, p) for c, p in only],
                 [f"person without a sequence in {'cam2' if c == 'cam1' else 'cam1'}" for c, _ in only])
    both = sorted(set(cam1) & set(people["cam2"]))

    # one row per (camera, person): rows [0, P) are cam1, [P, 2P) cam2
    rows = [(k, p) for k in range(2) for p in both]
    folders = [os.path.join(seq, CAMERAS[k], p) for k, p in rows]
    names, owner = scan_folders(folders, issues, "iLIDS-VID sequence folder")
    prefix = np.array([f"{CAMERAS[k]}_{p}_" for k, p in rows] or [""])
    ok = np.strings.startswith(names, prefix[owner]) if len(names) else np.zeros(0, bool)
    number, num_ok = int_at(names, np.strings.str_len(prefix)[owner] if len(names) else 0)
    bad = np.flatnonzero(~(ok & num_ok))
    if bad.size:
        issues.error("name_mismatch", join_paths(np.array(folders)[owner[bad]], names[bad]),
                     [f"expected a name like {prefix[o]}00317.png" for o in owner[bad].tolist()])
    paths, starts, ends = frames_by_number(folders, names, owner, number, issues, "sequence")
    person_no = [int(p[6:]) for _, p in rows]

    ls_set, split_path = _load_splits(root, issues, len(cam1))
    if ls_set is not None and not 0 <= split < len(ls_set):
        raise ConfigError(f"{name}: data.split must be in 0..{len(ls_set) - 1} ({split_path} has {len(ls_set)} "
                          f"splits), got {split}")
    if ls_set is None:                                              # checking a root with a broken split file
        train_people, test_people = set(both), set()
    else:
        half = ls_set.shape[1] // 2
        test_people = {cam1[i - 1] for i in ls_set[split, :half].tolist()}
        train_people = {cam1[i - 1] for i in ls_set[split, half:].tolist()}
    P = len(both)
    train, query, gallery, train_pids = two_camera_split(rows, starts, ends, paths, person_no, both, train_people,
                                                         test_people)
    meta = {"train_pids": train_pids.tolist(), "split": split, "split_file": split_path,
            "num_splits": 0 if ls_set is None else len(ls_set), "num_people": P, "num_cameras": 2}
    return VideoReIDDataset(name=name, root=root, train=train, query=query, gallery=gallery, protocol=protocol,
                            meta=meta)


def num_splits(root: str) -> int:
    """Splits in the root's split file (10 for the real one)."""
    return build(root).meta["num_splits"]


@register_dataset("ilidsvid", multi_split=True,
                  check=lambda root, issues, **options: index_or_none(build, root, issues, **options))
def ilidsvid(root: str, protocol: str = "gao", split: int = 0) -> VideoReIDDataset:
    return build(root, split, protocol)
