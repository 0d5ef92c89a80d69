"""Follow one person through a video from a seed box: the probe of `vidreid search --probe VIDEO --box --frame N`.

The detector runs on the frames around the seed (every frame of the video by default, or --follow-frames on each
side); then the tracker (tracker.py) runs forwards from the seed frame and, separately, backwards from it (a
constant-velocity model is the same in reversed time), each with the seed box as a confirmed track that the other
people's tracks compete with for detections. The followed person is that track's boxes on both sides, cut at the
first gap of more than `max_gap` frames (after such a gap the track may have jumped to someone else). A second
decode crops those boxes (padded to the model's aspect).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import VidReIDError
from .cut import crop, pad_to_aspect
from .detection_cache import detect_frames
from .tracker import Tracker, TrackerConfig
from ..data.video import check_video_size, iter_frames, probe_video


@dataclass
class Followed:
    video: str
    seed_frame: int
    seed_box: tuple
    frames: np.ndarray          # (L,) 1-based frame numbers, increasing
    boxes: np.ndarray           # (L, 4) [x, y, w, h] as tracked (the seed frame: the user's box)
    crops: list                 # L BGR crops (padded to the aspect), at source resolution

    def describe(self) -> dict:
        return {"video": self.video, "seed_frame": self.seed_frame, "seed_box": list(self.seed_box),
                "frames": [int(self.frames[0]), int(self.frames[-1])], "boxes": len(self.frames)}


def _keep_piece(rows: np.ndarray, seed_frame: int, max_gap: int) -> np.ndarray:
    """rows sorted by frame -> the run around seed_frame without a gap of more than max_gap frames."""
    f = rows[:, 0]
    cut = np.flatnonzero(np.diff(f) > max_gap)                     # a gap after row i
    i = int(np.searchsorted(f, seed_frame))
    lo = cut[cut < i].max() + 1 if (cut < i).any() else 0
    hi = cut[cut >= i].min() + 1 if (cut >= i).any() else len(rows)
    return rows[lo:hi]


def follow(video: str, box, seed_frame: int, detector, every: int = 1, window: int | None = None,
           max_gap: int = 10, aspect: float = 0.5, tracker_cfg: TrackerConfig | None = None,
           progress: bool = False) -> Followed:
    """Follow the person in `box` (x, y, w, h) at frame `seed_frame` (1-based) -> Followed."""
    from ..progress import progress_bar
    info = probe_video(video)
    check_video_size(info)
    if seed_frame < 1 or (info.frame_count and seed_frame > info.frame_count):
        raise VidReIDError(f"--frame {seed_frame}: {video} has frames 1..{info.frame_count}")
    x, y, w, h = box
    if x >= info.width or y >= info.height or x + w <= 0 or y + h <= 0:
        raise VidReIDError(f"--box {x},{y},{w},{h} lies outside the {info.width}x{info.height} frames of {video}")
    start = max(1, seed_frame - window) if window else 1
    start = seed_frame - ((seed_frame - start) // every) * every      # the seed frame is one of the steps
    stop = seed_frame + window if window else None
    numbers, dets = [], []
    if getattr(detector, "needs_pixels", True):
        total = len(range(start, min(stop or info.frame_count, info.frame_count or 0) + 1, every)) or None
        with progress_bar(total=total, desc="follow: detect", unit="frame", enabled=progress) as bar:
            for n, rows in detect_frames(video, detector, every, start, stop):   # per-frame loop over the stream
                numbers.append(n)
                dets.append(rows)
                bar.update()
    else:
        last = info.frame_count or int(detector.frames.max(initial=seed_frame))
        numbers = list(range(start, min(stop or last, last) + 1, every))
        dets = [detector.detect(None, n) for n in numbers]
    if seed_frame not in numbers:
        raise VidReIDError(f"--frame {seed_frame}: could not decode that frame of {video}")
    k = numbers.index(seed_frame)
    cfg = tracker_cfg or TrackerConfig()
    runs = []
    for order in (range(k, len(numbers)), range(k, -1, -1)):          # forwards, then backwards from the seed
        tr = Tracker(cfg)
        uid = tr.seed(seed_frame, box)
        for i in order:                                               # loop over the processed frames
            tr.step(numbers[i], dets[i])
        runs.append(tr.observations(uid))
    rows = np.concatenate(runs)
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    rows = rows[np.r_[True, np.diff(rows[:, 0]) > 0]]                 # the seed frame once (the user's box first)
    rows = _keep_piece(rows, seed_frame, max_gap)
    # second pass: the crops
    padded = pad_to_aspect(rows[:, 2:6], aspect)
    wanted = rows[:, 0].astype(np.int64)
    crops = []
    for n, frame in iter_frames(video, every, int(wanted[0]), int(wanted[-1])):   # per-frame loop
        j = np.searchsorted(wanted, n)
        if j < len(wanted) and wanted[j] == n:
            b = padded[j]
            crops.append(crop(frame, b, (int(round(b[3])), int(round(b[2])))))
    if len(crops) != len(rows):
        raise VidReIDError(f"{video}: frames {wanted[0]}..{wanted[-1]} could not all be decoded again")
    return Followed(video, seed_frame, tuple(int(v) for v in box), wanted, rows[:, 2:6], crops)
