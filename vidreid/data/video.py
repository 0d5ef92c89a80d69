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


MIN_SIDE = 32          # pixels: frames smaller than this hold no findable person, and the detectors' native code
                       # has crashed (heap corruption) on 2x2 frames


def check_video_size(info: "VideoInfo") -> None:
    """VideoError for frames too small to detect people in, before any detector's native code sees them."""
    if min(info.width, info.height) < MIN_SIDE:
        raise VideoError(f"{info.path}: frames are {info.width}x{info.height} pixels, too small to find people in "
                         f"(at least {MIN_SIDE}x{MIN_SIDE}); pass the original footage, not a thumbnail")


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


# ---------------------------------------------------------------------------------------------- crops
def pad_to_aspect(boxes: np.ndarray, aspect: float) -> np.ndarray:
    """(N, 4) [x, y, w, h] -> the smallest boxes of width / height = aspect holding them, same centres."""
    b = np.asarray(boxes, np.float64)[:, :4]
    w = np.maximum(b[:, 2], b[:, 3] * aspect)
    h = np.maximum(b[:, 3], b[:, 2] / aspect)
    cx, cy = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    return np.stack([cx - w / 2, cy - h / 2, w, h], 1)


def crop(frame: np.ndarray, box, size: tuple[int, int]) -> np.ndarray:
    """The (padded) box of a frame (H, W, 3) or (H, W), resized to size (h, w); outside the frame = black."""
    import cv2
    H, W = frame.shape[:2]
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    x1, y1 = int(np.ceil(box[0] + box[2])), int(np.ceil(box[1] + box[3]))
    inside = frame[max(y0, 0):max(min(y1, H), 0), max(x0, 0):max(min(x1, W), 0)]
    if inside.size == 0:
        return np.zeros((*size, *frame.shape[2:]), np.uint8)
    part = cv2.copyMakeBorder(inside, max(0, -y0), max(0, y1 - H), max(0, -x0), max(0, x1 - W),
                              cv2.BORDER_CONSTANT, value=(0, 0, 0))
    shrink = part.shape[0] > size[0]
    return cv2.resize(part, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def progress_frames(total, desc, progress):
    """A frame progress bar (tqdm) over `total` frames (None: unknown)."""
    from ..progress import progress_bar                  # a bar on a terminal, plain periodic lines in a log
    return progress_bar(total=total or None, desc=desc, unit="frame", enabled=progress, leave=True)


def crop_mask(mask: np.ndarray, box, size: tuple[int, int]) -> np.ndarray:
    """A frame's bool mask (H, W) -> uint8 (h, w) in {0, 255}: the crop of `box` as `crop` cuts the frame
    (outside the frame = background), thresholded at half after the resize."""
    m = crop(mask.astype(np.uint8) * 255, box, size)          # one channel: resized as each channel of a frame
    return np.where(m >= 128, 255, 0).astype(np.uint8)


def encode_mask_crop(mask: np.ndarray, box, size: tuple[int, int]) -> bytes:
    """crop_mask as PNG bytes."""
    import cv2
    return cv2.imencode(".png", crop_mask(mask, box, size))[1].tobytes()


def write_box_crops(path: str, folder: str, frames: np.ndarray, boxes: np.ndarray, names: list[str],
                    size: tuple[int, int], every: int = 1, start: int = 1, stop: int | None = None,
                    progress: bool = False, desc: str = "cut", on_frame=None, mask_of=None,
                    masks_dir: str = "masks") -> int:
    """Decode video `path` once and write the crop of box i (x, y, w, h; padded to the aspect of `size` = (h, w)) of
    video frame frames[i] to folder/<names[i]>/f<frame>.jpg. Decoding stops after the last boxed frame, or at `stop`
    (None: the end) when `on_frame(n, frame)` is given (called for every decoded frame, e.g. a preview).
    `mask_of(frame) -> bool (H, W)` (a foreground mask, data/background.py) also writes each crop's mask, cut
    like the crop and thresholded at half, to folder/<names[i]>/<masks_dir>/f<frame>.png (255 = person).
    Returns the frames decoded."""
    import simplejpeg
    padded = pad_to_aspect(boxes, size[1] / size[0]) if len(boxes) else np.zeros((0, 4))
    order = np.argsort(frames, kind="stable")
    frames_of, padded, names_sorted = frames[order].astype(np.int64), padded[order], [names[i] for i in order]
    for n in sorted(set(names)):
        os.makedirs(os.path.join(folder, n, masks_dir) if mask_of is not None else os.path.join(folder, n))
    last = stop if on_frame is not None else (int(frames_of.max()) if len(frames_of) else start)
    count = 0
    if not len(frames_of) and on_frame is None:
        return 0
    with progress_frames(None if last is None else len(range(start, last + 1, every)), desc, progress) as bar:
        for n, frame in iter_frames(path, every, start, last):       # per-frame loop over the stream
            a, b = np.searchsorted(frames_of, [n, n + 1])
            fg = mask_of(frame) if mask_of is not None and b > a else None
            for i in range(a, b):                                    # the crops of this frame
                img = crop(frame, padded[i], size)
                jpg = simplejpeg.encode_jpeg(np.ascontiguousarray(img), quality=92, colorspace="BGR")
                with open(os.path.join(folder, names_sorted[i], f"f{n:06d}.jpg"), "wb") as f:
                    f.write(jpg)
                if fg is not None:
                    with open(os.path.join(folder, names_sorted[i], masks_dir, f"f{n:06d}.png"), "wb") as f:
                        f.write(encode_mask_crop(fg, padded[i], size))
            if on_frame is not None:
                on_frame(n, frame)
            count += 1
            bar.update()
    return count
