"""Pictures of a tracklets run: a contact sheet (one row of crops per tracklet) and an annotated preview video."""
from __future__ import annotations

import os

import numpy as np

LABEL_W = 150          # contact sheet: width of the label column (pixels)


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, saturated BGR colour per track id (golden-ratio hue steps keep neighbours apart)."""
    import cv2
    hue = int((track_id * 0.61803398875 % 1.0) * 180)
    hsv = np.uint8([[[hue, 220, 255]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_boxes(frame: np.ndarray, boxes: np.ndarray, ids: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Boxes (N, 4) [x, y, w, h] with their ids drawn on a copy of a BGR frame resized by `scale`."""
    import cv2
    img = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale != 1 else frame.copy()
    for (x, y, w, h), i in zip((np.asarray(boxes)[:, :4] * scale).round().astype(int).tolist(),
                               np.asarray(ids).astype(int).tolist()):            # loop over the few boxes
        c = track_colour(i)
        cv2.rectangle(img, (x, y), (x + w, y + h), c, 2)
        cv2.putText(img, str(i), (x + 2, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, c, 2, cv2.LINE_AA)
    return img


def contact_sheet(rows: list[tuple[str, list[np.ndarray]]], thumb: tuple[int, int] = (96, 48),
                  per_row: int = 8) -> np.ndarray:
    """[(label, BGR crops)] -> one BGR picture: per tracklet a label and up to `per_row` evenly spaced crops."""
    import cv2
    h, w = thumb
    sheet = np.full((max(1, len(rows)) * (h + 4) + 4, LABEL_W + per_row * (w + 2) + 2, 3), 255, np.uint8)
    for r, (label, crops) in enumerate(rows):                                   # loop over tracklets
        y = 4 + r * (h + 4)
        for i, line in enumerate(label.split("\n")[:3]):
            cv2.putText(sheet, line, (4, y + 16 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        pick = np.unique(np.linspace(0, len(crops) - 1, min(per_row, len(crops))).round().astype(int)) \
            if crops else []
        for k, j in enumerate(pick):
            x = LABEL_W + k * (w + 2)
            sheet[y:y + h, x:x + w] = cv2.resize(crops[j], (w, h), interpolation=cv2.INTER_AREA)
    return sheet


def write_png(path: str, img: np.ndarray) -> None:
    import cv2

    from ..utils.io import atomic_path
    ok, buf = cv2.imencode(".png", img)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(buf.tobytes())


class PreviewWriter:
    """The annotated frames of one video as MP4 (OpenCV's mpeg4 writer) or GIF (Pillow; frames subsampled to at most
    `gif_frames`, since a GIF is held in memory until written). Frames are scaled to at most `max_width` pixels."""

    def __init__(self, path: str, kind: str, fps: float, size: tuple[int, int], max_width: int = 640,
                 gif_frames: int = 150, total: int | None = None):
        import cv2
        self.path, self.kind = path, kind
        H, W = size
        self.scale = min(1.0, max_width / W)
        self.size = (int(round(W * self.scale)), int(round(H * self.scale)))
        self.fps = fps if fps and fps > 0 else 10.0
        self.frames: list[np.ndarray] = []
        self.gif_every = max(1, -(-(total or 0) // gif_frames)) if total else 1
        self.count = 0
        if kind == "mp4":
            self.tmp = os.path.join(os.path.dirname(path), ".tmp-" + os.path.basename(path))
            self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            if not self.writer.isOpened():
                from ..errors import VidReIDError
                raise VidReIDError(f"{path}: OpenCV cannot write MP4 here (no mpeg4 encoder); use --preview gif")

    def add(self, frame: np.ndarray, boxes: np.ndarray, ids: np.ndarray) -> None:
        import cv2
        self.count += 1
        if self.kind == "gif" and (self.count - 1) % self.gif_every:
            return
        img = draw_boxes(frame, boxes, ids, self.scale)
        img = cv2.resize(img, self.size) if img.shape[1::-1] != self.size else img
        if self.kind == "mp4":
            self.writer.write(img)
        else:
            self.frames.append(img[..., ::-1].copy())

    def close(self) -> None:
        if self.kind == "mp4":
            from ..utils.io import fsync_path
            self.writer.release()
            fsync_path(self.tmp)                          # as every vidreid write: durable before it is renamed in
            os.replace(self.tmp, self.path)
            fsync_path(os.path.dirname(self.path) or ".")
            return
        from PIL import Image
        if not self.frames:
            return
        imgs = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=128) for f in self.frames]
        imgs[0].save(self.path, save_all=True, append_images=imgs[1:], loop=0,
                     duration=int(1000 * self.gif_every / self.fps))
