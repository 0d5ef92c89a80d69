"""Probes that follow a person: seed box at frame N -> tracked forwards and backwards; --track of a tracklets run."""
import json
import re

import numpy as np
import pytest

from helpers_video import block_video, write_det
from vidreid.cli import main
from vidreid.errors import VidReIDError
from vidreid.search.probe import follow_probe, track_probe
from vidreid.tracking.detectors import FileDetector

pytest.importorskip("faiss", reason="search needs faiss-cpu")


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    """Red walks right, blue walks left; they cross around frame 15 (rows 30 / 40: overlapping boxes)."""
    root = tmp_path_factory.mktemp("follow")
    boxes = block_video(root / "cam1.avi", frames=30, people=[((0, 0, 230), 10, 30, 16, 40, 4),
                                                             ((230, 80, 0), 130, 40, 16, 40, -4)])
    det = write_det(root / "det.txt", boxes, drop=(20, 21))         # both missed on two frames
    return root, boxes, det


def test_follow_forwards_and_backwards_keeps_the_person(crossing):
    root, boxes, det = crossing
    seed = tuple(int(v) for v in boxes[1][17])                       # blue at frame 18, after the crossing
    p = follow_probe(str(root / "cam1.avi"), seed, 18, FileDetector(det), size=(64, 32))
    f = p.followed
    assert f["seed_frame"] == 18 and f["frames"] == [1, 30]
    assert f["frame_numbers"] == [n for n in range(1, 31) if n not in (20, 21)]
    np.testing.assert_allclose(np.array(f["followed_boxes"])[:, 0], boxes[1][np.array(f["frame_numbers"]) - 1, 0],
                               atol=0.5)                             # blue all along: no swap at the crossing
    assert p.frames.shape[0] == 28 and p.frames.shape[-1] == 3
    L, H, W = p.frames.shape[:3]
    centre = p.frames[:, H // 3:2 * H // 3, W // 3:2 * W // 3].reshape(L, -1, 3)
    assert (centre.mean(1)[:, 2] > 180).all()                        # RGB: blue channel high in every crop


def test_follow_bad_seed_is_one_clear_error(crossing):
    root, _, det = crossing
    with pytest.raises(VidReIDError, match="--frame 99"):
        follow_probe(str(root / "cam1.avi"), (10, 10, 5, 5), 99, FileDetector(det))
    with pytest.raises(VidReIDError, match="lies outside"):
        follow_probe(str(root / "cam1.avi"), (500, 10, 5, 5), 3, FileDetector(det))


def test_a_box_mostly_outside_the_frame_is_refused_one_crossing_the_border_is_clipped():
    from vidreid.search.probe import crop
    frames = np.zeros((2, 40, 30, 3), np.uint8)
    assert crop(frames, (20, 10, 15, 20), "f").shape == (2, 20, 10, 3)        # 10 of 15 columns inside: clipped
    with pytest.raises(VidReIDError, match=r"f: --box 0,0,300,400 lies mostly outside the 30x40 frames \(only 1%"):
        crop(frames, (0, 0, 300, 400), "f")                                  # a box of a 10x larger frame
    with pytest.raises(VidReIDError, match="mostly outside"):
        crop(frames, (25, 0, 11, 40), "f")                                   # 5 of 11 columns inside


@pytest.fixture(scope="module")
def index(crossing, tmp_path_factory):
    from test_search import make_checkpoint
    root, _, det = crossing
    work = tmp_path_factory.mktemp("idx")
    out = work / "tracklets"
    assert main(["tracklets", str(root / "cam1.avi"), "--detections", det, "--out", str(out), "--min-height", "20",
                 "--min-len", "4", "--max-gap", "5", "--preview", "none", "--no-progress"]) == 0
    ck = make_checkpoint(work / "tp.safetensors")
    assert main(["index", "build", "--checkpoint", ck, "--gallery", str(out), "--out", str(work / "index"),
                 "--no-progress"]) == 0
    return out, work / "index"


def test_search_with_a_followed_probe_and_html(crossing, index, tmp_path, capsys):
    root, boxes, det = crossing
    out, idx = index
    seed = ",".join(str(int(v)) for v in boxes[0][3])
    page = tmp_path / "page.html"
    assert main(["search", "--index", str(idx), "--probe", str(root / "cam1.avi"), "--box", seed, "--frame", "4",
                 "--detections", det, "--json", "--html", str(page), "--top", "3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["probe"]["followed"]["frames"] == [1, 30] and doc["probe"]["frames"] == 28
    assert doc["hits"][0]["tracklet"] == "cam1/t0001"                 # red's own tracklet first
    text = page.read_text()
    assert "followed from frame 4: frames 1-30, 28 boxes" in text


def test_search_with_a_track_of_a_tracklets_run(index, capsys):
    out, idx = index
    assert main(["search", "--index", str(idx), "--probe", str(out), "--track", "2", "--top", "2"]) == 0
    text = capsys.readouterr().out
    assert "track   cam1/2 of" in text and re.search(r"\n +1 +0\.0000 .* cam1 +cam1/t0002", text)
    p = track_probe(str(out), "cam1/t0002")
    assert p.followed["tracklets"] == ["cam1/t0002"] and p.num_frames == 28
    assert main(["search", "--index", str(idx), "--probe", str(out), "--track", "9"]) == 2
    assert "no such track" in capsys.readouterr().err
    assert main(["search", "--index", str(idx), "--probe", str(out), "--frame", "3"]) == 2
    assert "pass --box too" in capsys.readouterr().err
