"""Streaming video decode with OpenCV: one frame in memory at a time, whatever the video's length.

Frame numbers are 1-based as in MOTChallenge files (frame 1 = the first decoded frame).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import DatasetError, VidReIDError


class VideoError(DatasetError):
    """A video file is missing or cannot be decoded."""


def _cv2():
    try:
        import cv2
    except ImportError:
        raise VidReIDError("reading videos needs OpenCV: pip install 'vidreid[video]' (opencv-python-headless)") \
            from None
    return cv2


@dataclass
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float            # as the container says (0 when it does not); previews fall back to 10
    frame_count: int      # as the container says (may be 0 or wrong for some containers; only used for progress)


def open_video(path: str):
    """-> (cv2.VideoCapture, VideoInfo); VideoError naming the file when it is missing or unreadable."""
    cv2 = _cv2()
    if not os.path.exists(path):
        raise VideoError(f"{path}: video not found")
    if os.path.isdir(path):
        raise VideoError(f"{path}: is a folder, expected a video file")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{path}: OpenCV cannot open this video (unsupported container or codec, or not a video)")
    info = VideoInfo(path, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                     float(cap.get(cv2.CAP_PROP_FPS) or 0.0), max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))))
    return cap, info


def probe_video(path: str) -> VideoInfo:
    """The video's size, fps and frame count, checking that at least one frame decodes."""
    cap, info = open_video(path)
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok:
        raise VideoError(f"{path}: no frame could be decoded from this video")
    info.height, info.width = frame.shape[:2]
    return info


def iter_frames(path: str, every: int = 1, start: int = 1, stop: int | None = None
                ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame number, BGR uint8 (H, W, 3)) for frames start, start + every, ... <= stop (1-based, inclusive).
    Skipped frames are grabbed, not decoded (cheaper). VideoError when not even one frame decodes."""
    if every < 1:
        raise VidReIDError(f"--every must be >= 1, got {every}")
    cap, _ = open_video(path)
    n, yielded = 0, 0
    try:
        while stop is None or n < stop:          # per-frame loop: a decoder hands out one frame a call
            n += 1
            wanted = n >= start and (n - start) % every == 0
            if not wanted:
                if not cap.grab():
                    break
                continue
            ok, frame = cap.read()
            if not ok:
                break
            yielded += 1
            yield n, frame
    finally:
        cap.release()
    if yielded == 0:
        raise VideoError(f"{path}: no frame could be decoded from this video"
                         + (f" at or after frame {start}" if start > 1 else ""))
