"""Helpers shared by the dataset loaders: vectorised file-name parsing, folder listing without stat'ing frames,
the problem collector that `vidreid data check` reuses, and the wrong-root error that carries the expected tree.

File names are parsed on their unicode code points (a (N, width) uint32 view, processed in row chunks), so building
an index of a million frames never runs a Python loop over frames.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np
import scipy.io

from ...errors import ConfigError, DatasetError
from ...utils.io import atomic_write_text  # noqa: F401  (the one copy of the atomic write; check.py imports it here)
from ..types import Tracklet
from ..decode import DataWarning

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_CHUNK = 1 << 16     # names parsed per block (bounds the (rows, width) temporaries to a few tens of MB)
_MAX_DIGITS = 18     # longest digit run read as an integer (int64)
_MAX_RUNS = 8        # digit runs compared by natural_order before falling back to the plain name


class DatasetWarning(DataWarning):
    """A dataset problem that does not stop loading (e.g. an empty tracklet folder, dropped)."""


class RootError(DatasetError):
    """The dataset root is missing or does not have the expected layout; `.layout` is the expected tree."""

    def __init__(self, message: str, layout: str = ""):
        super().__init__(message)
        self.layout = layout


def root_error(name: str, root: str, problem: str, layout: str, short: str,
               markers: Sequence[str] = ()) -> RootError:
    """One-line message (root, what is wrong, the expected layout in one line); the full tree in `.layout`.
    `markers`: the folders a right root holds; when a folder below `root` holds them all (the official archive and
    torchreid unpack into e.g. ROOT/DukeMTMC-VideoReID/), the message names it."""
    nested = find_nested_root(root, markers) if markers else None
    hint = f"; the dataset seems to be one level down: use {nested} as the root" if nested else ""
    return RootError(f"{name} root {root}: {problem}; expected {short}{hint}", layout)


def find_nested_root(root: str, markers: Sequence[str], depth: int = 2, max_entries: int = 64) -> str | None:
    """The first folder at most `depth` levels below `root` that holds every folder in `markers` (only the first
    `max_entries` subfolders of each folder are looked at: a data folder with thousands of entries is not scanned)."""
    level = [root]
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                with os.scandir(folder) as it:
                    subdirs = sorted(e.path for e in it if e.is_dir() and not e.name.startswith("."))[:max_entries]
            except OSError:
                continue
            for sub in subdirs:
                if all(os.path.isdir(os.path.join(sub, m)) for m in markers):
                    return sub
            below += subdirs
        level = below[:max_entries]
    return None


def check_protocol(name: str, protocol: str, allowed: Sequence[str] = ("gao",)) -> None:
    if protocol not in allowed:
        why = (" (its query/gallery split is evaluated with the gao rules; the mars protocol, whose gallery includes "
               "the queries, is for MARS-layout datasets)" if allowed == ("gao",) and protocol == "mars" else "")
        raise ConfigError(f"dataset {name!r} supports protocol {' or '.join(allowed)}, got {protocol!r}{why}; "
                          f"set data.protocol={allowed[0]}")


# ------------------------------------------------------------------------------------------------ problems
@dataclass
class Problem:
    kind: str         # see KINDS
    path: str         # the file or folder concerned
    message: str      # what is wrong, and what was expected
    split: str = ""   # train | query | gallery | test | ... ("" when not tied to one)

    def to_dict(self) -> dict:
        return asdict(self)


KINDS = {  # kind -> heading printed by `vidreid data check`
    "missing_frame": "missing frame",
    "unreadable_frame": "unreadable frame",
    "corrupt_image": "corrupt image",
    "empty_tracklet": "empty tracklet",
    "no_readable_frame": "tracklet without a readable frame",
    "name_mismatch": "name/metadata mismatch",
    "out_of_range": "pid/camera out of range",
    "duplicate_frame": "frame in several tracklets",
    "index": "index file problem",
    "split_file": "split file problem",
}


class Issues:
    """Where a loader reports what it finds wrong.

    Loading (collect=False): `error` raises a DatasetError naming the first file and the number of such problems;
    `drop` (the item is left out, e.g. an empty tracklet) warns once with the count. Checking (collect=True, used by
    `vidreid data check`): both record every problem and the loader carries on."""

    def __init__(self, collect: bool = False):
        self.collect = collect
        self.problems: list[Problem] = []

    def error(self, kind: str, paths, messages, split="") -> None:
        paths, messages = _as_lists(paths, messages)
        if not paths:
            return
        if not self.collect:
            more = f" ({len(paths)} such problems)" if len(paths) > 1 else ""
            raise DatasetError(f"{paths[0]}: {messages[0]}{more}")
        self._record(kind, paths, messages, split)

    def drop(self, kind: str, paths, messages, split="") -> None:
        paths, messages = _as_lists(paths, messages)
        if not paths:
            return
        if not self.collect:
            more = f" (and {len(paths) - 1} more like it)" if len(paths) > 1 else ""
            warnings.warn(f"{paths[0]}: {messages[0]}; left out{more}", DatasetWarning, stacklevel=3)
        self._record(kind, paths, messages, split)

    def _record(self, kind, paths, messages, split) -> None:
        splits = [split] * len(paths) if isinstance(split, str) else [str(s) for s in split]
        self.problems.extend(Problem(kind, p, m, s) for p, m, s in zip(paths, messages, splits))


def _as_lists(paths, messages) -> tuple[list[str], list[str]]:
    paths = [paths] if isinstance(paths, str) else [str(p) for p in paths]
    messages = [messages] * len(paths) if isinstance(messages, str) else [str(m) for m in messages]
    return paths, messages


# ------------------------------------------------------------------------------------------------ files
def list_dir(path: str, issues: Issues | None = None, what: str = "folder") -> list[str]:
    """Sorted entry names of a folder (no stat of the entries). A missing/unreadable folder raises DatasetError, or
    with a collecting `issues` is recorded and gives []."""
    try:
        return sorted(os.listdir(path))
    except OSError as e:
        msg = f"cannot list this {what} ({e.strerror or e})"
        if issues is None or not issues.collect:
            raise DatasetError(f"{path}: {msg}") from None
        issues.error("index", path, msg)
        return []


def list_subdirs(path: str, issues: Issues | None = None, what: str = "folder") -> list[str]:
    """Sorted names of the sub-folders of `path` (dirent types, no stat on common file systems)."""
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir())
    except OSError as e:
        msg = f"cannot list this {what} ({e.strerror or e})"
        if issues is None or not issues.collect:
            raise DatasetError(f"{path}: {msg}") from None
        issues.error("index", path, msg)
        return []


def image_names(names: Iterable[str]) -> np.ndarray:
    """The image files among folder entry names (.jpg .jpeg .png .bmp, any case) as a unicode array, in the given
    order; other files (Thumbs.db, .DS_Store, notes) are ignored."""
    arr = as_str_array(names)
    if arr.size == 0:
        return arr
    keep = np.zeros(len(arr), dtype=bool)
    lower = np.char.lower(arr)
    for ext in IMAGE_EXTENSIONS:
        keep |= np.char.endswith(lower, ext)
    keep &= ~np.char.startswith(arr, ".")
    return arr[keep]


def as_str_array(names) -> np.ndarray:
    arr = np.asarray(list(names) if not isinstance(names, np.ndarray) else names)
    if arr.size == 0:
        return np.zeros(0, dtype="<U1")
    if arr.dtype.kind != "U":
        arr = arr.astype(str)
    return arr


def join_paths(folders: np.ndarray, names: np.ndarray) -> list[str]:
    """folders[i] + os.sep + names[i] for every i (numpy string ops, no Python loop) -> list of str."""
    if len(names) == 0:
        return []
    return np.char.add(np.char.add(as_str_array(folders), os.sep), as_str_array(names)).tolist()


def atomic_write_json(path: str, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


def load_mat_var(path: str, var: str, what: str) -> np.ndarray:
    """A numeric variable of a .mat file as int64 (MATLAB v5/v7 via scipy; v7.3/HDF5 via h5py when installed)."""
    if not os.path.isfile(path):
        raise DatasetError(f"missing {what} {path} (expected a .mat file with variable {var!r})")
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:     # MATLAB v7.3 = HDF5
        mat = _load_mat_v73(path, var, what)
    except Exception as e:          # scipy raises ValueError/TypeError/... on garbage
        raise DatasetError(f"{path}: not a readable .mat file ({type(e).__name__}: {e}); expected variable "
                           f"{var!r}") from None
    if var not in mat:
        found = [k for k in mat if not k.startswith("__")]
        raise DatasetError(f"{path}: expected variable {var!r} in this {what}, found {found or 'none'}")
    arr = np.asarray(mat[var])
    if arr.dtype.kind not in "iuf" or arr.size == 0:
        raise DatasetError(f"{path}: variable {var!r} must be a non-empty numeric array, got dtype {arr.dtype} "
                           f"shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise DatasetError(f"{path}: variable {var!r} must hold integers")
    return arr.astype(np.int64)


def _load_mat_v73(path: str, var: str, what: str) -> dict:
    try:
        import h5py
    except ImportError:
        raise DatasetError(f"{path}: a MATLAB v7.3 (HDF5) {what}; reading it needs h5py (pip install h5py), or "
                           f"re-save it with MATLAB's -v7 (expected variable {var!r})") from None
    try:
        with h5py.File(path, "r") as f:
            # HDF5 stores MATLAB arrays transposed (column-major); undo it so shapes match scipy's
            return {k: np.asarray(f[k]).T for k in f.keys() if hasattr(f[k], "shape")}
    except OSError as e:
        raise DatasetError(f"{path}: not a readable MATLAB v7.3 file ({e}); expected variable {var!r}") from None


def relabel(pids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (labels 0..N-1 in sorted order of the original pids, the sorted original pids)."""
    unique = np.unique(pids)
    return np.searchsorted(unique, pids), unique


# ------------------------------------------------------------------------------------------------ name parsing
def code_points(names: np.ndarray) -> np.ndarray:
    """(N,) unicode array -> (N, width) uint32 code points, 0-padded at the end of each row."""
    names = as_str_array(names)
    if names.size == 0:
        return np.zeros((0, 1), dtype=np.uint32)
    return names.view(np.uint32).reshape(len(names), -1)


def _run_value(codes: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value of the digit run that starts at column start[i] of row i -> (int64 values, valid: >= 1 digit, number
    of digits)."""
    n, w = codes.shape
    cols = np.arange(w)
    digit = (codes >= 48) & (codes <= 57)
    after = cols >= start[:, None]
    stop = after & ~digit
    first_stop = np.where(stop.any(1), stop.argmax(1), w)          # first non-digit at or after start
    length = first_stop - start
    valid = (start >= 0) & (start < w) & (length >= 1) & (length <= _MAX_DIGITS)
    run = after & (cols < first_stop[:, None]) & valid[:, None]
    exponent = np.clip(first_stop[:, None] - 1 - cols, 0, _MAX_DIGITS)
    values = np.where(run, (codes.astype(np.int64) - 48) * (10 ** exponent), 0).sum(1)
    return values, valid, np.where(valid, length, 0)


def int_at(names, start, digits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integer formed by the digits starting at character `start` (int or per-name array) of every name, up to the
    first non-digit -> (int64 values, valid mask: at least one digit there, exactly `digits` if given)."""
    names = as_str_array(names)
    n = len(names)
    start = np.broadcast_to(np.asarray(start, dtype=np.int64), (n,))
    values, valid = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        values[a:b], ok, length = _run_value(code_points(names[a:b]), start[a:b])
        valid[a:b] = ok & (length == digits) if digits is not None else ok
    return values, valid


def find_char(names, char: str, last: bool = False, nth: int = 1) -> np.ndarray:
    """Index of the nth (1-based; or the last) occurrence of `char` in every name, -1 where absent."""
    names = as_str_array(names)
    out = np.full(len(names), -1, dtype=np.int64)
    for a in range(0, len(names), _CHUNK):
        codes = code_points(names[a:a + _CHUNK])
        hit = codes == ord(char)
        if last:
            pos, found = codes.shape[1] - 1 - hit[:, ::-1].argmax(1), hit.any(1)
        else:
            at = hit & (np.cumsum(hit, 1) == nth)
            pos, found = at.argmax(1), at.any(1)
        out[a:a + _CHUNK] = np.where(found, pos, -1)
    return out


def int_after(names, char: str, last: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Integer right after the first (or last) `char` of every name (e.g. the F index of a DukeV frame name)."""
    pos = find_char(names, char, last)
    values, valid = int_at(names, np.where(pos >= 0, pos + 1, -1))
    return values, valid & (pos >= 0)


def natural_order(names, group: np.ndarray | None = None) -> np.ndarray:
    """Stable argsort of `names` that compares digit runs as numbers ("f9" < "f10"), within `group` if given.

    Key: (group, the name with its digits removed, the values of its first 8 digit runs, the name itself). Frames of
    one tracklet share the digit-free part, so they are ordered by their numbers, run by run."""
    names = as_str_array(names)
    n = len(names)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    skeleton = np.empty(n, dtype=names.dtype)
    runs = np.full((n, _MAX_RUNS), -1, dtype=np.int64)
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        codes = code_points(names[a:b])
        digit = (codes >= 48) & (codes <= 57)
        # digit-free text: stable-sort each row's digits to its end and blank them
        order = np.argsort(digit, axis=1, kind="stable")
        blanked = np.where(digit, 0, codes)
        skeleton[a:b] = np.ascontiguousarray(np.take_along_axis(blanked, order, 1)).view(names.dtype).ravel()
        starts = digit & ~np.pad(digit, ((0, 0), (1, 0)))[:, :-1]
        run_no = np.cumsum(starts, 1)                              # k-th run starts where run_no == k and starts
        for k in range(1, _MAX_RUNS + 1):                          # loop over digit runs, not over names
            at = starts & (run_no == k)
            has = at.any(1)
            if not has.any():
                break
            vals, _, _ = _run_value(codes, np.where(has, at.argmax(1), -1))
            runs[a:b, k - 1] = np.where(has, vals, -1)
    keys = [names] + [runs[:, k] for k in range(_MAX_RUNS - 1, -1, -1)] + [skeleton]
    if group is not None:
        keys.append(np.asarray(group))
    return np.lexsort(keys)


def majority(owner: np.ndarray, values: np.ndarray, valid: np.ndarray, num: int) -> tuple[np.ndarray, np.ndarray]:
    """The most common valid value of each owner 0..num-1 (ties: the value met first) -> (values (num,) int64, has
    (num,) bool: the owner has at least one valid value). Used for a tracklet's camera, so that one stray or
    unparsable frame name is one problem, not a mismatch of every other frame against it."""
    out, has = np.zeros(num, dtype=np.int64), np.zeros(num, dtype=bool)
    pos = np.flatnonzero(valid)
    if pos.size == 0:
        return out, has
    o, v = owner[pos], values[pos]
    order = np.lexsort((pos, v, o))                                 # by owner, value, then first occurrence
    o, v, pos = o[order], v[order], pos[order]
    run = np.flatnonzero(np.r_[True, (o[1:] != o[:-1]) | (v[1:] != v[:-1])])
    count = np.diff(np.r_[run, len(o)])
    run_o, run_v, run_first = o[run], v[run], pos[run]
    best = np.lexsort((run_first, -count, run_o))                   # per owner: most frequent, then earliest
    lead = best[np.r_[True, run_o[best][1:] != run_o[best][:-1]]]
    out[run_o[lead]], has[run_o[lead]] = run_v[lead], True
    return out, has


def group_bounds(group: np.ndarray, num_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """For a sorted group-id array: (start, end) of each group 0..num_groups-1 (end exclusive)."""
    ids = np.arange(num_groups)
    return np.searchsorted(group, ids, "left"), np.searchsorted(group, ids, "right")


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


def tracklet_slices(owner: np.ndarray, num: int) -> tuple[list[int], list[int]]:
    """For names sorted by owner: [start, end) of each owner 0..num-1 as Python lists."""
    ids = np.arange(num)
    return np.searchsorted(owner, ids, "left").tolist(), np.searchsorted(owner, ids, "right").tolist()


def two_camera_split(rows: list, starts, ends, paths: list, person_no: list, people: list, train_people: set,
                     test_people: set) -> tuple[list, list, list, np.ndarray]:
    """Train / query / gallery of a two-camera dataset (iLIDS-VID, PRID2011): `rows[i] = (camera 0|1, person)` with
    frames `paths[starts[i]:ends[i]]`; train = both cameras of the train people (pids relabelled), query = camera 0
    and gallery = camera 1 of the test people (original person numbers). Empty sequences are left out."""
    row_of = {(k, p): i for i, (k, p) in enumerate(rows) if ends[i] > starts[i]}

    def tracklet(i: int, pid: int) -> Tracklet:
        return Tracklet(tuple(paths[starts[i]:ends[i]]), pid, rows[i][0])

    train_rows = [row_of[(k, p)] for p in people if p in train_people for k in range(2) if (k, p) in row_of]
    labels, train_pids = relabel(np.array([person_no[i] for i in train_rows], dtype=np.int64))
    train = [tracklet(i, lab) for i, lab in zip(train_rows, labels.tolist())]
    query, gallery = ([tracklet(row_of[(k, p)], person_no[row_of[(k, p)]]) for p in people
                       if p in test_people and (k, p) in row_of] for k in (0, 1))
    return train, query, gallery, train_pids
