"""Vectorised file-name parsing: integers at a position or after a character, natural ("f9" < "f10") order, the
image files among folder entries, path joins.

Names are parsed on their unicode code points (a (N, width) uint32 view, processed in row chunks), so building an
index of a million frames never runs a Python loop over frames.
"""
from __future__ import annotations

import os
from typing import Iterable

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_CHUNK = 1 << 16     # names parsed per block (bounds the (rows, width) temporaries to a few tens of MB)
_MAX_DIGITS = 18     # longest digit run read as an integer (int64)
_MAX_RUNS = 8        # digit runs compared by natural_order before falling back to the plain name


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
