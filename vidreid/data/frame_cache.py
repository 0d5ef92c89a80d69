"""Pre-decoded uint8 frame cache: every frame of a dataset decoded once into one memory-mapped file, so loaders copy
pixels instead of decoding JPEGs (`data.frame_cache: FOLDER`, built by `vidreid cache build`).

Folder layout (written to a temporary sibling folder and renamed into place in one step, utils/io.atomic_folder):
  frames.u8   raw uint8 (N, H, W, 3), frame i at byte offset i * H * W * 3 (read with numpy.memmap)
  paths.txt   the N frame paths (absolute), one a line, in row order
  stats.npy   int64 (N, 2): each source file's size and mtime (ns) when the cache was built (-1, -1: unreadable)
  cache.json  format, version, height, width, count, key (sha256 of the paths and stats), unreadable rows

Frames are stored at the input size (height, width): a frame that decodes at another size is resized with the test
transform's resize (ClipTransform.resize) and rounded to uint8 (within 0.5 of the decode path's floats); frames
already at the size (MARS, SynthPed at 256x128) are stored exactly as decoded. Unreadable frames are not stored: a
clip touching one is decoded from the files, where decode.read_clip warns and fills it as usual.

Staleness: opening a cache stats every source file again; a changed size or mtime (or a missing file) refuses the
cache with one line naming the first changed file (`FrameCacheError`). Nothing is overwritten without --force.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Callable, Sequence

import numpy as np

from ..errors import DatasetError, OutputError
from ..utils.io import atomic_folder, check_replaceable_folder, fsync_path
from .decode import FrameReadError, read_frame

FORMAT, VERSION = "vidreid-frame-cache", 1
MARKER = "cache.json"
SPACE_MARGIN = 64 << 20          # free bytes left over after the cache, at least


class FrameCacheError(DatasetError):
    """A frame cache that cannot be used: missing, of another size, or stale."""


def cache_bytes(count: int, height: int, width: int) -> int:
    """Bytes the cache of `count` frames takes on disk: the pixels; the path list and metadata are added by the
    caller's estimate (`estimate_bytes`)."""
    return int(count) * int(height) * int(width) * 3


def estimate_bytes(paths: Sequence[str], height: int, width: int) -> int:
    """Bytes a cache of these frames will take: pixels + the path list + stats (16 bytes a frame) + metadata."""
    return cache_bytes(len(paths), height, width) + sum(len(p.encode("utf-8", "surrogateescape")) + 1 for p in paths) \
        + 16 * len(paths) + 4096


def file_stats(paths: Sequence[str]) -> np.ndarray:
    """int64 (N, 2): size and mtime in ns of each file, (-1, -1) for a missing one."""
    out = np.full((len(paths), 2), -1, dtype=np.int64)
    for i, p in enumerate(paths):                                # one stat per file: the OS offers no batch call
        try:
            st = os.stat(p)
        except OSError:
            continue
        out[i] = st.st_size, st.st_mtime_ns
    return out


def cache_key(paths: Sequence[str], stats: np.ndarray, height: int, width: int) -> str:
    """sha256 of the frame size, the frame list and its files' sizes and mtimes: the cache's identity."""
    h = hashlib.sha256(f"{FORMAT} {VERSION} {height}x{width}\n".encode())
    h.update("\n".join(paths).encode("utf-8", "surrogateescape"))
    h.update(np.ascontiguousarray(stats, dtype="<i8").tobytes())
    return h.hexdigest()


def dataset_frames(dataset) -> list[str]:
    """Every frame of a VideoReIDDataset's train, query and gallery tracklets, absolute, each once, in order."""
    seen: dict[str, None] = {}
    for split in (dataset.train, dataset.query, dataset.gallery):
        for t in split:
            for f in t.frames:
                seen.setdefault(os.path.abspath(f), None)
    return list(seen)


def _frame_at_size(img: np.ndarray, height: int, width: int) -> np.ndarray:
    if img.shape[:2] == (height, width):
        return img
    import torch

    from .transforms import resize_clip, to_float_clip
    x = resize_clip(to_float_clip(img[None]), height, width)     # (1, 3, H, W) float32
    return x[0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8).numpy()


def build_frame_cache(paths: Sequence[str], out: str, height: int, width: int, force: bool = False,
                      say: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Decode `paths` into a new frame cache at `out` -> its cache.json contents. Says the size first, and refuses
    (OutputError) when the disk lacks the space; `out` must not exist, or with `force` be an earlier frame cache."""
    check_replaceable_folder(out, force, MARKER, "frame cache")    # before the size is estimated and said
    paths = [os.path.abspath(p) for p in paths]
    if any("\n" in p for p in paths):
        raise DatasetError(f"frame path with a newline cannot be cached: {next(p for p in paths if chr(10) in p)!r}")
    need = estimate_bytes(paths, height, width)
    parent = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    free = shutil.disk_usage(parent).free
    say(f"frame cache {out}: {len(paths)} frames at {height}x{width} -> {need / 2**30:.2f} GiB "
        f"({free / 2**30:.2f} GiB free)")
    if need + SPACE_MARGIN > free:
        raise OutputError(f"frame cache {out}: needs {need / 2**30:.2f} GiB + a {SPACE_MARGIN >> 20} MiB margin "
                          f"left free, only {free / 2**30:.2f} GiB free on {parent}; free space or choose another "
                          f"--out")
    stats = file_stats(paths)                                      # before reading: a later change makes it stale
    unreadable: list[int] = []
    from ..progress import progress_bar
    with atomic_folder(out, force, MARKER, "frame cache") as tmp:
        frames_path = os.path.join(tmp, "frames.u8")
        mm = np.memmap(frames_path, dtype=np.uint8, mode="w+", shape=(max(len(paths), 1), height, width, 3))
        with progress_bar(total=len(paths), desc="cache", unit="frame", enabled=progress) as bar:
            for i, p in enumerate(paths):                          # one decode per frame, once per dataset
                try:
                    mm[i] = _frame_at_size(read_frame(p, (height, width)), height, width)
                except FrameReadError:
                    unreadable.append(i)
                    stats[i] = -1
                bar.update(1)
        mm.flush()
        del mm
        fsync_path(frames_path)
        with open(os.path.join(tmp, "paths.txt"), "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write("\n".join(paths))
        np.save(os.path.join(tmp, "stats.npy"), stats)
        meta = {"format": FORMAT, "version": VERSION, "height": int(height), "width": int(width),
                "count": len(paths), "key": cache_key(paths, stats, height, width), "unreadable": unreadable}
        with open(os.path.join(tmp, MARKER), "w", encoding="utf-8") as f:
            json.dump(meta, f)
        for name in ("paths.txt", "stats.npy", MARKER):
            fsync_path(os.path.join(tmp, name))
    return meta


class FrameCache:
    """An opened, checked frame cache. `read_clip(frames, indices)` -> uint8 (T, H, W, 3), or None when a frame is
    not in the cache (or was unreadable when it was built): the caller then decodes the clip from the files.
    The memory map is opened lazily in each process (DataLoader workers map the file themselves)."""

    def __init__(self, folder: str, meta: dict, paths: list[str]):
        self.folder, self.meta = folder, meta
        self.height, self.width, self.count = int(meta["height"]), int(meta["width"]), int(meta["count"])
        self.rows = {p: i for i, p in enumerate(paths)}
        for i in meta.get("unreadable", []):
            self.rows.pop(paths[i], None)
        self._map: tuple[int, np.ndarray] | None = None

    def __getstate__(self):
        return {**self.__dict__, "_map": None}

    @property
    def pixels(self) -> np.ndarray:
        """uint8 (N, H, W, 3) memory map of the frames (this process's)."""
        if self._map is None or self._map[0] != os.getpid():
            mm = np.memmap(os.path.join(self.folder, "frames.u8"), dtype=np.uint8, mode="r",
                           shape=(max(self.count, 1), self.height, self.width, 3))
            self._map = (os.getpid(), mm)
        return self._map[1]

    def read_clip(self, frames: Sequence[str], indices) -> np.ndarray | None:
        rows = []
        for i in np.asarray(indices, dtype=np.int64).reshape(-1).tolist():  # T lookups: a dict, not a decode
            r = self.rows.get(frames[i] if os.path.isabs(frames[i]) else os.path.abspath(frames[i]))
            if r is None:
                return None
            rows.append(r)
        return np.asarray(self.pixels)[rows]                        # (T, H, W, 3): one gather, a copy


_opened: dict[tuple, FrameCache] = {}


def open_frame_cache(folder: str, height: int, width: int) -> FrameCache:
    """The cache at `folder`, checked: made for (height, width) and not stale (every source file has the size and
    mtime it had when the cache was built). FrameCacheError, one line, otherwise. Checked once per process."""
    folder = os.path.abspath(folder)
    marker = os.path.join(folder, MARKER)
    try:
        with open(marker, encoding="utf-8") as f:
            meta = json.load(f)
        stamp = os.stat(marker).st_mtime_ns
    except FileNotFoundError:
        raise FrameCacheError(f"data.frame_cache {folder}: no frame cache there (no {MARKER}); build it with "
                              f"`vidreid cache build --config ...`") from None
    except (OSError, ValueError) as e:
        raise FrameCacheError(f"data.frame_cache {folder}: unreadable {MARKER} ({e})") from None
    key = (folder, stamp, int(height), int(width))
    if key in _opened:
        return _opened[key]
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise FrameCacheError(f"data.frame_cache {folder}: {MARKER} is not a version-{VERSION} vidreid frame cache")
    if (meta["height"], meta["width"]) != (int(height), int(width)):
        raise FrameCacheError(f"data.frame_cache {folder}: built for {meta['height']}x{meta['width']} frames, the "
                              f"config asks for {height}x{width}; build another cache for this size")
    frames_file = os.path.join(folder, "frames.u8")
    expected = cache_bytes(max(meta["count"], 1), height, width)
    size = os.path.getsize(frames_file) if os.path.exists(frames_file) else -1
    if size != expected:
        raise FrameCacheError(f"data.frame_cache {folder}: frames.u8 holds {size} bytes, expected {expected} "
                              f"(truncated or replaced); rebuild it with `vidreid cache build --force`")
    with open(os.path.join(folder, "paths.txt"), encoding="utf-8", errors="surrogateescape") as f:
        paths = f.read().split("\n") if meta["count"] else []
    stored = np.load(os.path.join(folder, "stats.npy"))
    if len(paths) != meta["count"] or stored.shape != (len(paths), 2) or \
            cache_key(paths, stored, height, width) != meta["key"]:
        raise FrameCacheError(f"data.frame_cache {folder}: paths.txt / stats.npy do not match {MARKER}'s key "
                              f"(edited?); rebuild it with `vidreid cache build --force`")
    now = file_stats(paths)
    readable = stored[:, 0] >= 0                                   # unreadable-at-build rows are decoded anyway
    changed = np.flatnonzero(readable & (now != stored).any(1))
    if changed.size:
        raise FrameCacheError(f"data.frame_cache {folder} is stale: {changed.size} of its {len(paths)} frames "
                              f"changed or vanished since it was built (first: {paths[changed[0]]}); rebuild it "
                              f"with `vidreid cache build --force` or set data.frame_cache to \"\"")
    cache = _opened[key] = FrameCache(folder, meta, paths)
    return cache
