"""docs/search.md "From video to matches": every command of its two fenced blocks, run as written there (only the
files, the frame number and the box are replaced by test ones): two short clips of the real vtest.avi as two cameras
(skipped where it is absent), HOG / det.txt / ONNX detectors, a followed probe and a track probe -- the whole loop
on real video: tracklets -> index build -> search with a followed probe -> HTML page."""
import json
import os
import re
import shlex

import numpy as np
import pytest

from helpers_assets import opencv_data_file
from test_tracking import constant_onnx
from vidreid.cli import main

pytest.importorskip("faiss", reason="search needs faiss-cpu")
CLIP = 24


def section_commands() -> list[str]:
    doc = open(os.path.join(os.path.dirname(__file__), os.pardir, "docs", "search.md")).read()
    part = doc.split("## From video to matches", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", part, re.S)
    return [ln.strip() for b in blocks for ln in b.replace("\\\n", " ").splitlines() if ln.strip().startswith("vidreid ")]


def clips(video, folder):
    """gate.avi = frames 1-24 of vtest, hall.avi = frames 25-48 (two 'cameras')."""
    import cv2
    cap = cv2.VideoCapture(video)
    out = {}
    for name in ("gate", "hall"):
        path = str(folder / f"{name}.avi")
        w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
        for _ in range(CLIP):
            ok, frame = cap.read()
            w.write(frame)
        w.release()
        out[name] = path
    return out


def test_docs_video_to_matches(tmp_path, capsys):
    from test_search import make_checkpoint
    video = opencv_data_file("vtest.avi")
    commands = section_commands()
    assert [c.split()[1] for c in commands] == ["tracklets", "index", "search", "tracklets", "tracklets", "search"]
    c = clips(video, tmp_path)
    onnx_out = np.zeros((1, 6, 100), np.float32)                     # yolov8 head: one person, 20x40 input pixels
    onnx_out[0, :, 3] = [32, 32, 20, 40, 0.9, 0.1]
    files = {"gate.mp4": c["gate"], "hall.mp4": c["hall"], "best.safetensors": make_checkpoint(tmp_path / "ck.st"),
             "onnx:yolov8n.onnx": "onnx:" + constant_onnx(tmp_path / "y8.onnx", onnx_out), "matches.html": tmp_path / "m.html",
             "track.html": tmp_path / "t.html", "footage.index": tmp_path / "footage.index"}
    for name in ("footage", "footage_det", "footage_onnx"):
        files[name] = tmp_path / name
    outputs = []
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv[0] == "tracklets" and "--detections" in argv:          # det.txt: the HOG run's tracks, MOT format
            files["gate_det.txt"] = tmp_path / "footage" / "gate.tracks.txt"
            files["hall_det.txt"] = tmp_path / "footage" / "hall.tracks.txt"
        if argv[0] == "search" and "--frame" in argv:                   # seed: a box of a gate tracklet, mid-way
            side = json.load(open(tmp_path / "footage" / "tracklets.json"))
            t = max((e for e in side["tracklets"] if e["camera"] == "gate"), key=lambda e: len(e["frames"]))
            k = len(t["frames"]) // 2
            files["120"] = str(t["frames"][k])
            seeded = t["name"]
            files["410,120,90,230"] = ",".join(str(int(round(v))) for v in t["boxes"][k])
        assert all(a in files or a.startswith("-") or not ("/" in a or "." in a or "," in a) or a.startswith("hall/")
                   for a in argv), f"a file in the docs' command that this test does not provide: {command}"
        code = main([str(files.get(a, a)) for a in argv] + (["--no-progress"] if argv[0] in ("tracklets",) else []))
        out, err = capsys.readouterr()
        assert code == 0, (command, err)
        outputs.append(out)
    side = json.load(open(tmp_path / "footage" / "tracklets.json"))
    assert {e["camera"] for e in side["tracklets"]} == {"gate", "hall"}
    det = json.load(open(tmp_path / "footage_det" / "tracklets.json"))
    assert len(det["tracklets"]) >= len(side["tracklets"]) - 1       # the HOG tracks given back as detections
    onnx = json.load(open(tmp_path / "footage_onnx" / "tracklets.json"))
    assert len(onnx["tracklets"]) == 1 and len(onnx["tracklets"][0]["frames"]) == CLIP
    assert "followed from frame" in outputs[2] and "followed from frame" in (tmp_path / "m.html").read_text()
    first_hit = next(ln for ln in outputs[2].splitlines() if ln.strip().startswith("1 "))
    assert first_hit.split()[-1] == seeded                # the followed person's own tracklet ranks first
    assert "track   hall/1 of" in outputs[5] and (tmp_path / "t.html").is_file()
