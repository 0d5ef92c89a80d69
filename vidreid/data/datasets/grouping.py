"""From parsed frame names to tracklets: each tracklet's slice of the sorted names, its majority camera, train pid
relabelling, and the train/query/gallery split of two-camera datasets."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..types import Tracklet
from .issues import Issues
from .names import join_paths


def relabel(pids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (labels 0..N-1 in sorted order of the original pids, the sorted original pids)."""
    unique = np.unique(pids)
    return np.searchsorted(unique, pids), unique


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


def frames_by_number(folders: Sequence[str], names: np.ndarray, owner: np.ndarray, number: np.ndarray,
                     issues: Issues, what: str) -> tuple[list[str], list[int], list[int]]:
    """Frame files (`names` in folder `folders[owner]`, frame `number`) sorted by folder then number -> (paths,
    starts, ends: folder i's frames are paths[starts[i]:ends[i]]). A number met twice in a folder is an error."""
    order = np.lexsort((names, number, owner))
    names, owner, number = names[order], owner[order], number[order]
    dup = np.flatnonzero((owner[1:] == owner[:-1]) & (number[1:] == number[:-1])) + 1
    if dup.size:
        issues.error("name_mismatch", join_paths(np.array(folders)[owner[dup]], names[dup]),
                     [f"frame number {n} appears twice in this {what}" for n in number[dup].tolist()])
    paths = join_paths(np.array(folders or [""])[owner], names)
    return (paths, *tracklet_slices(owner, len(folders)))


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
