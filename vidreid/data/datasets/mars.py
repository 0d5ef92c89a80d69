"""MARS (Zheng et al., "MARS: A Video Benchmark for Large-Scale Person Re-identification", ECCV 2016) and every
dataset written in its layout (SynthPed by default).

Layout (root/):
    bbox_train/<pid4>/<name>.jpg, bbox_test/<pid4>/<name>.jpg   names like 0001C1T0001F001.jpg: pid (4 chars,
                                                                "00-1" = junk, "0000" = distractor), camera digit
                                                                after C, tracklet after T, frame after F
    info/train_name.txt, info/test_name.txt     one frame name per line, in the order the track tables index
    info/tracks_train_info.mat                  variable track_train_info (N, 4): [start, end, pid, camid], start/end
    info/tracks_test_info.mat                   track_test_info: 1-based inclusive lines of the name list, camid 1..6
    info/query_IDX.mat                          query_IDX: 1-based rows of the test table

The index is built from info/ alone (no frame is opened or stat'ed: MARS has 1.19 M frames), with numpy over the
name lists; every frame's pid and camera in its name must agree with its table row, and cameras lie in 1..6.
With a collecting `Issues` (`vidreid data check`) every such problem is recorded and the rows that can still be
indexed are kept (a row whose name does not match keeps its frames, so they are still read and decoded); rows
outside the name list and empty rows are left out.

Protocols (shared spec "Evaluation"): query = the query_IDX rows of the test table;
    mars: gallery = every test tracklet, queries and junk (pid -1) included (12180 on MARS);
    gao:  gallery = test tracklets minus the queries and minus pid -1 (9330 on MARS; Gao & Nevatia, torchreid).
Train pids are relabelled 0..N-1 in sorted order of the original pids (kept in meta["train_pids"]); test pids are
kept as they are.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ...errors import ConfigError, DatasetError
from ..types import Tracklet, VideoReIDDataset
from .issues import Issues, index_or_none, root_error
from .matfile import load_mat_var
from .registry import register_dataset

PROTOCOLS = ("mars", "gao")
NUM_CAMERAS = 6     # MARS: six cameras, numbered 1..6 in the tables and in the frame names
_SPLITS = (  # (split, frames folder, name list, table file, table variable)
    ("train", "bbox_train", "train_name.txt", "tracks_train_info.mat", "track_train_info"),
    ("test", "bbox_test", "test_name.txt", "tracks_test_info.mat", "track_test_info"),
)
LAYOUT = """\
ROOT/
├── bbox_train/<pid4>/<pid4>C<cam>T<tracklet4>F<frame3>.jpg     e.g. 0001/0001C1T0001F001.jpg, cameras 1..6
├── bbox_test/<pid4>/...                                        00-1/ = junk (pid -1), 0000/ = distractors
└── info/
    ├── train_name.txt, test_name.txt                           one frame file name per line
    ├── tracks_train_info.mat, tracks_test_info.mat             track_*_info (N x 4): start, end, pid, camid
    └── query_IDX.mat                                           query_IDX: 1-based rows of the test table"""
LAYOUT_SHORT = ("bbox_train/, bbox_test/ and info/ with train_name.txt, test_name.txt, tracks_train_info.mat, "
                "tracks_test_info.mat and query_IDX.mat")


def _load_table(path: str, var: str) -> np.ndarray:
    table = load_mat_var(path, var, "MARS index file")
    if table.ndim != 2 or table.shape[1] != 4:
        raise DatasetError(f"{path}: variable {var!r} must be an (N, 4) table [start, end, pid, camid], "
                           f"got shape {table.shape}")
    return table


def _load_names(path: str) -> np.ndarray:
    """Name list -> unicode array (N,) (one name per line; blank lines and surrounding spaces ignored)."""
    if not os.path.isfile(path):
        raise DatasetError(f"missing MARS name list {path} (expected one frame file name per line)")
    try:
        with open(path, encoding="utf-8") as f:
            names = f.read().split()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read the name list ({e})") from None
    if not names:
        raise DatasetError(f"{path}: empty name list (expected one frame file name per line)")
    return np.array(names)


def _parse_names(names: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pid, camera (1-based) and a validity mask for every name `PPPPC<d>...` (P digits, or "00-1"), vectorised on
    the unicode code points."""
    codes = names.view(np.uint32).reshape(len(names), -1)        # (N, max_len) code points, 0-padded
    if codes.shape[1] < 6:
        codes = np.pad(codes, ((0, 0), (0, 6 - codes.shape[1])))
    head = codes[:, :4].astype(np.int64)
    digits = head - ord("0")
    is_digit = (digits >= 0) & (digits <= 9)
    is_minus = head == ord("-")
    pid = (np.where(is_digit, digits, 0) * np.array([1000, 100, 10, 1])).sum(1)
    pid = np.where(is_minus.any(1), -pid, pid)
    cam = codes[:, 5].astype(np.int64) - ord("0")
    valid = (is_digit | is_minus).all(1) & (is_minus.sum(1) <= 1) & (codes[:, 4] == ord("C")) & (cam >= 0) & (cam <= 9)
    return pid, cam, valid


def _frame_paths(folder: str, names: np.ndarray) -> list[str]:
    """folder/<first 4 chars>/<name> for every name, built as one code-point array (no loop over frames)."""
    if len(names) == 0:
        return []
    codes = names.view(np.uint32).reshape(len(names), -1)         # (N, w)
    prefix = np.array([ord(c) for c in folder + os.sep], dtype=np.uint32)
    p, w = len(prefix), codes.shape[1]
    out = np.empty((len(names), p + 5 + w), dtype=np.uint32)
    out[:, :p] = prefix
    out[:, p:p + 4] = codes[:, :4]
    out[:, p + 4] = ord(os.sep)
    out[:, p + 5:] = codes                                         # 0-padding only ever at the end of a row
    return out.view(f"<U{p + 5 + w}").ravel().tolist()


def _check_rows(table: np.ndarray, names: np.ndarray, table_path: str, names_path: str, issues: Issues,
                split: str) -> np.ndarray:
    """Row ranges inside the name list; pids >= -1 and cameras 1..6; every frame's pid and camera (from its name)
    equal to its row's. -> usable (N,) bool: the rows that can be indexed (inside the name list, not empty)."""
    start, end, pid, cam = table.T
    n = len(names)
    lengths = end - start + 1
    outside = (start < 1) | (end > n) | (lengths < 0)
    bad = np.flatnonzero(outside)
    _each(issues.error, "index", table_path,
          [f"row {r + 1} spans lines {start[r]}..{end[r]}, expected 1 <= start <= end <= {n} (the number of names in "
           f"{names_path})" for r in bad.tolist()], split)
    empty = np.flatnonzero(~outside & (lengths == 0))
    _each(issues.drop, "empty_tracklet", table_path,
          [f"row {r + 1} spans no line (start {start[r]}, end {end[r]}): a tracklet without frames"
           for r in empty.tolist()], split)
    bad = np.flatnonzero((cam < 1) | (cam > NUM_CAMERAS) | (pid < -1))
    _each(issues.error, "out_of_range", table_path,
          [f"row {r + 1} has pid {pid[r]} camid {cam[r]}, expected pid >= -1 and camid in 1..{NUM_CAMERAS} (MARS has "
           f"{NUM_CAMERAS} cameras, 1-based)" for r in bad.tolist()], split)
    usable = ~outside & (lengths > 0)
    rows = np.flatnonzero(usable)
    lengths = lengths[rows]
    # 0-based name index of every frame of every usable row: concatenated ranges [start-1, end)
    offsets = np.cumsum(lengths) - lengths
    frame_idx = np.arange(lengths.sum()) + np.repeat(start[rows] - 1 - offsets, lengths)
    name_pid, name_cam, valid = _parse_names(names)
    row_of_frame = np.repeat(rows, lengths)
    wrong = ~valid[frame_idx] | (name_pid[frame_idx] != pid[row_of_frame]) | (name_cam[frame_idx] != cam[row_of_frame])
    bad = np.flatnonzero(wrong)
    _each(issues.error, "name_mismatch", names_path,
          [f"line {f + 1} {str(names[f])!r} does not match row {r + 1} of {table_path} (pid {pid[r]}, camera "
           f"{cam[r]}): expected a name like '{_pid4(pid[r])}C{cam[r]}T....F....jpg'"
           for f, r in zip(frame_idx[bad].tolist(), row_of_frame[bad].tolist())], split)
    return usable


def _each(report, kind: str, path: str, messages: list[str], split: str) -> None:
    """issues.error / issues.drop with one problem per message, all about the same file."""
    if messages:
        report(kind, [path] * len(messages), messages, split)


def _pid4(pid: int) -> str:
    return "00-1" if pid == -1 else f"{pid:04d}"


def _tracklets(table: np.ndarray, paths: list[str], pids: np.ndarray, usable: np.ndarray) -> list[Tracklet | None]:
    """One Tracklet per table row (None for the rows that cannot be indexed)."""
    starts, ends = (table[:, 0] - 1).tolist(), table[:, 1].tolist()
    cams = np.clip(table[:, 3] - 1, 0, None).tolist()
    return [Tracklet(tuple(paths[s:e]), p, c) if ok else None
            for s, e, p, c, ok in zip(starts, ends, pids.tolist(), cams, usable.tolist())]


def _recorded(issues: Issues, kind: str, path: str, split: str, e: DatasetError) -> None:
    """A DatasetError about one index file: raised when loading, recorded (without the repeated path) when checking."""
    if not issues.collect:
        raise e
    issues.error(kind, path, str(e).removeprefix(f"{path}: "), split)


def load_mars_layout(root: str, name: str = "mars", protocol: str = "mars",
                     issues: Issues | None = None) -> VideoReIDDataset:
    """Read a MARS-layout root (see the module docstring) -> VideoReIDDataset with absolute frame paths.
    `issues`: a collecting Issues (vidreid data check) records every problem instead of raising at the first."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r} for dataset {name!r}; expected one of {', '.join(PROTOCOLS)}")
    issues = issues or Issues()
    root = os.path.abspath(os.fspath(root))
    info = os.path.join(root, "info")
    if not os.path.isdir(info):
        raise root_error(name, root, "no info/ folder" if os.path.isdir(root) else "no such folder", LAYOUT,
                         LAYOUT_SHORT, markers=("info",))
    tables, tracks, usable, tables_read = {}, {}, {}, {}
    train_pids = np.zeros(0, np.int64)
    for split, folder, names_file, table_file, var in _SPLITS:
        names_path, table_path = os.path.join(info, names_file), os.path.join(info, table_file)
        table, names = None, None
        try:
            table = _load_table(table_path, var)
        except DatasetError as e:
            _recorded(issues, "index", table_path, split, e)
        tables_read[split] = table is not None
        table = np.zeros((0, 4), np.int64) if table is None else table
        try:
            names = _load_names(names_path)
        except DatasetError as e:
            _recorded(issues, "index", names_path, split, e)
        if names is None:                                          # checking: nothing of this split can be indexed
            ok = np.zeros(len(table), dtype=bool)
            paths: list[str] = []
        else:
            ok = _check_rows(table, names, table_path, names_path, issues, split)
            paths = _frame_paths(os.path.join(root, folder), names)
        tables[split], usable[split] = table, ok
        if split == "train":
            train_pids = np.unique(table[ok, 2])
            tracks[split] = _tracklets(table, paths, np.searchsorted(train_pids, table[:, 2]), ok)
        else:
            tracks[split] = _tracklets(table, paths, table[:, 2], ok)

    query_path = os.path.join(info, "query_IDX.mat")
    n_test = len(tables["test"])
    query_rows = np.zeros(0, np.int64)
    try:
        query_idx = load_mat_var(query_path, "query_IDX", "MARS index file")
        if query_idx.ndim > 2 or (query_idx.ndim == 2 and min(query_idx.shape) != 1):
            raise DatasetError(f"{query_path}: query_IDX must be a vector of row numbers, got shape {query_idx.shape}")
        query_rows = query_idx.reshape(-1) - 1                     # 0-based rows of the test table
    except DatasetError as e:
        _recorded(issues, "index", query_path, "query", e)
    bad = np.flatnonzero((query_rows < 0) | (query_rows >= n_test))
    if not tables_read["test"]:                                    # (checking) already reported: no flood of rows
        bad = bad[:0]
    _each(issues.error, "index", query_path, [f"query_IDX value {v} is outside 1..{n_test} (the rows of "
                                              f"tracks_test_info.mat)" for v in (query_rows[bad] + 1).tolist()],
          "query")
    query_rows = query_rows[(query_rows >= 0) & (query_rows < n_test)]
    query_rows = query_rows[usable["test"][query_rows]]            # (checking) rows that could not be indexed

    keep = usable["test"].copy()
    if protocol == "gao":
        keep[query_rows] = False
        keep &= tables["test"][:, 2] != -1
    gallery_rows = np.flatnonzero(keep)
    test = tracks["test"]
    meta = {
        "train_pids": train_pids.tolist(),         # original MARS pid of train label i
        "query_rows": query_rows.tolist(),         # 0-based rows of the test table, one per query
        "gallery_rows": gallery_rows.tolist(),     # 0-based rows of the test table, one per gallery item
        "num_test_tracklets": n_test,
        "num_cameras": NUM_CAMERAS,
    }
    train = [t for t in tracks["train"] if t is not None]
    return VideoReIDDataset(name=name, root=root, train=train, query=[test[i] for i in query_rows.tolist()],
                            gallery=[test[i] for i in gallery_rows.tolist()], protocol=protocol, meta=meta)


def _check_split(name: str, split: int) -> None:
    if split != 0:
        raise ConfigError(f"dataset {name!r} has a single fixed train/test split; data.split must be 0, got {split}")


@register_dataset("mars", check=lambda root, issues, protocol="mars", **_: index_or_none(
    load_mars_layout, root, issues, name="mars", protocol=protocol))
def mars(root: str, protocol: str = "mars", split: int = 0) -> VideoReIDDataset:
    _check_split("mars", split)
    return load_mars_layout(root, "mars", protocol)


SYNTHPED_LAYOUT = (LAYOUT + "\n\nor, for SynthPed written with --layout dukev:\n"
                   "ROOT/\n├── train/<pid4>/<tracklet4>/<pid4>C<cam>F<frame4>X<frame5>.jpg\n"
                   "├── query/<pid4>/<tracklet4>/*.jpg\n└── gallery/<pid4>/<tracklet4>/*.jpg")


def synthped_layout(root: str) -> str:
    """The layout a SynthPed root is written in: `layout` of its synthped.json; without a readable marker, "dukev"
    when the root has train/, query/ and gallery/ but no info/, else "mars". Raises RootError when it has neither."""
    root = os.path.abspath(os.fspath(root))
    try:
        with open(os.path.join(root, "synthped.json")) as f:
            layout = json.load(f).get("config", {}).get("layout")
        if layout in ("mars", "dukev"):
            return layout
    except (OSError, ValueError, AttributeError):
        pass
    if os.path.isdir(os.path.join(root, "info")):
        return "mars"
    if all(os.path.isdir(os.path.join(root, s)) for s in ("train", "query", "gallery")):
        return "dukev"
    raise root_error("synthped", root, "no info/ folder (MARS layout) nor train/, query/ and gallery/ folders "
                     "(DukeV layout)" if os.path.isdir(root) else "no such folder", SYNTHPED_LAYOUT,
                     LAYOUT_SHORT + " (or, with --layout dukev, train/, query/ and gallery/)")


def _check_synthped(root: str, issues, protocol: str | None = None, **_):
    """data check of a SynthPed root, in whichever layout it was written (DukeV: query/ and gallery/ are disjoint and
    hold every test tracklet, so the gao split covers the whole root; MARS: the mars protocol lists junk too)."""
    if synthped_layout(root) == "dukev":
        from .dukev import load_dukev_layout
        return load_dukev_layout(root, "synthped", protocol or "gao", issues=issues)
    return index_or_none(load_mars_layout, root, issues, name="synthped", protocol=protocol or "mars")


@register_dataset("synthped", check=_check_synthped)
def synthped(root: str, protocol: str = "mars", split: int = 0, synth: dict | None = None) -> VideoReIDDataset:
    """SynthPed roots are written in the MARS layout by default, or the DukeV layout (see synthped_layout); the
    matching real loader reads them. `synth` (the generation options) is accepted for convenience and not used by
    the reader."""
    _check_split("synthped", split)
    if synthped_layout(root) == "dukev":
        from .dukev import load_dukev_layout
        return load_dukev_layout(root, "synthped", protocol)
    return load_mars_layout(root, "synthped", protocol)
