"""Footage manifests (vidreid.tracking.footage): parsing, one-line errors, clock times in `vidreid tracklets`."""
import json

import numpy as np
import pytest

from helpers_video import block_video, write_det
from vidreid.cli import main
from vidreid.tracking.footage import FootageError, load_footage, parse_start


def test_parse_start_kinds():
    assert parse_start("10:02:30", "x") == (10 * 3600 + 2 * 60 + 30, "time")
    assert parse_start("9:05", "x") == (9 * 3600 + 5 * 60, "time")
    assert parse_start(12.5, "x") == (12.5, "seconds") and parse_start("7", "x") == (7.0, "seconds")
    t, kind = parse_start("1970-01-01T00:01:40", "x")
    assert (t, kind) == (100.0, "datetime")
    with pytest.raises(FootageError, match=r"row 3: start '10:6x' is not a time"):
        parse_start("10:6x", "row 3")


def _yaml(tmp_path, text):
    (tmp_path / "a.avi").write_bytes(b"x")
    (tmp_path / "b.avi").write_bytes(b"x")
    p = tmp_path / "footage.yaml"
    p.write_text(text)
    return str(p)


def test_yaml_with_transit_times(tmp_path):
    f = load_footage(_yaml(tmp_path, """
videos:
  - {video: a.avi, camera: gate, start: "2026-12-05T10:00:00"}
  - {video: b.avi, camera: hall, start: 2026-12-05T10:01:30, fps: 25}
transit:
  - {from: gate, to: hall, seconds: 40}
default_transit: 5
"""))
    assert f.cameras == ["gate", "hall"] and f.clock == "datetime" and f.videos[1].fps == 25
    assert f.videos[1].start - f.videos[0].start == 90
    assert f.videos[0].video == str(tmp_path / "a.avi")
    np.testing.assert_array_equal(f.transit_matrix(["hall", "gate", "car"]), [[0, 40, 5], [40, 0, 5], [5, 5, 0]])
    assert f.format(f.videos[0].start + 125) == "2026-12-05T10:02:05"
    assert load_footage(f.path).to_dict() == type(f).from_dict(f.to_dict()).to_dict()


def test_csv_manifest(tmp_path):
    (tmp_path / "a.avi").write_bytes(b"x")
    p = tmp_path / "f.csv"
    p.write_text("video,camera,start\na.avi,gate,10:00:00\n")
    f = load_footage(str(p))
    assert f.clock == "time" and f.videos[0].start == 36000 and f.format(36000 + 62) == "10:01:02"


@pytest.mark.parametrize("text, message", [
    ("videos:\n  - {video: a.avi, camera: gate}\n", "video 1: start is missing"),
    ("videos:\n  - {video: c.avi, camera: gate, start: 0}\n", "video 1: video .*c.avi does not exist"),
    ("videos:\n  - {video: a.avi, camera: g/1, start: 0}\n", "video 1: camera 'g/1'"),
    ("videos:\n  - {video: a.avi, camera: g, start: 0}\n  - {video: b.avi, camera: g, start: 0}\n",
     "camera 'g' is given to two videos"),
    ("videos:\n  - {video: a.avi, camera: g, start: 0}\n  - {video: b.avi, camera: h, start: '10:00'}\n",
     "start times mix"),
    ("videos:\n  - {video: a.avi, camera: g, start: 0, fps: -2}\n", "video 1: fps must be > 0"),
    ("videos:\n  - {video: a.avi, camera: g, start: 0}\ntransit:\n  - {from: g, to: x, seconds: 3}\n",
     "transit 1: camera 'x' is not one of"),
    ("videos:\n  - {video: a.avi, camera: g, start: 0}\n  - {video: b.avi, camera: h, start: 0}\ntransit:\n"
     "  - {from: g, to: h, seconds: 3}\n  - {from: h, to: g, seconds: 9}\n", "transit 2: h -> g is given 3 s and 9 s"),
    ("videos:\n  - {video: a.avi, camera: g, start: 0}\n  - {video: b.avi, camera: h, start: 0}\ntransit:\n"
     "  - {from: g, to: h, seconds: -3}\n", "transit 1: seconds must be >= 0"),
    ("cameras: []\n", "expected a mapping with a non-empty list `videos:`"),
])
def test_bad_manifests_one_line(tmp_path, text, message):
    with pytest.raises(FootageError, match=message) as e:
        load_footage(_yaml(tmp_path, text))
    assert "\n" not in str(e.value) and "footage.yaml" in str(e.value)


def test_tracklets_keep_the_clock(tmp_path, capsys):
    b1 = block_video(tmp_path / "gate.avi")
    d1 = write_det(tmp_path / "gate.txt", b1)
    (tmp_path / "f.yaml").write_text("videos:\n  - {video: gate.avi, camera: gate, start: '10:00:00'}\n")
    out = tmp_path / "out"
    assert main(["tracklets", "--footage", str(tmp_path / "f.yaml"), "--detections", str(d1), "--out", str(out),
                 "--min-len", "5", "--min-height", "20", "--preview", "none", "--no-progress"]) == 0
    side = json.load(open(out / "tracklets.json"))
    assert side["footage"]["clock"] == "time" and side["footage"]["videos"][0]["camera"] == "gate"
    t = side["tracklets"][0]
    assert t["camera"] == "gate" and t["frames"][0] == 1 and t["frames"][-1] == 24
    assert (t["start_time"], t["end_time"]) == (36000.0, 36002.3)        # 10 fps: frame 24 is 2.3 s after frame 1
    assert (t["start_clock"], t["end_clock"]) == ("10:00:00", "10:00:02")
    assert main(["tracklets", "--footage", str(tmp_path / "f.yaml"), str(tmp_path / "gate.avi"), "--out",
                 str(tmp_path / "o2")]) == 2
    assert "either --footage or VIDEO" in capsys.readouterr().err
