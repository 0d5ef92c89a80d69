"""Your own tracklets: a manifest file listing them, in JSON Lines or CSV.

    root = the manifest file (.jsonl / .ndjson / .json / .csv), or a folder holding manifest.jsonl or manifest.csv.

JSON Lines: one object per line (a .json file may instead hold one list of such objects):
    {"frames": ["cam1/p0007/0001.jpg", "cam1/p0007/0002.jpg"], "pid": 7, "camid": 0, "split": "train"}
    {"dir": "cam2/p0007/t3", "pid": 7, "camid": 1, "split": "query"}
CSV: a header naming the columns pid, camid, split and dir or frames (several paths in one cell separated by "|"):
    dir,pid,camid,split
    cam1/p0007/t1,7,0,train

Fields:
    frames | dir   the tracklet's frame files, or a folder whose image files (.jpg .jpeg .png .bmp) are its frames.
                   Relative paths are resolved against the manifest's folder; absolute paths are used as they are.
    pid            integer person id (below 2**62). train: >= 0 (relabelled 0..N-1 in sorted order, originals in
                   meta["train_pids"]); query/gallery: >= -1, where -1 marks junk (left out of the gao gallery).
    camid          integer camera index, 0-based (>= 0). Same pid + same camera is junk for that query.
    split          train | query | gallery.
Other keys/columns are ignored. Two rows of one split with the same dir (or frames list) are an error: the tracklet
would count twice. Frames are sorted by the numbers in their names (natural sort; `sort_frames=False`
keeps the order a "frames" list gives). The index never opens or stats a frame: a "dir" is listed once.

Protocols: gao (default): gallery = the gallery rows minus pid -1; mars: gallery = the query and gallery rows
together (the MARS rule that the gallery holds every test tracklet), evaluated with the MARS rules.
"""
from __future__ import annotations

import csv
import json
import os
import re

import numpy as np

from ..types import Tracklet, VideoReIDDataset
from .grouping import relabel
from .issues import Issues, check_protocol, index_or_none, root_error
from .names import as_str_array, image_names, natural_order
from .registry import register_dataset

SPLITS = ("train", "query", "gallery")
DEFAULT_NAMES = ("manifest.jsonl", "manifest.csv")
FRAME_SEPARATOR = "|"
LAYOUT = """\
ROOT/                                    a folder holding manifest.jsonl (or manifest.csv), or the file itself
├── manifest.jsonl                       one tracklet per line:
│     {"dir": "cam1/p0007/t1", "pid": 7, "camid": 0, "split": "train"}
│     {"frames": ["cam2/p0007/0001.jpg", ...], "pid": 7, "camid": 1, "split": "query"}
└── <your frames, anywhere; relative paths resolve against the manifest's folder>
manifest.csv: header dir|frames,pid,camid,split (frames: paths separated by "|")"""
LAYOUT_SHORT = ("a manifest.jsonl or manifest.csv (or the path of such a file) listing tracklets "
                "{frames | dir, pid, camid, split}")


def find_manifest(root: str, name: str = "manifest") -> str:
    root = os.path.abspath(os.fspath(root))
    if os.path.isfile(root):
        return root
    if os.path.isdir(root):
        for n in DEFAULT_NAMES:
            if os.path.isfile(os.path.join(root, n)):
                return os.path.join(root, n)
        raise root_error(name, root, f"no {' or '.join(DEFAULT_NAMES)} in this folder", LAYOUT, LAYOUT_SHORT)
    raise root_error(name, root, "no such file or folder", LAYOUT, LAYOUT_SHORT)


def _read_entries(path: str) -> list[tuple[int, object]]:
    """-> [(line number, raw entry)] from a JSON Lines, JSON list or CSV manifest."""
    from ...errors import DatasetError
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read the manifest ({e})") from None
    if path.lower().endswith(".csv"):
        reader = csv.DictReader(text.splitlines())
        cols = set(reader.fieldnames or [])
        need = {"pid", "camid", "split"} - cols
        if need or not ({"dir", "frames"} & cols):
            raise DatasetError(f"{path}: CSV header {sorted(cols)} lacks "
                               f"{', '.join(sorted(need)) or 'a dir or frames column'}; expected columns "
                               f"dir|frames, pid, camid, split")
        return [(i + 2, row) for i, row in enumerate(reader)]
    stripped = text.lstrip()
    if path.lower().endswith(".json") and stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}: invalid JSON ({e})") from None
        return [(i + 1, item) for i, item in enumerate(items)]
    entries = []
    for i, line in enumerate(text.splitlines(), 1):                 # loop over tracklets
        if not line.strip():
            continue
        try:
            entries.append((i, json.loads(line)))
        except json.JSONDecodeError as e:
            entries.append((i, f"invalid JSON ({e.msg} at column {e.colno})"))
    return entries


ID_LIMIT = 2 ** 62          # person and camera ids beyond this do not fit the int64 arrays of the index


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):   # ASCII digits ("²".isdigit() is True)
        return int(value.strip())
    return None


def _parse(entry) -> tuple[dict | None, str]:
    """Validate one entry -> ({"frames" | "dir", "pid", "camid", "split"}, "") or (None, what is wrong)."""
    if isinstance(entry, str):
        return None, entry
    if not isinstance(entry, dict):
        return None, f"expected an object {{frames | dir, pid, camid, split}}, got {type(entry).__name__}"
    frames, folder = entry.get("frames"), entry.get("dir")
    if isinstance(frames, str):                                     # CSV cell
        frames = [p.strip() for p in frames.split(FRAME_SEPARATOR) if p.strip()] or None
    if isinstance(folder, str) and not folder.strip():
        folder = None
    if (frames is None) == (folder is None):
        return None, "expected exactly one of 'frames' (a list of paths) and 'dir' (a folder of frames)"
    if frames is not None and not (isinstance(frames, list) and all(isinstance(p, str) and p for p in frames)):
        return None, "'frames' must be a list of file paths"
    if folder is not None and not isinstance(folder, str):
        return None, "'dir' must be a folder path"
    if "\0" in (folder or "") or any("\0" in p for p in frames or ()):      # no OS accepts a NUL in a path
        return None, f"{'dir' if folder is not None else 'frames'} holds a NUL character (\\x00): not a path"
    pid, camid = _as_int(entry.get("pid")), _as_int(entry.get("camid"))
    if pid is None or camid is None:
        missing = [k for k, v in (("pid", pid), ("camid", camid)) if v is None]
        return None, f"{' and '.join(missing)} must be integer(s), got " + ", ".join(
            f"{k}={entry.get(k)!r}" for k in missing)
    huge = [f"{k}={v}" for k, v in (("pid", pid), ("camid", camid)) if abs(v) >= ID_LIMIT]
    if huge:
        return None, f"{' and '.join(huge)} out of range (ids must be below 2**62; renumber them)"
    split = entry.get("split")
    split = split.strip() if isinstance(split, str) else split
    if split not in SPLITS:
        return None, f"split must be one of {', '.join(SPLITS)}, got {split!r}"
    return {"frames": frames, "dir": folder, "pid": pid, "camid": camid, "split": split}, ""


def _refuse_duplicate_rows(rows: list[tuple[int, dict]], path: str, issues: Issues) -> None:
    """Two lines of one split listing the same frames (same dir, or the same frames list): the tracklet would count
    twice (a query evaluated twice, a gallery match found twice), so it is an error naming both lines. The same
    tracklet in two splits is left to the protocol (e.g. `vidreid adapt` trains on footage it also evaluates on;
    `vidreid data check` reports frames listed by several tracklets)."""
    first: dict = {}
    dup_paths, dup_messages = [], []
    for line, e in rows:                                             # loop over tracklets (a dict lookup each)
        key = ("dir", os.path.normpath(e["dir"])) if e["dir"] is not None else ("frames", tuple(e["frames"]))
        key += (e["split"],)
        if key in first:
            dup_paths.append(f"{path}:{line}")
            dup_messages.append(f"duplicate of line {first[key]} (the same {key[0]} in split {key[2]}): a "
                                f"tracklet listed twice counts twice; delete one of the two lines")
        else:
            first[key] = line
    issues.error("index", dup_paths, dup_messages)


def build(root: str, protocol: str = "gao", sort_frames: bool = True, issues: Issues | None = None,
          name: str = "manifest") -> VideoReIDDataset:
    """Read a manifest (see the module docstring) -> VideoReIDDataset with absolute frame paths."""
    check_protocol(name, protocol, ("gao", "mars"))
    issues = issues or Issues()
    path = find_manifest(root, name)
    base = os.path.dirname(path)
    raw = _read_entries(path)
    parsed = [(line, *_parse(e)) for line, e in raw]
    bad = [(line, msg) for line, e, msg in parsed if e is None]
    issues.error("index", [f"{path}:{line}" for line, _ in bad], [m for _, m in bad])
    rows = [(line, e) for line, e, _ in parsed if e is not None]
    if not rows:
        issues.error("index", path, "no tracklet listed (expected one {frames | dir, pid, camid, split} per line)")

    def resolve(p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(base, p)

    # frames of every row: explicit lists as given, folders listed once each
    parts, owners, listed_order = [], [], []
    empty = []
    for i, (line, e) in enumerate(rows):                            # loop over tracklets
        if e["frames"] is not None:
            frames = as_str_array(e["frames"])
            rel = ~np.char.startswith(frames, os.sep)
            frames = np.where(rel, np.char.add(base + os.sep, frames), frames)
            keep_order = not sort_frames
        else:
            folder = resolve(e["dir"])
            try:
                names = image_names(sorted(os.listdir(folder)))
            except OSError as err:
                issues.error("missing_frame", folder, f"tracklet folder of {os.path.basename(path)} line {line} "
                                                      f"cannot be listed ({err.strerror or err})", e["split"])
                names = np.zeros(0, "<U1")
            frames = np.char.add(folder + os.sep, names) if len(names) else names
            keep_order = False
        if len(frames) == 0:
            empty.append(i)
            continue
        parts.append(frames)
        owners.append(np.full(len(frames), i))
        listed_order.append(np.arange(len(frames)) if keep_order else np.full(len(frames), -1))
    issues.drop("empty_tracklet", [f"{path}:{rows[i][0]}" for i in empty], "tracklet without frames",
                [rows[i][1]["split"] for i in empty])
    if parts:
        paths = np.concatenate([p.astype(str) for p in parts])
        owner, listed = np.concatenate(owners), np.concatenate(listed_order)
        rank = np.empty(len(paths), dtype=np.int64)
        rank[natural_order(paths, owner)] = np.arange(len(paths))
        order = np.lexsort((np.where(listed >= 0, listed, rank), owner))
        paths, owner = paths[order].tolist(), owner[order]
    else:
        paths, owner = [], np.zeros(0, np.int64)
    n = len(rows)
    starts = np.searchsorted(owner, np.arange(n)).tolist()
    ends = np.searchsorted(owner, np.arange(n), "right").tolist()

    split = np.array([e["split"] for _, e in rows] or [""])
    pid = np.array([e["pid"] for _, e in rows], dtype=np.int64)
    cam = np.array([e["camid"] for _, e in rows], dtype=np.int64)
    out = np.flatnonzero(((split == "train") & (pid < 0)) | (pid < -1) | (cam < 0)) if n else np.zeros(0, int)
    issues.error("out_of_range", [f"{path}:{rows[i][0]}" for i in out.tolist()],
                 [f"pid {pid[i]} / camid {cam[i]}: expected camid >= 0 and pid >= 0 (train) or >= -1 (query, "
                  f"gallery; -1 = junk)" for i in out.tolist()], split[out].tolist() if n else "")
    _refuse_duplicate_rows(rows, path, issues)
    nonempty = np.array([ends[i] > starts[i] for i in range(n)], dtype=bool)
    rows_of = {s: np.flatnonzero((split == s) & nonempty) if n else np.zeros(0, int) for s in SPLITS}
    labels, train_pids = relabel(pid[rows_of["train"]])
    final_pid = pid.copy()
    final_pid[rows_of["train"]] = labels
    pid_list, cam_list = final_pid.tolist(), np.clip(cam, 0, None).tolist()

    def tracklets(idx) -> list[Tracklet]:
        return [Tracklet(tuple(paths[starts[i]:ends[i]]), pid_list[i], cam_list[i]) for i in idx.tolist()]

    query = tracklets(rows_of["query"])
    if protocol == "gao":
        gallery = tracklets(rows_of["gallery"][pid[rows_of["gallery"]] != -1])
    else:
        gallery = query + tracklets(rows_of["gallery"])
    meta = {"manifest": path, "train_pids": train_pids.tolist(),
            "lines": {s: [rows[i][0] for i in rows_of[s].tolist()] for s in SPLITS}}
    return VideoReIDDataset(name=name, root=base, train=tracklets(rows_of["train"]), query=query, gallery=gallery,
                            protocol=protocol, meta=meta)


@register_dataset("manifest", check=lambda root, issues, **options: index_or_none(build, root, issues, **options))
def manifest(root: str, protocol: str = "gao", split: int = 0, sort_frames: bool = True) -> VideoReIDDataset:
    if split != 0:
        from ...errors import ConfigError
        raise ConfigError(f"dataset 'manifest' has the one split its file gives; data.split must be 0, got {split}")
    return build(root, protocol, sort_frames)
