"""`vidreid tracklets` end to end: videos + det.txt / ONNX / HOG -> crops, manifest, sidecar, pictures; bad inputs."""
import json
import os

import numpy as np
import pytest

from helpers_assets import opencv_data_file
from helpers_video import block_video, crop_colour, frame_files, write_det
from test_tracking import constant_onnx
from vidreid.cli import main


def run(*argv):
    return main(["tracklets", *map(str, argv), "--no-progress"])


@pytest.fixture(scope="module")
def two_cameras(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    b1 = block_video(root / "gate.avi")
    b2 = block_video(root / "hall.avi", people=[((230, 80, 0), 140, 40, 16, 40, -5)])
    return root, b1, b2


def test_det_txt_two_videos_end_to_end(two_cameras, tmp_path, capsys):
    root, b1, b2 = two_cameras
    d1 = write_det(tmp_path / "gate.txt", b1, drop=range(12, 16))       # a 4-frame gap in both tracks
    d2 = write_det(tmp_path / "hall.txt", b2)
    out = tmp_path / "out"
    assert run(root / "gate.avi", root / "hall.avi", "--detections", d1, "--detections", d2, "--out", out,
               "--min-len", 5, "--max-gap", 3, "--min-height", 20, "--crop-size", "64x32") == 0
    assert "3 tracks" not in capsys.readouterr().out
    side = json.load(open(out / "tracklets.json"))
    names = sorted(t["name"] for t in side["tracklets"])
    # gate: each person's track is cut at the 4-frame gap (> max_gap 3) into frames 1-11 and 16-24
    assert names == ["gate/t0001-1", "gate/t0001-2", "gate/t0002-1", "gate/t0002-2", "hall/t0001"]
    red = next(t for t in side["tracklets"] if t["name"] == "gate/t0001-1")
    assert red["frames"] == list(range(1, 12)) and red["video"].endswith("gate.avi")
    np.testing.assert_allclose(red["boxes"], b1[0][:11])
    # crops: named by frame, at the crop size, showing the right person (red block for track 1, blue for track 2)
    files = frame_files(out / "tracklets" / "gate" / "t0001-1")
    assert files[0] == "f000001.jpg" and len(files) == 11
    assert crop_colour(out / "tracklets" / "gate" / "t0001-1" / files[5])[2] > 180
    assert crop_colour(out / "tracklets" / "gate" / "t0002-2" / "f000020.jpg")[0] > 180
    import cv2
    assert cv2.imread(str(out / "tracklets" / "gate" / "t0001-1" / files[0])).shape == (64, 32, 3)
    # manifest in vidreid's format, readable by the manifest loader (and so by `vidreid index build`)
    from vidreid.data import load_dataset
    ds = load_dataset("manifest", str(out), protocol="mars")
    assert len(ds.gallery) == 5 and sorted({t.camid for t in ds.gallery}) == [0, 1]
    # MOT output, contact sheet, previews
    assert open(out / "hall.tracks.txt").readline().startswith("1,1,140.00,40.00,16.00,40.00")
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] > 5 * 90
    cap = cv2.VideoCapture(str(out / "gate.preview.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    # an existing output is never written over without --force; --force replaces it
    assert run(root / "hall.avi", "--detections", d2, "--out", out) == 2
    assert "already exists" in capsys.readouterr().err
    assert run(root / "hall.avi", "--detections", d2, "--out", out, "--force", "--preview", "gif",
               "--min-height", 20) == 0
    assert sorted(os.listdir(out / "tracklets" / "hall")) == ["t0001"] and os.path.isfile(out / "hall.preview.gif")
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_every_n_frames(two_cameras, tmp_path):
    root, b1, _ = two_cameras
    d1 = write_det(tmp_path / "gate.txt", b1)
    out = tmp_path / "out"
    assert run(root / "gate.avi", "--detections", d1, "--out", out, "--every", 2, "--min-len", 4, "--min-height",
               20, "--preview", "none", "--camera", "cam7") == 0
    side = json.load(open(out / "tracklets.json"))
    assert [t["frames"] for t in side["tracklets"]] == [list(range(1, 25, 2))] * 2
    assert side["tracklets"][0]["camera"] == "cam7" and not os.path.exists(out / "cam7.preview.mp4")


def test_onnx_detector_from_the_cli(two_cameras, tmp_path):
    pytest.importorskip("onnxruntime")
    root, _, _ = two_cameras
    out = np.zeros((1, 1, 6), np.float32)                # (1, N, 6) after NMS: needs --onnx-layout boxes
    out[0, 0] = [16, 8, 32, 56, 0.9, 0]                  # input 64x64 <- frame 160x120: scale 0.4, pad 8 rows
    model = constant_onnx(tmp_path / "det.onnx", out)
    dst = tmp_path / "out"
    assert run(root / "gate.avi", "--detector", f"onnx:{model}", "--onnx-layout", "boxes", "--out", dst,
               "--min-height", 20, "--preview", "none") == 0
    t = json.load(open(dst / "tracklets.json"))["tracklets"]
    assert len(t) == 1 and len(t[0]["frames"]) == 24
    np.testing.assert_allclose(t[0]["boxes"][0], [40, 0, 40, 120], atol=0.1)


def test_hog_on_real_video(tmp_path):
    video = opencv_data_file("vtest.avi")
    out = tmp_path / "out"
    assert run(video, "--out", out, "--stop", 30, "--every", 3, "--min-len", 3, "--preview", "none") == 0
    side = json.load(open(out / "tracklets.json"))
    assert side["videos"][0]["frames_processed"] == 10 and side["tracklets"]
    for t in side["tracklets"]:                          # HOG boxes: pedestrians, taller than wide
        b = np.array(t["boxes"])
        assert (b[:, 3] > 1.5 * b[:, 2]).all() and (b[:, 3] >= 48).all()


@pytest.mark.parametrize("case, message", [
    ("missing", "video not found"),
    ("not_video", "OpenCV cannot open this video"),
    ("bad_det", "line 2: expected the MOTChallenge columns"),
    ("det_count", "one det.txt per video"),
    ("onnx_layout", "cannot tell the layout"),
    ("bad_camera", "--camera"),
])
def test_bad_inputs_are_one_line_exit_2(two_cameras, tmp_path, capsys, case, message):
    root, b1, _ = two_cameras
    video = root / "gate.avi"
    det = write_det(tmp_path / "det.txt", b1)
    args = [video, "--out", tmp_path / "out", "--detections", det]
    if case == "missing":
        args[0] = tmp_path / "nope.mp4"
    elif case == "not_video":
        (tmp_path / "x.mp4").write_text("hello")
        args[0] = tmp_path / "x.mp4"
    elif case == "bad_det":
        (tmp_path / "bad.txt").write_text("1,-1,1,2,3,4,0.9\n2,-1,1,2\n")
        args[-1] = tmp_path / "bad.txt"
    elif case == "det_count":
        args = [video, video, "--out", tmp_path / "out", "--detections", det]
    elif case == "onnx_layout":
        pytest.importorskip("onnxruntime")
        model = constant_onnx(tmp_path / "odd.onnx", np.zeros((1, 3, 7), np.float32))
        args = [video, "--out", tmp_path / "out", "--detector", f"onnx:{model}"]
    elif case == "bad_camera":
        args += ["--camera", "a/b"]
    assert run(*args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not os.path.exists(tmp_path / "out")


def test_checkpoint_joins_the_fragments_of_one_person(two_cameras, tmp_path, capsys):
    """Red is missed on frames 9-15 (longer than --track-buffer): the tracker starts a new track when it comes back;
    its re-ID features join the two fragments, and blue (looks different) stays apart."""
    from test_search import make_checkpoint
    root, b1, _ = two_cameras
    write_det(tmp_path / "gap.txt", b1, drop={0: range(9, 16)})
    common = ["--detections", tmp_path / "gap.txt", "--min-height", 20, "--min-len", 4, "--track-buffer", 3,
              "--preview", "none", "--crop-size", "64x32"]
    assert run(root / "gate.avi", "--out", tmp_path / "plain", *common) == 0
    plain = json.load(open(tmp_path / "plain" / "tracklets.json"))["tracklets"]
    assert sorted(e["name"] for e in plain) == ["gate/t0001", "gate/t0002", "gate/t0003"]   # red, blue, red again
    ck = make_checkpoint(tmp_path / "ck.safetensors")
    capsys.readouterr()
    assert run(root / "gate.avi", "--out", tmp_path / "joined", "--checkpoint", ck, *common) == 0
    assert "(1 joined by appearance)" in capsys.readouterr().out
    side = json.load(open(tmp_path / "joined" / "tracklets.json"))
    names = {e["name"]: e for e in side["tracklets"]}
    assert sorted(names) == ["gate/t0001-1", "gate/t0001-2", "gate/t0002"]
    red2 = names["gate/t0001-2"]
    assert red2["was"] == "gate/t0003" and red2["joined_to"] == "gate/t0001-1" and red2["frames"][0] == 16
    assert crop_colour(tmp_path / "joined" / "tracklets" / "gate" / "t0001-2" / "f000022.jpg")[2] > 180   # red
    assert sorted(os.listdir(tmp_path / "joined" / "tracklets" / "gate")) == ["t0001-1", "t0001-2", "t0002"]


def test_force_never_deletes_a_folder_it_did_not_make(two_cameras, tmp_path, capsys):
    root, b1, _ = two_cameras
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    assert run(root / "gate.avi", "--detections", write_det(tmp_path / "d.txt", b1), "--out", mine, "--force") == 2
    assert "is not a `vidreid tracklets` output" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "precious"
