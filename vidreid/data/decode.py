"""Frame decoding: simplejpeg (libjpeg-turbo) for JPEG, PIL otherwise; corrupt frames skipped or fatal.

`read_frame(path)` -> uint8 (H, W, 3) RGB. Given a target size, a JPEG at least twice as large as the target is
decoded directly at reduced scale (libjpeg's DCT scaling, factors 1/2, 1/4, 1/8): still >= the target, much faster.

`read_clip(frames, indices, ...)` decodes the frames of one clip (each distinct frame once) and handles bad frames:
strict=False (default) -> a `CorruptFrameWarning` naming the file, and the frame is filled with the nearest readable
frame of the tracklet (the clip's own frames first); strict=True -> `DatasetError` naming the file. Each bad file is
warned about once, on one line, and counted once (`skipped_frame_count()`): the set of bad files found so far is
kept in shared memory created at import, so the DataLoader workers forked from this process (each of which may meet
the same bad frame) neither warn again nor count it twice. Workers started with "spawn" (not Linux's default) get
their own copy: there a file can be warned about once per worker. A tracklet with no readable frame at all raises
`NoReadableFrameError` (a DatasetError), which the loaders turn into a dropped tracklet and one warning
(`DroppedTracklets`, `UnreadableTrackletWarning`).
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import warnings
from typing import Sequence

import numpy as np
import simplejpeg
from PIL import Image

from ..errors import DatasetError

JPEG_MAGIC = b"\xff\xd8"
_bad_frames: set[str] = set()  # per process: frames already found unreadable (never decoded again by this process)
# Shared memory, so that DataLoader workers forked after import see and add to the parent's:
_ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() \
    else multiprocessing.get_context()
_skipped = _ctx.Value("q", 0)              # distinct unreadable frames found so far; its lock guards the table too
SHARED_BAD_FRAMES = 1 << 14                # bad frames remembered across processes (past that: counted per worker)
_bad_hashes = _ctx.RawArray("q", SHARED_BAD_FRAMES)   # 64-bit hashes of the bad frames' paths, first _remembered
_remembered = _ctx.RawValue("q", 0)


class DataWarning(UserWarning):
    """Base of vidreid's data warnings; printed as one line: `vidreid: warning: <message>`."""


class CorruptFrameWarning(DataWarning):
    """A frame could not be read and was replaced by another frame of its tracklet."""


class NoReadableFrameError(DatasetError):
    """Every frame of a tracklet is missing or corrupt."""


class UnreadableTrackletWarning(CorruptFrameWarning):
    """A tracklet none of whose frames can be read was dropped (from training, extraction or evaluation)."""


def unreadable_tracklet_message(index: int, tracklet, what: str, consequence: str = "") -> str:
    """One line naming a tracklet without a readable frame: its index in its split (`what`: training, test,
    query ...), pid, camid and folder, and what dropping it means (`consequence`)."""
    folder = os.path.dirname(tracklet.frames[0]) if len(tracklet.frames) else "no frames"
    tail = f"; {consequence}" if consequence else ""
    return (f"dropping {what} tracklet {index} (pid {tracklet.pid}, camid {tracklet.camid}, {folder}): none of its "
            f"{len(tracklet.frames)} frames is readable{tail}")


class DroppedTracklets:
    """The tracklets of one list found without a readable frame by this process (each DataLoader worker keeps its
    own): `drop(i)` records tracklet i and warns about it once (`UnreadableTrackletWarning`, one line, see
    `unreadable_tracklet_message`); `i in dropped`, `len(dropped)`."""

    def __init__(self, tracklets: Sequence, what: str, consequence: str = ""):
        self.tracklets, self.what, self.consequence = tracklets, what, consequence
        self.indices: set[int] = set()

    def drop(self, index: int) -> None:
        if index in self.indices:
            return
        self.indices.add(index)
        warnings.warn(unreadable_tracklet_message(index, self.tracklets[index], self.what, self.consequence),
                      UnreadableTrackletWarning, stacklevel=3)

    def __contains__(self, index: int) -> bool:
        return index in self.indices

    def __len__(self) -> int:
        return len(self.indices)


_default_formatwarning = warnings.formatwarning


def _formatwarning(message, category, filename, lineno, line=None):
    if isinstance(category, type) and issubclass(category, DataWarning):
        return f"vidreid: warning: {message}\n"    # one line: no source file, no code line
    return _default_formatwarning(message, category, filename, lineno, line)


warnings.formatwarning = _formatwarning


def skipped_frame_count() -> int:
    """Unreadable frames skipped so far by this process and the DataLoader workers it forked."""
    return int(_skipped.value)


def _path_hash(path: str) -> int:
    digest = hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _first_report(path: str) -> int | None:
    """Record `path` as unreadable in the table shared with the forked workers -> the new skipped count if no
    process had recorded it yet (this one warns), else None (already warned about and counted)."""
    h = _path_hash(path)
    with _skipped.get_lock():
        n = _remembered.value
        if n and (np.frombuffer(_bad_hashes, dtype=np.int64, count=n) == h).any():
            return None
        if n < SHARED_BAD_FRAMES:
            _bad_hashes[n] = h
            _remembered.value = n + 1
        _skipped.value += 1
        return _skipped.value


def forget_bad_frames() -> None:
    """Forget which frames were found unreadable (this process and the shared table; the count stays): tests use it
    to see a warning again."""
    _bad_frames.clear()
    with _skipped.get_lock():
        _remembered.value = 0


class FrameReadError(Exception):
    """Internal: one frame could not be read (converted to a warning or a DatasetError by read_clip)."""


def _decode_pil(path: str, data: bytes | None = None) -> np.ndarray:
    import io
    with Image.open(io.BytesIO(data) if data is not None else path) as img:
        return np.asarray(img.convert("RGB"))


def read_frame(path: str, min_size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode one frame -> uint8 (H, W, 3) RGB. `min_size=(h, w)`: the decoded frame may be smaller than the file
    (JPEG only, by a factor >= 2) but never smaller than (h, w). Raises FrameReadError if unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FrameReadError(f"{path}: cannot read ({e.strerror or e})") from None
    if data[:2] == JPEG_MAGIC:
        h, w = min_size if min_size else (0, 0)
        try:
            # min_factor=2: only the fast power-of-two DCT scales; a target < 2x smaller decodes at full size
            return simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=h, min_width=w, min_factor=2)
        except ValueError:
            pass  # truncated/corrupt, or a variant turbojpeg cannot convert (CMYK...): PIL decides
    try:
        return _decode_pil(path, data)
    except Exception as e:  # PIL raises many types (UnidentifiedImageError, OSError, SyntaxError...)
        raise FrameReadError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None


def _resize_uint8(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if img.shape[:2] == tuple(size):
        return img
    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.BILINEAR))


def read_clip(frames: Sequence[str], indices, size: tuple[int, int] | None = None, strict: bool = False,
              ) -> np.ndarray:
    """Decode frames[indices] -> uint8 (T, H, W, 3).

    `size=(height, width)` is the model input size: it enables reduced-scale JPEG decoding, and frames of different
    sizes within one clip are each resized to it (frames of one size are left for the clip transform to resize in
    one op). Unreadable frames: see the module docstring.
    """
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(indices) and (np.diff(indices) > 0).all():             # distinct frames in order (most clips)
        clip = _read_distinct_jpegs(frames, indices, size)
        if clip is not None:
            return clip
        unique, inverse = indices, np.arange(len(indices))
    else:
        unique, inverse = np.unique(indices, return_inverse=True)
    decoded: dict[int, np.ndarray] = {}
    bad: list[int] = []
    for i in unique.tolist():                                     # one decode per distinct frame of the clip
        img = _try_read(frames[i], size, strict)
        if img is None:
            bad.append(i)
        else:
            decoded[i] = img
    if bad:
        _fill_bad(frames, bad, decoded, size, strict)
    imgs = [decoded[i] for i in unique.tolist()]
    if len({im.shape for im in imgs}) > 1:
        if size is None:
            raise DatasetError(f"frames of different sizes in one clip ({frames[unique[0]]} ...) and no target size")
        imgs = [_resize_uint8(im, size) for im in imgs]
    inverse = inverse.reshape(-1)
    if len(imgs) == len(inverse) and (inverse == np.arange(len(inverse))).all():
        return np.stack(imgs)                                    # (T, H, W, 3): distinct frames in order, one copy
    return np.stack(imgs)[inverse]                               # (T, H, W, 3): repeated or unordered frames


def _read_distinct_jpegs(frames: Sequence[str], indices: np.ndarray, size) -> np.ndarray | None:
    """The common clip, fast: distinct readable JPEG frames of one decoded size, each decoded straight into its slot
    of the (T, H, W, 3) result (no per-frame array, no stacking copy). None at the first frame that is not (unread,
    not a JPEG, corrupt, already known bad, another size): read_clip then takes its general path, which decides."""
    h, w = size if size else (0, 0)
    out = None
    for k, i in enumerate(indices.tolist()):                      # loop over the T frames of the clip
        path = frames[i]
        if path in _bad_frames:
            return None
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        if data[:2] != JPEG_MAGIC:
            return None
        try:
            if out is None:
                img = simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=h, min_width=w, min_factor=2)
                out = np.empty((len(indices), *img.shape), dtype=np.uint8)
                out[0] = img
            else:
                img = simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=h, min_width=w, min_factor=2,
                                             buffer=out[k])
                if img.shape != out.shape[1:]:
                    return None
        except ValueError:                # corrupt, or larger than the first frame (the buffer is too small)
            return None
    return out


def _try_read(path: str, size, strict: bool) -> np.ndarray | None:
    if path in _bad_frames and not strict:
        return None
    try:
        return read_frame(path, size)
    except FrameReadError as e:
        if strict:
            raise DatasetError(f"{e} (data.strict=true; set it false to skip bad frames with a warning)") from None
        _bad_frames.add(path)
        n = _first_report(path)
        if n is None:                        # another worker (or this process, earlier) already warned about it
            return None
        warnings.warn(f"skipping unreadable frame {e}; filled with a neighbouring frame of its tracklet "
                      f"({n} skipped so far)", CorruptFrameWarning, stacklevel=3)
        return None


def _fill_bad(frames: Sequence[str], bad: list[int], decoded: dict[int, np.ndarray], size, strict: bool) -> None:
    """Replace each bad frame by the nearest good one: first among the clip's decoded frames, else by scanning the
    tracklet outwards from the bad frame (decoding as needed)."""
    good = np.fromiter(decoded, dtype=np.int64, count=len(decoded))
    for b in bad:
        if good.size:
            decoded[b] = decoded[int(good[np.argmin(np.abs(good - b))])]
            continue
        order = np.argsort(np.abs(np.arange(len(frames)) - b), kind="stable")
        for j in order.tolist():
            if j in bad:
                continue
            img = _try_read(frames[j], size, strict)
            if img is not None:
                decoded[j] = decoded[b] = img
                good = np.array([j], dtype=np.int64)          # later bad frames of this clip reuse it
                break
        else:
            raise NoReadableFrameError(f"no readable frame in the tracklet of {frames[b]} ({len(frames)} frames, all "
                                       f"corrupt or missing)")
