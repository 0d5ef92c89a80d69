"""A probe: the one tracklet a user searches with — a folder of frames, a video file, frame files or an array.

`load_probe(source, box=None, size=None)` -> Probe. Folders are listed in natural order ("f9" before "f10"); a video
file is decoded with OpenCV (the `video` extra) into one tracklet, every frame cropped to `box=(x, y, w, h)` when
given. A `box` on frame files decodes them here and crops them too. Decoded frames larger than the model input are
shrunk to it right away (area interpolation), so a long full-HD video never sits in memory at full size.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import DatasetError, VidReIDError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts",
                    ".mjpeg", ".mjpg", ".gif")


@dataclass
class Probe:
    source: str                              # what the user gave (path, or "<array>")
    kind: str                                # folder | video | files | array
    frame_paths: tuple[str, ...] | None      # frame files (folder / files), None when decoded here
    frames: np.ndarray | None                # uint8 (L, H, W, 3) RGB when decoded here (video, array, --box)
    box: tuple[int, int, int, int] | None = None

    @property
    def num_frames(self) -> int:
        return len(self.frames) if self.frames is not None else len(self.frame_paths)

    def pick(self, count: int) -> np.ndarray:
        """`count` evenly spaced frame indices (all frames when there are fewer)."""
        n = self.num_frames
        return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(np.int64))

    def describe(self) -> dict:
        return {"source": self.source, "kind": self.kind, "frames": self.num_frames,
                "box": list(self.box) if self.box else None}


def parse_box(text: str | Sequence[int] | None) -> tuple[int, int, int, int] | None:
    """"x,y,w,h" (pixels, top-left corner + size) -> tuple; VidReIDError when malformed."""
    if text is None:
        return None
    try:
        vals = [int(v) for v in (text.split(",") if isinstance(text, str) else text)]
        if len(vals) != 4 or vals[0] < 0 or vals[1] < 0 or vals[2] <= 0 or vals[3] <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise VidReIDError(f"--box must be x,y,w,h with x, y >= 0 and w, h > 0 (pixels), got {text!r}") from None
    return tuple(vals)


def list_frames(folder: str) -> list[str]:
    """Image files of `folder` in natural order; DatasetError if it holds none."""
    from ..data.datasets._common import natural_order
    try:
        names = [n for n in os.listdir(folder)
                 if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")]
    except OSError as e:
        raise DatasetError(f"{folder}: cannot list the probe folder ({e.strerror or e})") from None
    if not names:
        raise DatasetError(f"{folder}: no frames (expected image files {', '.join(IMAGE_EXTENSIONS)})")
    names = np.array(sorted(names))
    return [os.path.join(folder, n) for n in names[natural_order(names)].tolist()]


def crop(frames: np.ndarray, box: tuple[int, int, int, int], where: str) -> np.ndarray:
    """frames (L, H, W, 3) -> (L, h, w, 3), the box clipped to the frame; DatasetError if it lies outside."""
    x, y, w, h = box
    H, W = frames.shape[1:3]
    x1, y1 = min(x + w, W), min(y + h, H)
    if x >= W or y >= H or x1 <= x or y1 <= y:
        raise DatasetError(f"{where}: --box {x},{y},{w},{h} lies outside the {W}x{H} frames")
    return frames[:, y:y1, x:x1]


def _shrink(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize (H, W, 3) to `size` when it is larger than `size` in both sides (cv2 area interpolation)."""
    if size is None or frame.shape[0] <= size[0] or frame.shape[1] <= size[1]:
        return frame
    import cv2
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def read_video(path: str, box: tuple[int, int, int, int] | None = None, size: tuple[int, int] | None = None,
               max_frames: int | None = None) -> np.ndarray:
    """Decode a video file -> uint8 (L, H, W, 3) RGB, each frame cropped to `box` and shrunk to `size` if larger."""
    try:
        import cv2
    except ImportError:
        raise VidReIDError("reading a video probe needs OpenCV: pip install 'vidreid[video]' "
                           "(opencv-python-headless), or pass a folder of frames") from None
    if not os.path.isfile(path):
        raise DatasetError(f"probe video not found: {path}")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise DatasetError(f"{path}: OpenCV cannot open this video (unsupported container or codec)")
    frames = []
    try:
        while max_frames is None or len(frames) < max_frames:   # per-frame loop: decoders hand out one frame a call
            ok, bgr = cap.read()
            if not ok:
                break
            if box is not None:
                bgr = crop(bgr[None], box, path)[0]
            frames.append(_shrink(np.ascontiguousarray(bgr), size))
    finally:
        cap.release()
    if not frames:
        raise DatasetError(f"{path}: no frame could be decoded from this video")
    return np.ascontiguousarray(np.stack(frames)[..., ::-1])   # BGR -> RGB, (L, H, W, 3)


def _decode_files(paths: Sequence[str], box, size) -> np.ndarray:
    from ..data.decode import FrameReadError, read_frame
    out = []
    for p in paths:                                             # loop over frames: each file is decoded on its own
        try:
            img = read_frame(p)
        except FrameReadError as e:
            raise DatasetError(str(e)) from None
        out.append(_shrink(np.ascontiguousarray(crop(img[None], box, p)[0]), size))
    if len({f.shape for f in out}) > 1:
        from ..data.decode import _resize_uint8
        target = size or out[0].shape[:2]
        out = [_resize_uint8(f, target) for f in out]
    return np.stack(out)


def load_probe(source, box=None, size: tuple[int, int] | None = None, max_frames: int | None = None) -> Probe:
    """A Probe from a folder of frames, a video file, an image file, a list of frame files, or frames in memory
    (uint8 (L, H, W, 3) RGB array or list of (H, W, 3) arrays). `size` = the model input (H, W)."""
    box = parse_box(box)
    if isinstance(source, Probe):
        return source
    if isinstance(source, np.ndarray) or (isinstance(source, (list, tuple)) and source
                                          and isinstance(source[0], np.ndarray)):
        frames = np.stack(list(source)) if not isinstance(source, np.ndarray) else source
        if box is not None:
            frames = crop(frames, box, "probe array")
        return Probe("<array>", "array", None, frames, box)
    if isinstance(source, (list, tuple)):
        paths = [os.path.abspath(os.fspath(p)) for p in source]
        if not paths:
            raise DatasetError("a probe needs at least one frame, got an empty list")
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise DatasetError(f"probe frame not found: {missing[0]}" + (f" (+{len(missing) - 1} more)"
                                                                         if len(missing) > 1 else ""))
        if box is not None:
            return Probe(paths[0], "files", None, _decode_files(paths, box, size), box)
        return Probe(paths[0], "files", tuple(paths), None)
    path = os.path.abspath(os.fspath(source))
    if os.path.isdir(path):
        paths = list_frames(path)
        if box is not None:
            return Probe(path, "folder", None, _decode_files(paths, box, size), box)
        return Probe(path, "folder", tuple(paths), None)
    if not os.path.exists(path):
        raise DatasetError(f"probe not found: {path} (expected a folder of frames or a video file)")
    if path.lower().endswith(IMAGE_EXTENSIONS):
        return load_probe([path], box, size)
    if not path.lower().endswith(VIDEO_EXTENSIONS):
        # unknown extension: let OpenCV decide, with a message that says what was expected
        try:
            return Probe(path, "video", None, read_video(path, box, size, max_frames), box)
        except DatasetError:
            raise DatasetError(f"{path}: neither a folder of frames, an image, nor a video OpenCV can read "
                               f"(expected {', '.join(VIDEO_EXTENSIONS[:6])} ...)") from None
    return Probe(path, "video", None, read_video(path, box, size, max_frames), box)
