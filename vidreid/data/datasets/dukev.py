"""DukeMTMC-VideoReID (Wu et al., "Exploit the Unknown Gradually: One-Shot Video-Based Person Re-Identification by
Stepwise Learning", CVPR 2018), and SynthPed written in its layout.

Layout (root/):
    train/<pid4>/<tracklet4>/<frame>.jpg      one folder per tracklet, grouped by person
    query/<pid4>/<tracklet4>/<frame>.jpg      one tracklet per test identity
    gallery/<pid4>/<tracklet4>/<frame>.jpg    the other test tracklets, incl. the distractor identities
Frame names: old style 0001C6F0099X30823.jpg, new style 0001_C6_F0099_X30823.jpg: pid (4 digits, equal to the person
folder), camera after C (1..8), frame index within the tracklet after F, frame number in the camera's video after X.
Frames are ordered by the F index (sorted; never the order the file system lists them in).

The index comes from folder listings only (one per person and per tracklet folder; no frame is opened or stat'ed),
and every name is parsed and checked with numpy: its pid must be its folder's, its camera the same for the whole
tracklet (the camera of most of its frames) and within 1..8, its F index unique within the tracklet.

Protocol (shared spec): the `gao` rules on DukeV's own split: query = query/, gallery = gallery/ (queries not
included); junk = same pid and same camera. Train pids are relabelled 0..N-1 in sorted order (originals in
meta["train_pids"]); test pids are kept.
"""
from __future__ import annotations

import os

import numpy as np

from ...errors import ConfigError
from ..types import Tracklet, VideoReIDDataset
from .folders import list_dir, list_subdirs
from .grouping import majority, relabel
from .issues import Issues, check_protocol, root_error
from .names import image_names, int_after, int_at, join_paths
from .registry import register_dataset

SPLITS = ("train", "query", "gallery")
NUM_CAMERAS = 8
LAYOUT = """\
ROOT/
├── train/                       702 ids, 2196 tracklets
│   └── 0001/                    person folder (4-digit pid)
│       └── 0001/                tracklet folder
│           ├── 0001C6F0001X30823.jpg      (old names)  or  0001_C6_F0001_X30823.jpg (new names)
│           └── ...              pid, camera after C (1..8), frame index after F, video frame after X
├── query/                       702 tracklets, one per test id
│   └── <pid4>/<tracklet4>/*.jpg
└── gallery/                     2636 tracklets (1110 ids incl. 408 distractors)
    └── <pid4>/<tracklet4>/*.jpg"""
LAYOUT_SHORT = ("train/, query/ and gallery/ folders holding <pid4>/<tracklet4>/<frame>.jpg with frame names like "
                "0001C6F0099X30823.jpg or 0001_C6_F0099_X30823.jpg")


def _expected_name(pid: int) -> str:
    return f"a name like {pid:04d}C6F0099X30823.jpg or {pid:04d}_C6_F0099_X30823.jpg (pid = the person folder)"


def _scan(root: str, issues: Issues):
    """Walk split/pid/tracklet folders -> (tracklet rows [(split, pid, folder)], frame names, tracklet id of each)."""
    rows: list[tuple[str, int, str]] = []
    names: list[str] = []
    owner: list[int] = []
    for split in SPLITS:
        split_dir = os.path.join(root, split)
        pid_dirs = list_subdirs(split_dir, issues, f"DukeV {split} folder")
        bad = [d for d in pid_dirs if not (len(d) == 4 and d.isdigit())]
        issues.error("name_mismatch", [os.path.join(split_dir, d) for d in bad],
                     "not a person folder: expected a 4-digit pid like 0001", split)
        for pid_dir in (d for d in pid_dirs if d not in set(bad)):           # loop over persons
            pid_path = os.path.join(split_dir, pid_dir)
            for tdir in list_subdirs(pid_path, issues, "DukeV person folder"):  # loop over tracklets
                folder = os.path.join(pid_path, tdir)
                frames = image_names(list_dir(folder, issues, "DukeV tracklet folder"))
                if len(frames) == 0:
                    issues.drop("empty_tracklet", folder, "tracklet folder without image files", split)
                    continue
                owner.extend([len(rows)] * len(frames))
                names.extend(frames.tolist())
                rows.append((split, int(pid_dir), folder))
    return rows, np.asarray(names, dtype=str) if names else np.zeros(0, "<U1"), np.asarray(owner, dtype=np.int64)


def load_dukev_layout(root: str, name: str = "dukev", protocol: str = "gao",
                      issues: Issues | None = None) -> VideoReIDDataset:
    """Read a DukeV-layout root (see the module docstring) -> VideoReIDDataset with absolute frame paths.

    protocol "gao" (DukeV's standard): gallery = gallery/; "mars" (for SynthPed written in this layout): gallery =
    query/ + gallery/, evaluated with the MARS rules. `issues`: a collecting Issues (vidreid data check) records
    problems instead of raising."""
    check_protocol(name, protocol, ("gao", "mars"))
    issues = issues or Issues()
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise root_error(name, root, "no such folder", LAYOUT, LAYOUT_SHORT)
    missing = [s for s in SPLITS if not os.path.isdir(os.path.join(root, s))]
    if missing:
        raise root_error(name, root, f"no {'/, '.join(missing)}/ folder", LAYOUT, LAYOUT_SHORT, markers=SPLITS)

    rows, names, owner = _scan(root, issues)
    folders = np.array([r[2] for r in rows] or [""])
    row_pid = np.array([r[1] for r in rows], dtype=np.int64)
    row_split = np.array([r[0] for r in rows] or [""])

    # parse every name at once: pid = the 4 leading digits, camera after the first C, index after the first F
    name_pid, pid_ok = int_at(names, 0, digits=4)
    cam, cam_ok = int_after(names, "C")
    fidx, f_ok = int_after(names, "F")
    wrong = ~(pid_ok & cam_ok & f_ok) | (name_pid != row_pid[owner])
    bad = np.flatnonzero(wrong)
    if bad.size:
        issues.error("name_mismatch", join_paths(folders[owner[bad]], names[bad]),
                     [f"expected {_expected_name(int(p))}" for p in row_pid[owner[bad]].tolist()],
                     row_split[owner[bad]].tolist())

    # one camera per tracklet: the most common among its valid names (a stray file is one problem, even when it
    # sorts first), within 1..NUM_CAMERAS
    row_cam, has_cam = majority(owner, cam, ~wrong, len(rows))
    bad = np.flatnonzero(~wrong & (cam != row_cam[owner]))
    if bad.size:
        issues.error("name_mismatch", join_paths(folders[owner[bad]], names[bad]),
                     [f"camera C{c} differs from the tracklet's camera C{rc} (the camera of most of its frames)"
                      for c, rc in zip(cam[bad].tolist(), row_cam[owner[bad]].tolist())],
                     row_split[owner[bad]].tolist())
    bad_rows = np.flatnonzero(has_cam & ((row_cam < 1) | (row_cam > NUM_CAMERAS)))
    if bad_rows.size:
        issues.error("out_of_range", folders[bad_rows].tolist(),
                     [f"camera C{c} outside C1..C{NUM_CAMERAS} (DukeMTMC has {NUM_CAMERAS} cameras)"
                      for c in row_cam[bad_rows].tolist()], row_split[bad_rows].tolist())

    # frames ordered by their F index within each tracklet; an F index may appear once per tracklet
    order = np.lexsort((names, fidx, owner))
    names, owner, fidx = names[order], owner[order], fidx[order]
    dup = np.flatnonzero((owner[1:] == owner[:-1]) & (fidx[1:] == fidx[:-1])) + 1
    if dup.size:
        issues.error("name_mismatch", join_paths(folders[owner[dup]], names[dup]),
                     [f"F index {f} appears twice in this tracklet (also {names[d - 1]})"
                      for f, d in zip(fidx[dup].tolist(), dup.tolist())], row_split[owner[dup]].tolist())
    paths = join_paths(folders[owner], names)
    starts = np.searchsorted(owner, np.arange(len(rows)), "left").tolist()
    ends = np.searchsorted(owner, np.arange(len(rows)), "right").tolist()
    cams = np.clip(row_cam - 1, 0, None).tolist()

    split_rows = {s: np.flatnonzero(row_split == s) for s in SPLITS}
    train_rows = split_rows["train"]
    labels, train_pids = relabel(row_pid[train_rows])
    pid_of = row_pid.copy()
    pid_of[train_rows] = labels
    pid_list = pid_of.tolist()

    def tracklets(idx: np.ndarray) -> list[Tracklet]:
        return [Tracklet(tuple(paths[starts[i]:ends[i]]), pid_list[i], cams[i]) for i in idx.tolist()]

    query = tracklets(split_rows["query"])
    gallery = tracklets(split_rows["gallery"])
    if protocol == "mars":
        gallery = query + gallery
    meta = {
        "train_pids": train_pids.tolist(),                      # original DukeV pid of train label i
        "folders": {s: folders[split_rows[s]].tolist() for s in SPLITS},  # tracklet folders, in tracklet order
        "num_cameras": NUM_CAMERAS,
    }
    return VideoReIDDataset(name=name, root=root, train=tracklets(train_rows), query=query, gallery=gallery,
                            protocol=protocol, meta=meta)


@register_dataset("dukev", check=lambda root, issues, **options: load_dukev_layout(root, issues=issues, **options))
def dukev(root: str, protocol: str = "gao", split: int = 0) -> VideoReIDDataset:
    check_protocol("dukev", protocol)
    if split != 0:
        raise ConfigError(f"dataset 'dukev' has a single fixed train/query/gallery split; data.split must be 0, "
                          f"got {split}")
    return load_dukev_layout(root, "dukev", protocol)
