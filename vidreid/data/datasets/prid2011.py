"""PRID2011 (Hirzer et al., "Person Re-Identification by Descriptive and Discriminative Classification", SCIA 2011),
multi-shot part.

Layout (root/):
    prid_2011/multi_shot/cam_a/person_NNNN/NNNN.png    385 people in camera A
    prid_2011/multi_shot/cam_b/person_NNNN/NNNN.png    749 in camera B; person_0001..person_0200 are in both
    splits_prid2011.json                               optional: the 10 train/test splits (see below)

Protocol (shared spec): the people seen in both cameras with at least `min_frames` (21) frames in each -- 178 people
on the real data -- in 10 random 50/50 splits (`split=0..9`); train = both cameras of the train people (labels
0..N-1 in sorted order, person numbers in meta["train_pids"]); query = camera A of the test people, gallery = camera
B (camid 0 / 1), pid = the person number; evaluated with the gao rules; report the mean over the splits.

Splits: `splits_prid2011.json` next to prid_2011/ -- a list of 10 objects {"train": [...], "test": [...]} whose
entries are person folder names ("person_0001") or numbers (1) -- is used when present (the common way to fix
them, e.g. torchreid's file). Otherwise 10 splits are drawn from `seed` (numpy default_rng(seed): one permutation
of the eligible people per split, first half train, second half test) and written there (atomically) so that every
later run uses the same ones; if the folder is read-only they are used for this run only, with a warning.

The index comes from folder listings (one per person folder used; no frame is opened or stat'ed); frames are sorted
by their number.
"""
from __future__ import annotations

import json
import os
import warnings

import numpy as np

from ...errors import ConfigError
from ...utils.io import atomic_write_text
from ..types import VideoReIDDataset
from .folders import list_subdirs, scan_folders
from .grouping import frames_by_number, two_camera_split
from .issues import DatasetWarning, Issues, check_protocol, index_or_none, root_error
from .names import int_at, join_paths
from .registry import register_dataset

SPLIT_FILE = "splits_prid2011.json"
CAMERAS = ("cam_a", "cam_b")
NUM_SPLITS = 10
LAYOUT = """\
ROOT/
├── prid_2011/
│   └── multi_shot/
│       ├── cam_a/
│       │   ├── person_0001/
│       │   │   ├── 0001.png          frames numbered from 0001
│       │   │   └── ...
│       │   └── ...                   385 person folders
│       └── cam_b/                    749 person folders (person_0001..person_0200 also in cam_a)
└── splits_prid2011.json              optional: [{"train": [...], "test": [...]}, ...] x 10; written if absent"""
LAYOUT_SHORT = ("prid_2011/multi_shot/cam_a|cam_b/person_NNNN/NNNN.png (and optionally splits_prid2011.json next to "
                "prid_2011/)")


def _person_name(entry) -> str | None:
    if isinstance(entry, bool):
        return None
    if isinstance(entry, int):
        return f"person_{entry:04d}"
    if isinstance(entry, str):
        if entry.isdigit():
            return f"person_{int(entry):04d}"
        return os.path.basename(entry.rstrip("/"))
    return None


def _read_splits(path: str, both: set[str], issues: Issues) -> list[dict] | None:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        issues.error("split_file", path, f"not a readable JSON split file ({e}); expected a list of "
                                         f"{{\"train\": [...], \"test\": [...]}} objects")
        return None
    if isinstance(raw, dict) and "splits" in raw:
        raw = raw["splits"]
    if not isinstance(raw, list) or not raw or not all(isinstance(s, dict) and isinstance(s.get("train"), list)
                                                       and isinstance(s.get("test"), list) for s in raw):
        issues.error("split_file", path, "expected a non-empty list of {\"train\": [...], \"test\": [...]} objects")
        return None
    splits = []
    for i, s in enumerate(raw):                                     # loop over the 10 splits
        train = [_person_name(e) for e in s["train"]]
        test = [_person_name(e) for e in s["test"]]
        unknown = sorted({str(e) for e, n in zip(s["train"] + s["test"], train + test) if n not in both})
        overlap = sorted(set(train) & set(test))
        if unknown or overlap or not train or not test:
            why = (f"people not found in both cameras: {', '.join(unknown[:5])}" if unknown else
                   f"people in both train and test: {', '.join(overlap[:5])}" if overlap else "an empty train or test")
            issues.error("split_file", path, f"split {i} ({why})")
            return None
        splits.append({"train": sorted(set(train)), "test": sorted(set(test))})
    return splits


def _generate_splits(eligible: list[str], seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    half = len(eligible) // 2
    splits = []
    for _ in range(NUM_SPLITS):
        perm = rng.permutation(len(eligible))
        splits.append({"train": sorted(eligible[i] for i in perm[:half].tolist()),
                       "test": sorted(eligible[i] for i in perm[half:].tolist())})
    return splits


def build(root: str, split: int = 0, protocol: str = "gao", min_frames: int = 21, seed: int = 0,
          write_splits: bool = True, issues: Issues | None = None, name: str = "prid2011") -> VideoReIDDataset:
    """Read a PRID2011 root (see the module docstring) -> VideoReIDDataset of split `split`."""
    check_protocol(name, protocol)
    issues = issues or Issues()
    root = os.path.abspath(os.fspath(root))
    base = os.path.join(root, "prid_2011", "multi_shot")
    if not os.path.isdir(root):
        raise root_error(name, root, "no such folder", LAYOUT, LAYOUT_SHORT)
    missing = [c for c in CAMERAS if not os.path.isdir(os.path.join(base, c))]
    if missing:
        raise root_error(name, root, f"no prid_2011/multi_shot/{missing[0]}/ folder", LAYOUT, LAYOUT_SHORT)

    people = {}
    for c in CAMERAS:
        cam_dir = os.path.join(base, c)
        names = np.asarray(list_subdirs(cam_dir, issues, "PRID2011 camera folder") or [""])
        _, ok = int_at(names, 7, digits=4)
        ok &= np.char.startswith(names, "person_")
        issues.error("name_mismatch", [os.path.join(cam_dir, n) for n in names[~ok & (names != "")].tolist()],
                     "not a person folder: expected person_NNNN")
        people[c] = set(names[ok].tolist())
    both = sorted(people["cam_a"] & people["cam_b"])                # only these can be train/query/gallery people

    rows = [(k, p) for k in range(2) for p in both]
    folders = [os.path.join(base, CAMERAS[k], p) for k, p in rows]
    names, owner = scan_folders(folders, issues, "PRID2011 person folder")
    number, ok = int_at(names, 0)
    bad = np.flatnonzero(~ok)
    if bad.size:
        issues.error("name_mismatch", join_paths(np.array(folders)[owner[bad]], names[bad]),
                     "expected a frame name like 0001.png")
    paths, starts, ends = frames_by_number(folders, names, owner, number, issues, "folder")
    length = np.array(ends) - np.array(starts)
    P = len(both)
    eligible = [p for i, p in enumerate(both) if length[i] >= min_frames and length[P + i] >= min_frames]

    split_path = os.path.join(root, SPLIT_FILE)
    generated = not os.path.isfile(split_path)
    if generated:
        splits = _generate_splits(eligible, seed)
        if write_splits:
            try:
                atomic_write_text(split_path, json.dumps(splits, indent=1) + "\n")
            except OSError as e:
                warnings.warn(f"could not write {split_path} ({e.strerror or e}); the splits drawn from seed {seed} "
                              f"are used for this run only", DatasetWarning, stacklevel=2)
    else:
        splits = _read_splits(split_path, set(both), issues)
    if splits is not None and not 0 <= split < len(splits):
        raise ConfigError(f"{name}: data.split must be in 0..{len(splits) - 1}, got {split}")
    if splits is None:                                              # checking a root with a broken split file
        train_people, test_people = set(both), set()
    else:
        train_people, test_people = set(splits[split]["train"]), set(splits[split]["test"])
    person_no = [int(p[7:]) for _, p in rows]
    train, query, gallery, train_pids = two_camera_split(rows, starts, ends, paths, person_no, both, train_people,
                                                         test_people)
    meta = {"train_pids": train_pids.tolist(), "split": split, "split_file": split_path,
            "splits_generated": generated, "seed": seed if generated else None,
            "num_splits": 0 if splits is None else len(splits), "num_eligible": len(eligible),
            "min_frames": min_frames, "num_cameras": 2}
    return VideoReIDDataset(name=name, root=root, train=train, query=query, gallery=gallery, protocol=protocol,
                            meta=meta)


@register_dataset("prid2011", multi_split=True, check=lambda root, issues, write_splits=False, **options:
                  index_or_none(build, root, issues, write_splits=write_splits, **options))  # a check never writes
def prid2011(root: str, protocol: str = "gao", split: int = 0, min_frames: int = 21, seed: int = 0,
             write_splits: bool = True) -> VideoReIDDataset:
    return build(root, split, protocol, min_frames, seed, write_splits)
