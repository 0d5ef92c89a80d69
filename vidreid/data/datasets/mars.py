"""MARS (Zheng et al., "MARS: A Video Benchmark for Large-Scale Person Re-identification", ECCV 2016) and every
dataset written in its layout (SynthPed by default).

Layout (root/):
    bbox_train/<pid4>/<name>.jpg, bbox_test/<pid4>/<name>.jpg   names like 0001C1T0001F001.jpg: pid (4 chars,
                                                                "00-1" = junk, "0000" = distractor), camera digit
                                                                after C, tracklet after T, frame after F
    info/train_name.txt, info/test_name.txt     one frame name per line, in the order the track tables index
    info/tracks_train_info.mat                  variable track_train_info (N, 4): [start, end, pid, camid], start/end
    info/tracks_test_info.mat                   track_test_info: 1-based inclusive lines of the name list, camid 1..
    info/query_IDX.mat                          query_IDX: 1-based rows of the test table

The index is built from info/ alone (no frame is opened or stat'ed: MARS has 1.19 M frames), with numpy over the
name lists; every frame's pid and camera in its name must agree with its table row.

Protocols (shared spec "Evaluation"): query = the query_IDX rows of the test table;
    mars: gallery = every test tracklet, queries and junk (pid -1) included (12180 on MARS);
    gao:  gallery = test tracklets minus the queries and minus pid -1 (9330 on MARS; Gao & Nevatia, torchreid).
Train pids are relabelled 0..N-1 in sorted order of the original pids (kept in meta["train_pids"]); test pids are
kept as they are.
"""
from __future__ import annotations

import os

import numpy as np

from ...errors import ConfigError, DatasetError
from ..types import Tracklet, VideoReIDDataset
from . import register_dataset  # defined in datasets/__init__.py before this module is imported
from ._common import load_mat_var

PROTOCOLS = ("mars", "gao")
_SPLITS = (  # (frames folder, name list, table file, table variable)
    ("train", "bbox_train", "train_name.txt", "tracks_train_info.mat", "track_train_info"),
    ("test", "bbox_test", "test_name.txt", "tracks_test_info.mat", "track_test_info"),
)


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
    codes = names.view(np.uint32).reshape(len(names), -1)         # (N, w)
    prefix = np.array([ord(c) for c in folder + os.sep], dtype=np.uint32)
    p, w = len(prefix), codes.shape[1]
    out = np.empty((len(names), p + 5 + w), dtype=np.uint32)
    out[:, :p] = prefix
    out[:, p:p + 4] = codes[:, :4]
    out[:, p + 4] = ord(os.sep)
    out[:, p + 5:] = codes                                         # 0-padding only ever at the end of a row
    return out.view(f"<U{p + 5 + w}").ravel().tolist()


def _check_rows(table: np.ndarray, names: np.ndarray, table_path: str, names_path: str) -> None:
    """Row ranges inside the name list; every frame's pid and camera (from its name) equal to its row's."""
    start, end, pid, cam = table.T
    n = len(names)
    bad = np.flatnonzero((start < 1) | (end < start) | (end > n))
    if bad.size:
        r = bad[0]
        raise DatasetError(f"{table_path}: row {r + 1} spans lines {start[r]}..{end[r]}, expected 1 <= start <= end "
                           f"<= {n} (the number of names in {names_path}); {bad.size} bad row(s)")
    bad = np.flatnonzero((cam < 1) | (pid < -1))
    if bad.size:
        r = bad[0]
        raise DatasetError(f"{table_path}: row {r + 1} has pid {pid[r]} camid {cam[r]}, expected pid >= -1 and "
                           f"camid >= 1 (1-based cameras)")
    lengths = end - start + 1
    # 0-based name index of every frame of every row: concatenated ranges [start-1, end)
    offsets = np.cumsum(lengths) - lengths
    frame_idx = np.arange(lengths.sum()) + np.repeat(start - 1 - offsets, lengths)
    name_pid, name_cam, valid = _parse_names(names)
    row_of_frame = np.repeat(np.arange(len(table)), lengths)
    wrong = ~valid[frame_idx] | (name_pid[frame_idx] != pid[row_of_frame]) | (name_cam[frame_idx] != cam[row_of_frame])
    bad = np.flatnonzero(wrong)
    if bad.size:
        f, r = frame_idx[bad[0]], row_of_frame[bad[0]]
        raise DatasetError(f"{names_path}: line {f + 1} {names[f]!r} does not match row {r + 1} of {table_path} "
                           f"(pid {pid[r]}, camera {cam[r]}): expected a name like "
                           f"'{_pid4(pid[r])}C{cam[r]}T....F....jpg'; {bad.size} mismatching frame(s)")


def _pid4(pid: int) -> str:
    return "00-1" if pid == -1 else f"{pid:04d}"


def _tracklets(table: np.ndarray, paths: list[str], pids: np.ndarray) -> list[Tracklet]:
    starts, ends, cams = (table[:, 0] - 1).tolist(), table[:, 1].tolist(), (table[:, 3] - 1).tolist()
    return [Tracklet(tuple(paths[s:e]), p, c) for s, e, p, c in zip(starts, ends, pids.tolist(), cams)]


def load_mars_layout(root: str, name: str = "mars", protocol: str = "mars") -> VideoReIDDataset:
    """Read a MARS-layout root (see the module docstring) -> VideoReIDDataset with absolute frame paths."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r} for dataset {name!r}; expected one of {', '.join(PROTOCOLS)}")
    root = os.path.abspath(os.fspath(root))
    info = os.path.join(root, "info")
    if not os.path.isdir(info):
        raise DatasetError(f"{name} root {root} has no info/ folder (expected the MARS layout: bbox_train/, "
                           f"bbox_test/, info/ with train_name.txt, test_name.txt, tracks_*_info.mat, query_IDX.mat)")
    tables, tracks = {}, {}
    for split, folder, names_file, table_file, var in _SPLITS:
        names_path, table_path = os.path.join(info, names_file), os.path.join(info, table_file)
        table = _load_table(table_path, var)
        names = _load_names(names_path)
        _check_rows(table, names, table_path, names_path)
        tables[split] = table
        paths = _frame_paths(os.path.join(root, folder), names)
        if split == "train":
            train_pids = np.unique(table[:, 2])
            tracks[split] = _tracklets(table, paths, np.searchsorted(train_pids, table[:, 2]))
        else:
            tracks[split] = _tracklets(table, paths, table[:, 2])

    query_path = os.path.join(info, "query_IDX.mat")
    query_idx = load_mat_var(query_path, "query_IDX", "MARS index file")
    if query_idx.ndim > 2 or (query_idx.ndim == 2 and min(query_idx.shape) != 1):
        raise DatasetError(f"{query_path}: query_IDX must be a vector of row numbers, got shape {query_idx.shape}")
    query_rows = query_idx.reshape(-1) - 1                         # 0-based rows of the test table
    n_test = len(tables["test"])
    bad = np.flatnonzero((query_rows < 0) | (query_rows >= n_test))
    if bad.size:
        raise DatasetError(f"{query_path}: query_IDX value {query_rows[bad[0]] + 1} is outside 1..{n_test} "
                           f"(the rows of tracks_test_info.mat); {bad.size} bad value(s)")

    if protocol == "mars":
        gallery_rows = np.arange(n_test)
    else:
        keep = np.ones(n_test, dtype=bool)
        keep[query_rows] = False
        keep &= tables["test"][:, 2] != -1
        gallery_rows = np.flatnonzero(keep)
    test = tracks["test"]
    meta = {
        "train_pids": train_pids.tolist(),         # original MARS pid of train label i
        "query_rows": query_rows.tolist(),         # 0-based rows of the test table, one per query
        "gallery_rows": gallery_rows.tolist(),     # 0-based rows of the test table, one per gallery item
        "num_test_tracklets": n_test,
    }
    return VideoReIDDataset(name=name, root=root, train=tracks["train"], query=[test[i] for i in query_rows.tolist()],
                            gallery=[test[i] for i in gallery_rows.tolist()], protocol=protocol, meta=meta)


def _check_split(name: str, split: int) -> None:
    if split != 0:
        raise ConfigError(f"dataset {name!r} has a single fixed train/test split; data.split must be 0, got {split}")


@register_dataset("mars")
def mars(root: str, protocol: str = "mars", split: int = 0) -> VideoReIDDataset:
    _check_split("mars", split)
    return load_mars_layout(root, "mars", protocol)


@register_dataset("synthped")
def synthped(root: str, protocol: str = "mars", split: int = 0, synth: dict | None = None) -> VideoReIDDataset:
    """SynthPed roots are written in the MARS layout by default, or the DukeV layout (`layout` in the root's
    synthped.json); the matching real loader reads them. `synth` (the generation options) is accepted for
    convenience and not used by the reader."""
    _check_split("synthped", split)
    import json
    marker = os.path.join(root, "synthped.json")
    layout = "mars"
    if os.path.isfile(marker):
        try:
            with open(marker) as f:
                layout = json.load(f).get("config", {}).get("layout", "mars")
        except (OSError, ValueError):
            pass
    if layout == "dukev":
        from .dukev import load_dukev_layout
        return load_dukev_layout(root, "synthped", protocol)
    return load_mars_layout(root, "synthped", protocol)
