import json
import os

from helpers_data import make_mars_root
from helpers_datasets import (dukev_name, make_dukev_root, make_ilidsvid_root, make_lsvid_root, make_prid_root,
                              truncate, write_jpeg)
from vidreid.cli import main
from vidreid.data.check import check_dataset, format_report, verify_frame

SPLITS = {"train": [(1, 1, 5), (1, 2, 3), (2, 3, 12), (3, 1, 2)], "query": [(5, 1, 4)],
          "gallery": [(5, 2, 6), (9, 4, 2)]}


def _check(capsys, *argv):
    code = main(["data", "check", *map(str, argv), "--no-progress"])
    out = capsys.readouterr()
    return code, out.out, out.err


def _stats(out: str) -> dict:
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("train", "query", "gallery") and len(parts) == 8:
            rows[parts[0]] = [float(x) for x in parts[1:]]
    return rows


def test_clean_root_exit_0_with_statistics(tmp_path, capsys):
    root = make_dukev_root(tmp_path, SPLITS)
    code, out, _ = _check(capsys, root, "--dataset", "dukev")
    assert code == 0 and "no problems found" in out and "34 frame files read and decoded" in out
    stats = _stats(out)       # ids tracklets frames min median max cameras
    assert stats["train"] == [3, 4, 22, 2, 4, 12, 3]
    assert stats["query"] == [1, 1, 4, 4, 4, 4, 1]
    assert stats["gallery"] == [2, 2, 8, 2, 4, 6, 2]


def _break_dukev(root):
    t = root / "train/0002/0001"
    truncate(t / dukev_name(2, 3, 4, 90000 - 28))                                        # truncated JPEG
    (t / dukev_name(2, 3, 6, 90000 - 42)).write_bytes(b"")                               # empty file
    write_jpeg(t / "0007C3F0013X00001.jpg", 2, 3, 0)                                     # pid != folder
    write_jpeg(t / "0002C5F0014X00001.jpg", 2, 3, 0)                                     # camera != tracklet's
    (root / "train/0001/0003").mkdir()                                                   # empty tracklet
    (root / "gallery/0009/0001" / dukev_name(9, 4, 1, 89993)).write_bytes(b"garbage")    # not an image
    (root / "gallery/0009/0001" / dukev_name(9, 4, 2, 89986)).write_bytes(b"\xff\xd8garbage\xff\xd9")  # bad JPEG
    write_jpeg(root / "gallery/0012/0001/0012C9F0001X00001.jpg", 12, 9, 0)               # camera out of range
    os.chmod(t / dukev_name(2, 3, 7, 90000 - 49), 0) if os.getuid() else None


EXPECTED = {  # kind -> file-name fragments that must be reported
    "corrupt_image": ["0002C3F0004X89972.jpg", "0002C3F0006X89958.jpg", "0009C4F0001X89993.jpg",
                      "0009C4F0002X89986.jpg"],
    "name_mismatch": ["0007C3F0013X00001.jpg", "0002C5F0014X00001.jpg"],
    "empty_tracklet": ["train/0001/0003"],
    "out_of_range": ["gallery/0012/0001"],
    "no_readable_frame": ["gallery/0009/0001"],
}


def test_broken_root_lists_every_problem(tmp_path, capsys):
    root = make_dukev_root(tmp_path, SPLITS)
    _break_dukev(root)
    report_path = tmp_path / "out" / "report.json"
    code, out, _ = _check(capsys, root, "--dataset", "dukev", "--workers", "2", "--fix-report", report_path)
    print(out)
    assert code == 1
    report = json.loads(report_path.read_text())
    assert not report["ok"] and report["frames_checked"] == 37
    found = {}
    for p in report["problems"]:
        found.setdefault(p["kind"], []).append(p["path"])
    for kind, fragments in EXPECTED.items():
        for frag in fragments:
            assert any(frag in path for path in found.get(kind, [])), (kind, frag)
    assert report["problem_counts"]["corrupt_image"] == 4
    for heading in ("corrupt image:", "name/metadata mismatch:", "empty tracklet:", "pid/camera out of range:",
                    "tracklet without a readable frame:", "truncated JPEG: no end-of-image marker",
                    "empty file (0 bytes)", "not an image file"):
        assert heading in out
    # the same problems with one worker as with two
    one = check_dataset("dukev", str(root), workers=1, progress=False)
    assert sorted((p.kind, p.path) for p in one.problems) == sorted((p["kind"], p["path"])
                                                                    for p in report["problems"])


def test_wrong_root_exit_2_prints_expected_layout(tmp_path, capsys):
    code, out, err = _check(capsys, tmp_path / "nope", "--dataset", "dukev")
    assert code == 2 and "error: dukev root" in err and "expected layout for --dataset dukev:" in err
    assert "├── train/" in err and "gallery/" in err
    code, _, err = _check(capsys, tmp_path, "--dataset", "ilidsvid")
    assert code == 2 and "i-LIDS-VID/" in err and "train_test_splits_ilidsvid.mat" in err
    code, _, err = _check(capsys, tmp_path, "--dataset", "mars")
    assert code == 2 and "info/" in err
    code, _, err = _check(capsys, tmp_path, "--dataset", "nosuch")
    assert code == 2 and err.count("\n") == 1 and "unknown dataset 'nosuch'" in err


def test_manifest_missing_and_duplicate_frames(tmp_path, capsys):
    data = tmp_path / "own"
    for k in range(4):
        write_jpeg(data / f"t1/{k}.jpg", 1, 0, k)
        write_jpeg(data / f"t2/{k}.jpg", 2, 1, k)
    rows = [{"dir": "t1", "pid": 1, "camid": 0, "split": "train"},
            {"frames": ["t2/0.jpg", "t2/1.jpg", "t1/3.jpg"], "pid": 2, "camid": 1, "split": "train"},
            {"frames": ["t2/2.jpg", "t2/missing.jpg"], "pid": 2, "camid": 1, "split": "query"},
            {"dir": "t2", "pid": 2, "camid": 0, "split": "gallery"},
            {"dir": "t1", "pid": 7, "camid": -3, "split": "gallery"}]
    (data / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    code, out, _ = _check(capsys, data, "--dataset", "manifest")
    assert code == 1
    assert "frame in several tracklets:" in out and "t1/3.jpg: listed by two tracklets" in out
    assert "missing frame:" in out and "t2/missing.jpg: no such file" in out
    assert "pid/camera out of range:" in out and "manifest.jsonl:5: pid 7 / camid -3" in out


def test_mars_layout(tmp_path, capsys):
    tracks = [(1, 1, 3), (1, 2, 2), (2, 1, 2), (2, 2, 4)]
    root = make_mars_root(tmp_path, tracks, query_rows=[0, 2], size=(8, 4))
    code, out, _ = _check(capsys, root, "--dataset", "mars")
    assert code == 0 and _stats(out)["train"] == [2, 4, 11, 2, 2.5, 4, 2]
    victim = sorted((root / "bbox_test" / "0002").iterdir())[0]
    truncate(victim)
    os.remove(sorted((root / "bbox_train" / "0001").iterdir())[0])
    code, out, _ = _check(capsys, root, "--dataset", "mars")
    assert code == 1 and f"{victim}: truncated JPEG" in out and "no such file" in out
    (root / "info" / "test_name.txt").write_text((root / "info" / "test_name.txt").read_text().replace("C1", "C3"))
    code, out, _ = _check(capsys, root, "--dataset", "mars")
    assert code == 1 and "index file problem:" in out and "does not match row" in out


def test_split_datasets_check_every_frame_and_write_nothing(tmp_path, capsys):
    ilids = make_ilidsvid_root(tmp_path, [(1, 3, 3), (2, 2, 4), (3, 3, 2), (4, 2, 2)])
    (ilids / "train-test people splits" / "train_test_splits_ilidsvid.mat").write_bytes(b"junk")
    code, out, _ = _check(capsys, ilids, "--dataset", "ilidsvid")
    assert code == 1 and "split file problem:" in out and "21 frame files read and decoded" in out
    prid = make_prid_root(tmp_path, [(1, 21, 22), (2, 30, 21), (3, 25, 25), (4, 21, 21)])
    code, out, _ = _check(capsys, prid, "--dataset", "prid2011", "--split", "4")
    assert code == 0 and "split=4" in out and not (prid / "splits_prid2011.json").exists()
    lsvid = make_lsvid_root(tmp_path, [(1, 3, 4), (2, 16, 3)], [(7, 1, 3), (7, 2, 5)], [0])
    code, out, _ = _check(capsys, lsvid, "--dataset", "lsvid", "-o", "subset=test")
    assert code == 1 and "camera 16 outside 1..15" in out
    code, _, err = _check(capsys, lsvid, "--dataset", "lsvid", "-o", "colour=red")
    assert code == 2 and "unexpected keyword argument 'colour'" in err


def test_verify_frame_formats(tmp_path):
    from helpers_datasets import write_png
    write_png(tmp_path / "a.png", 1, 0, 0)
    write_jpeg(tmp_path / "a.jpg", 1, 0, 0)
    assert verify_frame(str(tmp_path / "a.png")) is None and verify_frame(str(tmp_path / "a.jpg")) is None
    truncate(tmp_path / "a.png", 0.9)
    assert verify_frame(str(tmp_path / "a.png"))[0] == "corrupt_image"
    assert verify_frame(str(tmp_path / "none.jpg")) == ("missing_frame", "no such file")
    assert verify_frame(str(tmp_path))[0] == "unreadable_frame"


def test_format_report_clean_text():
    from vidreid.data.check import CheckReport
    r = CheckReport("x", "/r", [{"split": "train", "ids": 1, "tracklets": 2, "frames": 3, "min": 1, "median": 1.5,
                                 "max": 2, "cameras": 1}])
    text = format_report(r)
    assert text.splitlines()[0] == "x at /r" and "no problems found" in text
