"""Small synthetic videos for the tracking tests: coloured blocks walking across a textured background, with their
true boxes (so tests can write det.txt files and check what the crops show)."""
import os

import numpy as np

BG = 90          # background grey level (with a faint stripe texture)


def block_video(path, frames=24, size=(120, 160), people=None, fps=10.0):
    """Write an MJPG .avi of `frames` frames (H, W) = size where each person (colour BGR, x0, y, w, h, dx per frame)
    is a filled block moving horizontally. Returns {person index: (frames, 4) boxes [x, y, w, h]}, frames 1-based
    rows in order."""
    import cv2
    people = [((0, 0, 230), 10, 30, 16, 40, 4), ((230, 80, 0), 130, 40, 16, 40, -4)] if people is None else people
    H, W = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    assert writer.isOpened()
    boxes = {i: [] for i in range(len(people))}
    bg = np.full((H, W, 3), BG, np.uint8)
    bg[:, ::8] = BG + 20
    for f in range(frames):                                      # loop over a handful of test frames
        img = bg.copy()
        for i, (colour, x0, y, w, h, dx) in enumerate(people):
            x = x0 + dx * f
            img[y:y + h, max(x, 0):max(x + w, 0)] = colour
            boxes[i].append((x, y, w, h))
        writer.write(img)
    writer.release()
    return {i: np.array(b, float) for i, b in boxes.items()}


def write_det(path, boxes: dict, score=0.9, drop=()):
    """MOTChallenge det.txt of the true boxes (frames in `drop` left out; a dict {person: frames} drops only those
    persons' boxes)."""
    lines = []
    for i, b in boxes.items():
        dropped = drop.get(i, ()) if isinstance(drop, dict) else drop
        for f, (x, y, w, h) in enumerate(b.tolist(), 1):
            if f not in dropped:
                lines.append(f"{f},-1,{x},{y},{w},{h},{score},-1,-1,-1")
    lines.sort(key=lambda s: int(s.split(",")[0]))
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return str(path)


def crop_colour(path) -> np.ndarray:
    """Mean BGR of a crop's central region."""
    import cv2
    img = cv2.imread(str(path))
    h, w = img.shape[:2]
    return img[h // 3:2 * h // 3, w // 3:2 * w // 3].reshape(-1, 3).mean(0)


def frame_files(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".jpg"))
