"""A probe: the one tracklet a user searches with — a folder of frames, a video file, frame files or an array.

`load_probe(source, box=None, size=None)` -> Probe. Folders are listed in natural order ("f9" before "f10"); a video
file is decoded with OpenCV (the `video` extra) into one tracklet, every frame cropped to `box=(x, y, w, h)` when
given. A `box` on frame files decodes them here and crops them too.

Frames decoded here (video, cropped files) and frames given in memory reach the model through the same resize as
frame files in `vidreid eval` (the reference): `vidreid.data.decode.read_frame` decodes a JPEG at least twice the
model input at reduced scale (libjpeg's DCT scaling: the smallest of 1/2, 3/8, 1/4, 1/8 of the size that stays >= the
input), then the test transform resizes to the input (antialiased bilinear). `reduce_like_decoder` gives decoded
pixels the same first step -- area averaging to the size the decoder would produce, which is what the DCT scaling
computes up to rounding -- so the second step is literally the same. Done right after decoding, it also keeps a long
full-HD video from sitting in memory at full size.
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
    reduced_for: tuple[int, int] | None = None  # model input (H, W) `frames` went through reduce_like_decoder for
    followed: dict | None = None             # a person followed from a seed box (follow_probe): frames and boxes

    @property
    def num_frames(self) -> int:
        return len(self.frames) if self.frames is not None else len(self.frame_paths)

    def pick(self, count: int) -> np.ndarray:
        """`count` evenly spaced frame indices (all frames when there are fewer)."""
        n = self.num_frames
        return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(np.int64))

    def describe(self) -> dict:
        d = {"source": self.source, "kind": self.kind, "frames": self.num_frames,
             "box": list(self.box) if self.box else None}
        if self.followed is not None:
            d["followed"] = self.followed
        return d


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
    from ..data.datasets.names import natural_order
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
    """frames (L, H, W, 3) -> (L, h, w, 3), the box clipped to the frame. A box may cross the border a little (so do
    a detector's), but one mostly outside (coordinates of another resolution, a typo) is a DatasetError, not a
    silent crop of whatever part of the frame it happens to cover."""
    x, y, w, h = box
    H, W = frames.shape[1:3]
    x1, y1 = min(x + w, W), min(y + h, H)
    if x >= W or y >= H or x1 <= x or y1 <= y:
        raise DatasetError(f"{where}: --box {x},{y},{w},{h} lies outside the {W}x{H} frames")
    inside = (x1 - x) * (y1 - y) / (w * h)
    if inside < MIN_BOX_INSIDE:
        raise DatasetError(f"{where}: --box {x},{y},{w},{h} lies mostly outside the {W}x{H} frames (only "
                           f"{inside:.0%} of it inside): a box in another resolution's pixels?")
    return frames[:, y:y1, x:x1]


MIN_BOX_INSIDE = 0.5    # the fraction of a --box that must lie inside the frame


# libjpeg-turbo's scaled decoding, M/8, as read_frame asks for it (min_factor=2: only M <= 4)
JPEG_SCALE_NUMERATORS = (4, 3, 2, 1)


def decoded_size(height: int, width: int, size: tuple[int, int] | None) -> tuple[int, int]:
    """(h, w) that `vidreid.data.decode.read_frame(path, min_size=size)` gives a height x width JPEG: the smallest
    ceil(side * M / 8), M in 4, 3, 2, 1, that is still >= `size` on both sides; the full size if none is."""
    best = (height, width)
    if size is None:
        return best
    for m in JPEG_SCALE_NUMERATORS:                                     # larger to smaller outputs
        h, w = -(-height * m // 8), -(-width * m // 8)
        if h < size[0] or w < size[1]:
            break
        best = (h, w)
    return best


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 weights of area averaging: output pixel i averages input span [i, i+1) * n_in / n_out
    (fractional pixels at the span's ends weighted by their overlap)."""
    scale = n_in / n_out
    edges = np.arange(n_out + 1) * scale
    pixel = np.arange(n_in)
    overlap = np.minimum(edges[1:, None], pixel + 1.0) - np.maximum(edges[:-1, None], pixel)
    return (np.clip(overlap, 0, None) / scale).astype(np.float32)


_REDUCE_BATCH = 32                                                      # frames per step: bounded float32 temporaries


def reduce_like_decoder(frames: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 (L, H, W, 3) -> uint8 (L, h, w, 3) at `decoded_size(H, W, size)`, by area averaging (rounded), i.e. the
    pixels read_frame would decode a JPEG of these frames to; unchanged when the decoder would not reduce."""
    h, w = decoded_size(frames.shape[1], frames.shape[2], size)
    if (h, w) == tuple(frames.shape[1:3]):
        return frames
    rows, cols = _area_matrix(frames.shape[1], h), _area_matrix(frames.shape[2], w)
    out = np.empty((len(frames), h, w, frames.shape[3]), dtype=np.uint8)
    for a in range(0, len(frames), _REDUCE_BATCH):                      # batches of frames, each one matmul per axis
        x = frames[a:a + _REDUCE_BATCH].astype(np.float32)              # (b, H, W, 3)
        x = np.matmul(rows, x.reshape(len(x), frames.shape[1], -1))     # (b, h, W * 3)
        x = np.matmul(cols, x.reshape(len(x), h, frames.shape[2], -1))  # (b, h, w, 3)
        np.clip(np.rint(x), 0, 255, out=x)
        out[a:a + len(x)] = x
    return out


def decode_like_files(frames, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 (L, h, w, 3) from an (L, H, W, 3) array or a list of (H, W, 3) arrays of any sizes, as read_clip gives
    the frames of a clip: each reduced like a decoded JPEG (`reduce_like_decoder`), and, when sizes still differ,
    each resized to `size` (the bilinear resize read_clip applies to mixed sizes)."""
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        return reduce_like_decoder(frames, size)
    frames = [reduce_like_decoder(np.asarray(f)[None], size)[0] for f in frames]   # per frame: sizes may differ
    if len({f.shape for f in frames}) > 1:
        from ..data.decode import _resize_uint8
        target = size or frames[0].shape[:2]
        frames = [_resize_uint8(f, target) for f in frames]
    return np.stack(frames)


def read_video(path: str, box: tuple[int, int, int, int] | None = None, size: tuple[int, int] | None = None,
               max_frames: int | None = None) -> np.ndarray:
    """Decode a video file -> uint8 (L, H, W, 3) RGB, each frame cropped to `box` and reduced for the model input
    `size` as a decoded JPEG frame would be (`reduce_like_decoder`)."""
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
            frames.append(reduce_like_decoder(np.ascontiguousarray(bgr)[None], size)[0])
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
            img = read_frame(p)                                 # full size: the box is in the file's pixels
        except FrameReadError as e:
            raise DatasetError(str(e)) from None
        out.append(reduce_like_decoder(np.ascontiguousarray(crop(img[None], box, p)), size)[0])
    return decode_like_files(out, size)                         # (already reduced: only mixed sizes are resized)


def _size(size) -> tuple[int, int] | None:
    return (int(size[0]), int(size[1])) if size is not None else None


def _check_frames(frames) -> None:
    """DatasetError unless `frames` is a non-empty uint8 (L, H, W, 3) array or list of (H, W, 3) arrays."""
    shapes = [frames.shape[1:]] if isinstance(frames, np.ndarray) else [f.shape for f in frames]
    dtypes = {frames.dtype} if isinstance(frames, np.ndarray) else {f.dtype for f in frames}
    if not len(frames):
        raise DatasetError("a probe needs at least one frame, got none")
    bad = next((s for s in shapes if len(s) != 3 or s[-1] != 3), None)
    if bad is not None:
        raise DatasetError(f"expected RGB frames of shape (L, H, W, 3) or (H, W, 3) each, got frames of shape {bad}")
    if dtypes != {np.dtype(np.uint8)}:
        raise DatasetError(f"expected uint8 RGB frames, got dtype {', '.join(sorted(map(str, dtypes)))}")


def load_probe(source, box=None, size: tuple[int, int] | None = None, max_frames: int | None = None) -> Probe:
    """A Probe from a folder of frames, a video file, an image file, a list of frame files, or frames in memory
    (uint8 (L, H, W, 3) RGB array or list of (H, W, 3) arrays). `size` = the model input (H, W)."""
    box = parse_box(box)
    if isinstance(source, Probe):
        return source
    if isinstance(source, np.ndarray) or (isinstance(source, (list, tuple)) and source
                                          and isinstance(source[0], np.ndarray)):
        frames = source if isinstance(source, np.ndarray) and source.ndim == 4 else [np.asarray(f) for f in source]
        _check_frames(frames)
        if box is not None:
            frames = (crop(frames, box, "probe array") if isinstance(frames, np.ndarray)
                      else [crop(f[None], box, "probe array")[0] for f in frames])
        return Probe("<array>", "array", None, decode_like_files(frames, size), box, reduced_for=_size(size))
    if isinstance(source, (list, tuple)):
        paths = [os.path.abspath(os.fspath(p)) for p in source]
        if not paths:
            raise DatasetError("a probe needs at least one frame, got an empty list")
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise DatasetError(f"probe frame not found: {missing[0]}" + (f" (+{len(missing) - 1} more)"
                                                                         if len(missing) > 1 else ""))
        if box is not None:
            return Probe(paths[0], "files", None, _decode_files(paths, box, size), box, reduced_for=_size(size))
        return Probe(paths[0], "files", tuple(paths), None)
    path = os.path.abspath(os.fspath(source))
    if os.path.isdir(path):
        paths = list_frames(path)
        if box is not None:
            return Probe(path, "folder", None, _decode_files(paths, box, size), box, reduced_for=_size(size))
        return Probe(path, "folder", tuple(paths), None)
    if not os.path.exists(path):
        raise DatasetError(f"probe not found: {path} (expected a folder of frames or a video file)")
    if path.lower().endswith(IMAGE_EXTENSIONS):
        from ..data.decode import FrameReadError, read_frame
        try:
            read_frame(path)            # one picture: unreadable is the error, not a frame to fill from neighbours
        except FrameReadError as e:
            raise DatasetError(f"probe {e}") from None
        return load_probe([path], box, size)
    if not path.lower().endswith(VIDEO_EXTENSIONS):
        # unknown extension: let OpenCV decide, with a message that says what was expected
        try:
            return Probe(path, "video", None, read_video(path, box, size, max_frames), box, reduced_for=_size(size))
        except DatasetError:
            raise DatasetError(f"{path}: neither a folder of frames, an image, nor a video OpenCV can read "
                               f"(expected {', '.join(VIDEO_EXTENSIONS[:6])} ...)") from None
    return Probe(path, "video", None, read_video(path, box, size, max_frames), box, reduced_for=_size(size))


def follow_probe(video: str, box, frame: int, detector=None, size: tuple[int, int] | None = None,
                 every: int = 1, window: int | None = None, max_gap: int = 10, progress: bool = False) -> Probe:
    """A probe that follows the person in `box` at `frame` (1-based) forwards and backwards through `video`
    (vidreid.tracking.follow), instead of cropping one fixed box on every frame. detector: a vidreid.tracking
    detector (default: HOG). The crops are padded to the model's aspect (`size`)."""
    from ..tracking.detectors import HogDetector
    from ..tracking.follow import follow
    box = parse_box(box)
    if box is None:
        raise VidReIDError("following a person needs --box x,y,w,h at --frame N")
    path = os.path.abspath(os.fspath(video))
    aspect = size[1] / size[0] if size else 0.5
    fd = follow(path, box, int(frame), detector or HogDetector(), every, window, max_gap, aspect,
                progress=progress)
    rgb = [np.ascontiguousarray(c[..., ::-1]) for c in fd.crops]     # BGR -> RGB
    info = fd.describe()
    info["frame_numbers"] = fd.frames.tolist()
    info["followed_boxes"] = np.round(fd.boxes, 1).tolist()
    return Probe(path, "video", None, decode_like_files(rgb, size), box, reduced_for=_size(size), followed=info)


def track_probe(folder: str, track: str, camera: str | None = None) -> Probe:
    """The tracklets of one track of a `vidreid tracklets` output folder as a probe (all its pieces, in order).
    track: a number (7), a tracklet name (t0007, t0007-2: that piece only) or CAMERA/NAME."""
    import json
    from ..tracking.pipeline import CROPS, SIDECAR
    side_path = os.path.join(os.fspath(folder), SIDECAR)
    if not os.path.isfile(side_path):
        raise DatasetError(f"{folder}: --track needs a `vidreid tracklets` output folder (no {SIDECAR} in it)")
    with open(side_path) as f:
        entries = json.load(f)["tracklets"]
    text = str(track)
    if "/" in text:
        camera, text = text.split("/", 1)
    cams = sorted({e["camera"] for e in entries})
    if camera is None and len(cams) > 1:
        raise VidReIDError(f"--track {track}: {folder} holds several cameras ({', '.join(cams)}); "
                           f"pass --camera or --track CAMERA/{text}")
    chosen = [e for e in entries if (camera is None or e["camera"] == camera)
              and (e["name"].split("/", 1)[1] == text or (text.isdigit() and e["track"] == int(text))
                   or (text.startswith("t") and text[1:].isdigit() and e["name"].endswith("/" + text)))]
    chosen = [e for e in chosen if "-" not in text or e["name"].endswith("/" + text)]
    if not chosen:
        names = ", ".join(e["name"] for e in entries[:8])
        raise VidReIDError(f"--track {track}: no such track in {folder} (tracklets: {names}"
                           + (" ..." if len(entries) > 8 else "") + ")")
    chosen.sort(key=lambda e: e["frames"][0])
    paths = [os.path.abspath(os.path.join(os.fspath(folder), CROPS, e["name"], f"f{n:06d}.jpg"))
             for e in chosen for n in e["frames"]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DatasetError(f"{missing[0]}: frame of track {track} not found (was the folder changed?)")
    probe = Probe(paths[0], "files", tuple(paths), None)
    probe.followed = {"track": chosen[0]["track"], "camera": chosen[0]["camera"], "video": chosen[0]["video"],
                      "tracklets": [e["name"] for e in chosen],
                      "frames": [chosen[0]["frames"][0], chosen[-1]["frames"][-1]], "boxes": len(paths)}
    return probe


def describe_followed(f: dict) -> str:
    """One line on a followed probe (follow_probe) or a track probe (track_probe)."""
    if "track" in f:
        return (f"track   {f['camera']}/{f['track']} of {f['video']}: frames {f['frames'][0]}-{f['frames'][1]}, "
                f"{f['boxes']} crops ({', '.join(f['tracklets'])})")
    return (f"followed from frame {f['seed_frame']}: frames {f['frames'][0]}-{f['frames'][1]}, {f['boxes']} boxes "
            f"(tracked forwards and backwards)")
