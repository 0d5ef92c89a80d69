"""Detections remembered per video: a detector's boxes for the frames of one video file, kept in the user's cache so
that the next `vidreid tracklets`, `vidreid adapt --videos` or `vidreid search --frame` on the same video does not
detect again. Detection is most of the time these commands take on a CPU (HOG: 6 frames/s on vtest.avi's 768x576
frames on one core, benchmarks/detection_cache.py), while changing the tracker, the cutting rules, the masks or the
cameras' manifest does not change a single box.

    $XDG_CACHE_HOME/vidreid/detections/<video sha256>-<detector key>.npz     (~/.cache when XDG_CACHE_HOME is unset)

The key is the video's bytes (sha256: a copied or renamed video still hits, an edited one misses) and the detector's
`cache_key()`: its class, its settings, OpenCV's version and build, and the bytes of the code between the file and the
boxes (detectors.py, tracker.py for NMS, data/video.py for decoding), so a change to any of them misses. Only detectors with a `cache_key` are cached (HOG); an ONNX model's
boxes depend on the execution provider, and a det.txt is read, not computed. The file holds, per detected frame, its
rows [x, y, w, h, score]; `end` is the video's last frame once a pass over every frame (every 1, no stop) has decoded
it to its end, which is what lets a later pass skip decoding altogether (a container's frame count can be wrong; the
cache only trusts what it decoded).

Set VIDREID_NO_DETECTION_CACHE=1 to neither read nor write it; delete the folder to clear it (entries are a few
bytes per box). A cache that cannot be read is ignored, one that cannot be written costs only the next run's time.
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterator

import numpy as np

from ..data.video import iter_frames

FORMAT = 1                  # bump when the file's layout changes
HASH_CHUNK = 1 << 20        # bytes read at a time while hashing a video


def enabled() -> bool:
    return os.environ.get("VIDREID_NO_DETECTION_CACHE", "") in ("", "0")


def cache_folder() -> str:
    from ..utils.io import user_cache_dir
    return user_cache_dir("detections")


def video_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(HASH_CHUNK), b""):       # loop over 1 MiB blocks, not frames
            h.update(block)
    return h.hexdigest()


class DetectionCache:
    """The remembered detections of one (video, detector): rows per frame number, and the video's last frame when
    known. `add` records new frames; `save` writes what was loaded plus what was added, atomically (two runs on one
    video at once: the last to finish wins, and the other's new frames cost a later run their time, nothing else)."""

    def __init__(self, path: str):
        self.path = path
        self.rows: dict[int, np.ndarray] = {}      # frame number -> (K, 5) float32
        self.end: int | None = None                # last frame of the video, once a pass decoded to its end
        self.new = 0                               # frames added since loading
        self._load()

    @classmethod
    def open(cls, video: str, detector) -> "DetectionCache | None":
        """The cache of `video` under `detector`, or None (the detector has no cache_key, or caching is off)."""
        key = getattr(detector, "cache_key", None)
        if key is None or not enabled():
            return None
        try:
            digest = video_sha256(video)
        except (OSError, ValueError):              # (ValueError: a NUL in the path)
            return None                            # the decoder says what is wrong with the file
        detector_key = hashlib.sha256(key().encode()).hexdigest()[:16]
        return cls(os.path.join(cache_folder(), f"{digest}-{detector_key}.npz"))

    def _load(self) -> None:
        try:
            with np.load(self.path) as z:
                if int(z["format"]) != FORMAT:
                    return
                frames, counts, rows, end = z["frames"], z["counts"], z["rows"], int(z["end"])
            if not (frames.ndim == counts.ndim == 1 and len(frames) == len(counts) and rows.ndim == 2
                    and rows.shape[1] == 5 and frames.dtype.kind == counts.dtype.kind == "i"
                    and int(counts.sum()) == len(rows)):
                return
            self.rows = dict(zip(frames.tolist(), np.split(rows.astype(np.float32), np.cumsum(counts)[:-1])))
            self.end = end if end > 0 else None
        except Exception:                          # missing, truncated or foreign: start empty, rewrite on save
            self.rows, self.end = {}, None

    def add(self, n: int, rows: np.ndarray) -> np.ndarray:
        """Remember frame n's rows -> them as float32 (what a later pass reads back)."""
        self.rows[n] = rows = np.asarray(rows, np.float32)
        self.new += 1
        return rows

    def frame_numbers(self, every: int, start: int, stop: int | None) -> list[int] | None:
        """The frames a pass (every, start, stop) would decode, if the cache holds every one of them and knows
        where the video ends; else None (decode)."""
        if self.end is None:
            return None
        numbers = list(range(start, self.end + 1 if stop is None else min(stop, self.end) + 1, every))
        if not numbers or any(n not in self.rows for n in numbers):
            return None
        return numbers

    def save(self, end: int | None = None) -> None:
        """Write what is known (if anything is new) to the cache file; a failure only costs a later run's time."""
        if end is not None and end != self.end:
            self.end, self.new = end, self.new + 1
        if not self.new:
            return
        from ..utils.io import atomic_path
        frames = np.array(sorted(self.rows), np.int64)
        rows = [self.rows[n] for n in frames.tolist()]
        try:
            with atomic_path(self.path) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, format=FORMAT, frames=frames, counts=np.array([len(r) for r in rows], np.int64),
                             rows=np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 5), np.float32),
                             end=self.end or 0)
            self.new = 0
        except Exception:
            pass


def detect_frames(video: str, detector, every: int = 1, start: int = 1, stop: int | None = None,
                  counts: dict | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame number, detections (K, 5) [x, y, w, h, score]) for the frames start, start + every, ... <= stop of
    `video`, as `detector.detect` gives them on the decoded frames; from the cache without decoding when it holds all
    of them. Frames decoded here are remembered (also when the caller stops early). counts["cached"]: the frames
    whose detections came from the cache."""
    counts = {} if counts is None else counts
    counts["cached"] = 0
    cache = DetectionCache.open(video, detector)
    numbers = cache.frame_numbers(every, start, stop) if cache is not None else None
    if numbers is not None:
        for n in numbers:                           # per-frame loop over remembered rows: no decoding
            counts["cached"] += 1
            yield n, cache.rows[n]
        return
    last, finished = None, False
    try:
        for n, frame in iter_frames(video, every, start, stop):       # per-frame loop over the stream
            rows = cache.rows.get(n) if cache is not None else None
            if rows is None:
                rows = detector.detect(frame, n)
                if cache is not None:
                    rows = cache.add(n, rows)
            else:
                counts["cached"] += 1
            last = n
            yield n, rows
        finished = True
    finally:
        if cache is not None:                       # the end is known when every frame up to it was decoded
            cache.save(end=last if finished and every == 1 and stop is None else None)
