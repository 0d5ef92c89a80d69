"""SynthPed scenes: full-frame multi-camera videos with MOTChallenge ground truth, and the tracker measured on them."""
import json
import os
import warnings

import numpy as np
import pytest

from vidreid.cli import main
from vidreid.tracking.detectors import read_mot_file
from vidreid.tracking.metrics import evaluate_mot

ARGS = ["--cams", "2", "--ids", "4", "--frames", "40", "--size", "144x256", "--seed", "3", "--quiet"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenes") / "s"
    assert main(["synth", "--scenes", "--out", str(out), *ARGS]) == 0
    return out


def test_layout_ground_truth_and_determinism(scenes, tmp_path):
    doc = json.load(open(scenes / "scenes.json"))
    assert [c["camera"] for c in doc["cameras"]] == ["cam1", "cam2"]
    import cv2
    cap = cv2.VideoCapture(str(scenes / "cam1" / "cam1.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 40 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 256
    gt = read_mot_file(str(scenes / "cam1" / "gt" / "gt.txt"))
    assert gt.shape[1] == 9 and set(np.unique(gt[:, 1]).astype(int)) <= {1, 2, 3, 4}
    assert ((gt[:, 8] > 0) & (gt[:, 8] <= 1)).all() and (gt[:, 0] >= 1).all() and (gt[:, 0] <= 40).all()
    # one box per identity per frame; boxes of walkers are taller than wide
    assert len(np.unique(gt[:, :2], axis=0)) == len(gt)
    inside = gt[gt[:, 8] > 0.9]
    assert (inside[:, 5] > 1.5 * inside[:, 4]).mean() > 0.9
    # the same identities in several cameras (what cross-camera re-ID needs)
    ids = [set(c["identities"]) for c in doc["cameras"]]
    assert len(ids[0] & ids[1]) >= 2
    # oracle detections = the ground truth with visibility >= 0.25
    det = read_mot_file(str(scenes / "cam1" / "det" / "det.txt"))
    assert len(det) == (gt[:, 8] >= 0.25).sum()
    # same seed, same ground truth; an existing output is kept without --force
    assert main(["synth", "--scenes", "--out", str(scenes), *ARGS]) == 2
    again = tmp_path / "again"
    assert main(["synth", "--scenes", "--out", str(again), *ARGS]) == 0
    assert (again / "cam1" / "gt" / "gt.txt").read_text() == (scenes / "cam1" / "gt" / "gt.txt").read_text()


def test_ground_truth_box_covers_the_painted_person(scenes):
    """A fully visible person's box: the frame differs from the background (the median over the frames where no
    box covers the pixel) inside the box much more than in a band just outside it."""
    checked = sum(_check_boxes(scenes, cam) for cam in ("cam1", "cam2"))
    assert checked >= 2


def _check_boxes(scenes, cam) -> int:
    import cv2
    gt = read_mot_file(str(scenes / cam / "gt" / "gt.txt"))
    cap = cv2.VideoCapture(str(scenes / cam / f"{cam}.avi"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f.astype(np.float32))
    frames = np.stack(frames)                                           # (T, H, W, 3)
    covered = np.zeros(frames.shape[:3], bool)                          # any person's box (+ 3 px) in that frame
    for f, _, x, y, w, h in gt[:, :6].astype(int).tolist():
        covered[f - 1, max(0, y - 3):y + h + 3, max(0, x - 3):x + w + 3] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)                 # pixels covered in every frame: NaN
        background = np.nanmedian(np.where(covered[..., None], np.nan, frames), 0)   # nobody there
    checked = 0
    for f, i, x, y, w, h, *_, vis in gt.tolist():
        f, x, y, w, h = int(f), int(x), int(y), int(w), int(h)
        o = gt[(gt[:, 0] == f) & (gt[:, 1] != i)]
        near = ((o[:, 2] < x + w + 7) & (o[:, 2] + o[:, 4] > x - 7) & (o[:, 3] < y + h + 7)
                & (o[:, 3] + o[:, 5] > y - 7)).any()
        if vis < 0.99 or x < 8 or y < 8 or x + w > 248 or y + h > 144 or near:
            continue
        if np.isnan(background[y:y + h, x - 6:x + w + 6]).any():
            continue                                                    # no frame shows the background there
        diff = np.abs(frames[f - 1] - background).mean(2)
        inner = diff[y:y + h, x:x + w].mean()
        ring = np.concatenate([diff[y:y + h, x - 6:x - 2].ravel(), diff[y:y + h, x + w + 2:x + w + 6].ravel()])
        assert inner > 3 * ring.mean() + 1, (f, i, inner, ring.mean())
        checked += 1
    return checked


def test_tracker_on_oracle_detections(scenes, tmp_path):
    out = tmp_path / "t"
    videos = [scenes / c / f"{c}.avi" for c in ("cam1", "cam2")]
    dets = [scenes / c / "det" / "det.txt" for c in ("cam1", "cam2")]
    assert main(["tracklets", *map(str, videos), "--detections", str(dets[0]), "--detections", str(dets[1]),
                 "--out", str(out), "--min-height", "20", "--min-len", "4", "--preview", "none",
                 "--no-progress"]) == 0
    for cam in ("cam1", "cam2"):
        gt = read_mot_file(str(scenes / cam / "gt" / "gt.txt"))
        gt = gt[gt[:, 8] >= 0.25]
        hyp = read_mot_file(str(out / f"{cam}.tracks.txt"))
        m = evaluate_mot(gt, hyp)
        assert m.mota > 0.8 and m.idf1 > 0.7, (cam, m)
