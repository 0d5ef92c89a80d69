"""The whole loop on a real video (Debian opencv-doc's vtest.avi, skipped where absent): tracklets with the default
HOG detector -> `vidreid index build` -> `vidreid search` with a probe followed from one box -> HTML page."""
import json

import pytest

from helpers_assets import opencv_data_file
from vidreid.cli import main

pytest.importorskip("faiss", reason="search needs faiss-cpu")


def test_video_to_matches(tmp_path, capsys):
    from test_search import make_checkpoint
    video = opencv_data_file("vtest.avi")
    out = tmp_path / "tracklets"
    assert main(["tracklets", video, "--out", str(out), "--stop", "30", "--every", "2", "--min-len", "4",
                 "--preview", "none", "--no-progress"]) == 0
    side = json.load(open(out / "tracklets.json"))
    assert len(side["tracklets"]) >= 2
    ck = make_checkpoint(tmp_path / "tp.safetensors")            # untrained: the loop, not the accuracy, is tested
    assert main(["index", "build", "--checkpoint", ck, "--gallery", str(out), "--out", str(tmp_path / "index"),
                 "--no-progress"]) == 0
    # seed: the box of the longest tracklet in its middle frame
    t = max(side["tracklets"], key=lambda e: len(e["frames"]))
    k = len(t["frames"]) // 2
    frame, box = t["frames"][k], ",".join(str(int(round(v))) for v in t["boxes"][k])
    capsys.readouterr()
    page = tmp_path / "page.html"
    assert main(["search", "--index", str(tmp_path / "index"), "--probe", video, "--box", box, "--frame", str(frame),
                 "--every", "2", "--follow-frames", "10", "--top", "3", "--json", "--html", str(page)]) == 0
    doc = json.loads(capsys.readouterr().out)
    followed = doc["probe"]["followed"]
    assert followed["boxes"] >= 4 and followed["frames"][0] < frame < followed["frames"][1]
    # the followed probe overlaps the tracklet it was seeded from: that tracklet ranks first
    assert doc["hits"][0]["tracklet"] == t["name"]
    assert "followed from frame" in page.read_text()
