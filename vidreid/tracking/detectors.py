"""Person detectors: `detect(frame_bgr, frame_number) -> float32 (N, 5)` rows [x, y, w, h, score] in frame pixels.

Registry (`build_detector(spec)`):
    hog            OpenCV's built-in HOG + linear SVM people detector (Dalal & Triggs 2005): no weights to fetch.
                   Its window is 64x128 pixels, so people under ~100-128 px tall are missed unless the frame is
                   upscaled first (`upscale`); it is tuned for upright, unoccluded pedestrians and gives loose boxes.
                   score = sigmoid(SVM margin), so 0.5 is the SVM's own boundary.
    file:PATH      precomputed detections in MOTChallenge det.txt format (what YOLO / ByteTrack pipelines emit):
                   `frame, id, x, y, w, h, score[, ...]` per line, 1-based frame numbers, id ignored (-1), extra
                   columns (MOT's x, y, z) ignored. Scores are used as given.
    onnx:PATH      a user's ONNX person detector through onnxruntime (see OnnxDetector for the output layouts).
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass

import numpy as np

from ..errors import DatasetError, VidReIDError

EMPTY = np.zeros((0, 5), np.float32)


class DetectionsError(DatasetError):
    """A detections file or detector model is missing or malformed."""


@functools.cache
def _code_digest() -> str:
    """sha256 of the code between a video file and its boxes -- this file, tracker.py (nms's IoU), data/video.py
    (decoding) -- and of OpenCV's build (its FFmpeg): a change to any of them invalidates cached detections."""
    import cv2
    here = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256(cv2.getBuildInformation().encode())
    for path in (os.path.join(here, "detectors.py"), os.path.join(here, "tracker.py"),
                 os.path.join(here, os.pardir, "data", "video.py")):
        try:
            with open(path, "rb") as f:
                h.update(f.read())
        except OSError:                       # an install without sources: its version stands for its code
            from .. import __version__
            h.update(__version__.encode())
    return h.hexdigest()[:16]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def nms(boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the rows of `boxes` (N, 5) [x, y, w, h, score] that non-maximum suppression keeps."""
    from .tracker import iou_matrix
    order = np.argsort(-boxes[:, 4], kind="stable")
    iou = iou_matrix(boxes[order], boxes[order])                      # (N, N), best first
    suppressed = np.zeros(len(order), bool)
    for i in range(len(order)):                                       # greedy over the few boxes of one frame
        if not suppressed[i]:
            suppressed[i + 1:] |= iou[i, i + 1:] > iou_threshold
    return np.sort(order[~suppressed])


class HogDetector:
    """OpenCV's HOG people detector. upscale: frame scale before detection (2 finds people from ~50 px tall);
    downscale with values < 1 for speed on large frames."""

    def __init__(self, upscale: float = 1.0, min_score: float = 0.5, win_stride: int = 8, scale: float = 1.05,
                 nms_iou: float = 0.5):
        from ..data.video import _cv2
        cv2 = _cv2()                               # one clear line when OpenCV is not installed
        if upscale <= 0:
            raise VidReIDError(f"--upscale must be > 0, got {upscale}")
        self.cv2 = cv2
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.upscale, self.min_score, self.win_stride, self.scale, self.nms_iou = \
            upscale, min_score, win_stride, scale, nms_iou

    def cache_key(self) -> str:
        """What its boxes depend on (detection_cache.py): its settings, OpenCV's version and the code."""
        return (f"{type(self).__module__}.{type(self).__qualname__}|{self.upscale}|{self.min_score}|"
                f"{self.win_stride}|{self.scale}|{self.nms_iou}|{self.cv2.__version__}|{_code_digest()}")

    def detect(self, frame: np.ndarray, frame_number: int) -> np.ndarray:
        cv2 = self.cv2
        img = frame
        if self.upscale != 1.0:
            img = cv2.resize(frame, None, fx=self.upscale, fy=self.upscale,
                             interpolation=cv2.INTER_LINEAR if self.upscale > 1 else cv2.INTER_AREA)
        rects, weights = self.hog.detectMultiScale(img, winStride=(self.win_stride,) * 2, padding=(8, 8),
                                                   scale=self.scale)
        if not len(rects):
            return EMPTY
        out = np.empty((len(rects), 5), np.float32)
        out[:, :4] = np.asarray(rects, np.float32) / self.upscale
        out[:, 4] = sigmoid(np.asarray(weights, np.float32).reshape(-1))
        out = out[out[:, 4] >= self.min_score]
        return out[nms(out, self.nms_iou)]


def read_mot_file(path: str) -> np.ndarray:
    """MOTChallenge det.txt / gt.txt -> float64 (N, >=7) array; DetectionsError naming the file (and the line) when
    it is missing or malformed. Empty files give (0, 7)."""
    if not os.path.isfile(path):
        raise DetectionsError(f"{path}: detections file not found")
    try:
        with open(path) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise DetectionsError(f"{path}: cannot read the detections file ({e})") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return np.zeros((0, 7))
    rows = [ln.replace(",", " ").split() for ln in lines]             # MOT files are comma separated; allow spaces
    width = len(rows[0])
    for number, row in enumerate(rows, 1):                            # find the first bad line for the message
        if len(row) < 7 or len(row) != width:
            raise DetectionsError(f"{path}: line {number}: expected the MOTChallenge columns frame, id, x, y, w, h, "
                                  f"score[, x, y, z] ({width if len(row) >= 7 else 7} values), got {len(row)}")
    try:
        data = np.array(rows, dtype=np.float64)
    except ValueError:
        bad = next(i for i, r in enumerate(rows, 1) if not _numbers(r))
        raise DetectionsError(f"{path}: line {bad}: not numbers: {lines[bad - 1].strip()[:80]!r}") from None
    if not np.isfinite(data).all():
        bad = int(np.flatnonzero(~np.isfinite(data).all(1))[0]) + 1
        raise DetectionsError(f"{path}: line {bad}: non-finite value")
    if (data[:, 0] < 1).any() or (data[:, 0] != np.round(data[:, 0])).any():
        bad = int(np.flatnonzero((data[:, 0] < 1) | (data[:, 0] != np.round(data[:, 0])))[0]) + 1
        raise DetectionsError(f"{path}: line {bad}: the frame number must be an integer >= 1 (MOTChallenge frames "
                              f"are 1-based)")
    if ((data[:, 4] <= 0) | (data[:, 5] <= 0)).any():
        bad = int(np.flatnonzero((data[:, 4] <= 0) | (data[:, 5] <= 0))[0]) + 1
        raise DetectionsError(f"{path}: line {bad}: box width and height must be > 0")
    return data


def _numbers(row) -> bool:
    try:
        [float(v) for v in row]
        return True
    except ValueError:
        return False


class FileDetector:
    """Detections read from a MOTChallenge det.txt (the whole file is small: a few numbers per box)."""

    needs_pixels = False                  # tracking from a file needs no decoding

    def __init__(self, path: str, min_score: float = -np.inf):
        data = read_mot_file(path)
        data = data[data[:, 6] >= min_score]
        order = np.argsort(data[:, 0], kind="stable")
        data = data[order]
        self.frames = data[:, 0].astype(np.int64)
        self.boxes = np.ascontiguousarray(data[:, [2, 3, 4, 5, 6]], dtype=np.float32)
        self.path = path

    def detect(self, frame: np.ndarray | None, frame_number: int) -> np.ndarray:
        a, b = np.searchsorted(self.frames, [frame_number, frame_number + 1])
        return self.boxes[a:b]


ONNX_LAYOUTS = ("yolov5", "yolov8", "boxes")


@dataclass
class OnnxDetector:
    """A person detector exported to ONNX, run with onnxruntime on a letterboxed RGB frame scaled to [0, 1]
    (NCHW float32; the input size is the model's when static, else `input_size`).

    The first output is read in one of these layouts (`layout`, or told from its shape when unambiguous):
        yolov5   (1, N, 5 + C): cx, cy, w, h, objectness, C class scores (YOLOv5, YOLOv7, decoded YOLOX);
                 score = objectness x person-class score. Told from the shape when 5 + C = 85 (COCO).
        yolov8   (1, 4 + C, N) or (1, N, 4 + C): cx, cy, w, h, C class scores (YOLOv8 / YOLO11 heads);
                 score = person-class score. The channel axis is the shorter one; told from the shape when the
                 output is (1, 4 + C, N) with 4 + C < N, or (1, N, 84) (COCO).
        boxes    (1, N, 5) or (1, N, 6) / (N, 6): x1, y1, x2, y2, score[, class] after NMS (end-to-end exports);
                 rows of another class than `person_class` dropped when a class column is present.
    Box coordinates are in the letterboxed input's pixels; raw heads (yolov5, yolov8) go through NMS here.
    """
    path: str
    layout: str | None = None      # one of ONNX_LAYOUTS, None = tell from the output's shape
    person_class: int = 0          # the class index of "person" (COCO: 0)
    min_score: float = 0.3         # detections below this score are dropped before NMS
    nms_iou: float = 0.5
    input_size: int = 640          # square input side when the model's input shape is dynamic

    def __post_init__(self):
        if not os.path.isfile(self.path):
            raise DetectionsError(f"{self.path}: ONNX detector not found")
        if self.layout is not None and self.layout not in ONNX_LAYOUTS:
            raise VidReIDError(f"--onnx-layout must be one of {', '.join(ONNX_LAYOUTS)}, got {self.layout!r}")
        try:
            import onnxruntime as ort
        except ImportError:
            raise VidReIDError("--detector onnx:PATH needs onnxruntime: pip install 'vidreid[export]' "
                               "(or onnxruntime)") from None
        try:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.log_severity_level = 3
            self.session = ort.InferenceSession(self.path, opts, providers=["CPUExecutionProvider"])
        except Exception as e:   # onnxruntime raises its own exception types for a bad file
            raise DetectionsError(f"{self.path}: onnxruntime cannot load this model "
                                  f"({str(e).strip().splitlines()[0][:160]})") from None
        inp = self.session.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4:
            raise DetectionsError(f"{self.path}: expected one image input (1, 3, H, W), got input {inp.name!r} of "
                                  f"shape {shape}")
        h, w = shape[2], shape[3]
        self.size = (h if isinstance(h, int) and h > 0 else self.input_size,
                     w if isinstance(w, int) and w > 0 else self.input_size)
        self.input_name = inp.name

    def letterbox(self, frame: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """BGR frame -> ((1, 3, h, w) float32 RGB in [0, 1], scale, pad x, pad y): the frame scaled to fit,
        centred on grey 114 (the YOLO convention)."""
        import cv2
        H, W = frame.shape[:2]
        h, w = self.size
        s = min(h / H, w / W)
        nh, nw = max(1, round(H * s)), max(1, round(W * s))
        px, py = (w - nw) // 2, (h - nh) // 2
        canvas = np.full((h, w, 3), 114, np.uint8)
        canvas[py:py + nh, px:px + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
        x = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0   # (1, 3, h, w) RGB
        return np.ascontiguousarray(x), s, px, py

    def _layout(self, out: np.ndarray) -> str:
        if self.layout is not None:
            return self.layout
        if out.ndim == 3 and out.shape[0] == 1:
            a, b = out.shape[1:]
            if 5 <= a < b:
                return "yolov8"          # channels first (1, 4 + C, N): anchors outnumber channels
            if b == 85:
                return "yolov5"
            if b == 84:
                return "yolov8"
        raise DetectionsError(f"{self.path}: cannot tell the layout of the output of shape {list(out.shape)}; pass "
                              f"--onnx-layout {'|'.join(ONNX_LAYOUTS)} (see `vidreid tracklets --help`)")

    def decode(self, out: np.ndarray) -> np.ndarray:
        """The model's first output -> (N, 5) [x, y, w, h, score] in letterboxed-input pixels."""
        layout = self._layout(out)
        shape = list(out.shape)
        if layout == "yolov8":
            if out.ndim != 3 or out.shape[0] != 1 or min(out.shape[1:]) < 5:
                raise DetectionsError(f"{self.path}: layout yolov8 expects an output (1, 4 + C, N), got {shape}")
            rows = out[0].T if out.shape[1] < out.shape[2] else out[0]    # (N, 4 + C): channels = shorter axis
            if self.person_class + 4 >= rows.shape[1]:
                raise DetectionsError(f"{self.path}: --person-class {self.person_class} but the output has "
                                      f"{rows.shape[1] - 4} classes")
            xywh, score = rows[:, :4], rows[:, 4 + self.person_class]
            return self._raw(xywh, score)
        if layout == "yolov5":
            if out.ndim != 3 or out.shape[0] != 1 or out.shape[2] < 6:
                raise DetectionsError(f"{self.path}: layout yolov5 expects an output (1, N, 5 + C), got {shape}")
            rows = out[0]
            if self.person_class + 5 >= rows.shape[1]:
                raise DetectionsError(f"{self.path}: --person-class {self.person_class} but the output has "
                                      f"{rows.shape[1] - 5} classes")
            return self._raw(rows[:, :4], rows[:, 4] * rows[:, 5 + self.person_class])
        rows = out[0] if out.ndim == 3 and out.shape[0] == 1 else out
        if rows.ndim != 2 or rows.shape[1] not in (5, 6):
            raise DetectionsError(f"{self.path}: layout boxes expects an output (1, N, 5|6) or (N, 5|6), got {shape}")
        if rows.shape[1] == 6:
            rows = rows[np.round(rows[:, 5]) == self.person_class]
        rows = rows[rows[:, 4] >= self.min_score]
        return np.concatenate([rows[:, :2], rows[:, 2:4] - rows[:, :2], rows[:, 4:5]], 1).astype(np.float32)

    def _raw(self, cxcywh: np.ndarray, score: np.ndarray) -> np.ndarray:
        keep = score >= self.min_score
        cxcywh, score = cxcywh[keep], score[keep]
        boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:4] / 2, cxcywh[:, 2:4], score[:, None]], 1)
        boxes = boxes.astype(np.float32)
        return boxes[nms(boxes, self.nms_iou)]

    def detect(self, frame: np.ndarray, frame_number: int) -> np.ndarray:
        x, s, px, py = self.letterbox(frame)
        out = np.asarray(self.session.run(None, {self.input_name: x})[0], np.float32)
        boxes = self.decode(out)
        boxes[:, 0] = (boxes[:, 0] - px) / s                          # back to frame pixels
        boxes[:, 1] = (boxes[:, 1] - py) / s
        boxes[:, 2:4] /= s
        return boxes[(boxes[:, 2] > 0) & (boxes[:, 3] > 0)]


def build_detector(spec: str | None, detections: str | None = None, upscale: float = 1.0,
                   min_score: float | None = None, onnx_layout: str | None = None, person_class: int = 0):
    """`--detector hog | onnx:PATH` or `--detections det.txt` -> a detector."""
    if detections is not None:
        if spec not in (None, "hog"):
            raise VidReIDError("pass either --detector or --detections, not both")
        return FileDetector(detections, -np.inf if min_score is None else min_score)
    spec = spec or "hog"
    if spec == "hog":
        return HogDetector(upscale, 0.5 if min_score is None else min_score)
    if spec.startswith("onnx:"):
        return OnnxDetector(spec[5:], onnx_layout, person_class, 0.3 if min_score is None else min_score)
    if spec.startswith("file:"):
        return FileDetector(spec[5:], -np.inf if min_score is None else min_score)
    raise VidReIDError(f"--detector must be hog, onnx:PATH or file:PATH (MOTChallenge det.txt), got {spec!r}")


def build_detectors(videos: list[str], spec: str | None, detections: list[str] | None, **options) -> list:
    """One detector per video: a det.txt each (`detections`, in the videos' order) or one `spec` (hog | onnx:PATH)
    shared by all; `options` as build_detector's (upscale, min_score, onnx_layout, person_class)."""
    if detections:
        return [build_detector(None, d, **options) for d in detections]
    return [build_detector(spec, None, **options)] * len(videos)
