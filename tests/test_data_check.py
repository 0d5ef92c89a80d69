import json
import os

import pytest

from helpers_data import make_mars_root
from helpers_datasets import (dukev_name, make_dukev_root, make_ilidsvid_root, make_lsvid_root, make_prid_root,
                              truncate, write_jpeg)
from vidreid.cli import main
from vidreid.data import load_dataset
from vidreid.data.check import check_dataset, format_report, verify_frame
from vidreid.errors import DatasetError

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


MARS_TRAIN = [(1, 1, 3), (1, 2, 2), (4, 1, 2), (4, 2, 4)]
MARS_TEST = [(-1, 1, 3), (0, 2, 2), (2, 1, 2), (2, 2, 4), (3, 1, 3), (3, 2, 2)]   # row 0: junk (pid -1)


def _mars_root(tmp_path, test=MARS_TEST):
    return make_mars_root(tmp_path, {"train": MARS_TRAIN, "test": test}, query_rows=[2, 4], size=(8, 4))


def _rename_frame(root, split, old, new) -> int:
    """Rename a frame in the name list and on disk (so the file exists, under its new pid folder) -> its line."""
    path = root / "info" / f"{split}_name.txt"
    names = path.read_text().split()
    line = names.index(old) + 1
    names[line - 1] = new
    path.write_text("\n".join(names) + "\n")
    folder = root / f"bbox_{split}"
    (folder / new[:4]).mkdir(exist_ok=True)
    os.rename(folder / old[:4] / old, folder / new[:4] / new)
    return line


def _problems(report_path) -> dict:
    report = json.loads(report_path.read_text())
    found = {}
    for p in report["problems"]:
        found.setdefault(p["kind"], []).append(p)
    return report, found


def test_mars_layout_clean_checks_every_test_tracklet(tmp_path, capsys):
    root = _mars_root(tmp_path)
    code, out, _ = _check(capsys, root, "--dataset", "mars")
    assert code == 0 and "(protocol=mars)" in out and "no problems found" in out
    assert "27 frame files read and decoded" in out              # 11 train + 16 test: junk included
    stats = _stats(out)       # ids tracklets frames min median max cameras
    assert stats["train"] == [2, 4, 11, 2, 2.5, 4, 2]
    assert stats["query"] == [2, 2, 5, 2, 2.5, 3, 1]
    assert stats["gallery"] == [4, 6, 16, 2, 2.5, 4, 2]           # every test tracklet, queries and pid -1 included


def test_mars_layout_lists_every_problem_not_the_first(tmp_path, capsys):
    root = _mars_root(tmp_path)
    cam_line = _rename_frame(root, "test", "0002C2T0004F001.jpg", "0002C5T0004F001.jpg")   # row 4: camera 2
    pid_line = _rename_frame(root, "train", "0001C1T0001F002.jpg", "0007C1T0001F002.jpg")  # row 1: pid 1
    junk = root / "bbox_test" / "00-1" / "00-1C1T0001F002.jpg"
    truncate(junk)                                                # in the pid -1 tracklet, which gao leaves out
    report_path = tmp_path / "report.json"
    code, out, _ = _check(capsys, root, "--dataset", "mars", "--fix-report", report_path)
    assert code == 1
    report, found = _problems(report_path)
    assert report["problem_counts"] == {"name_mismatch": 2, "corrupt_image": 1}, report["problems"]
    assert report["frames_checked"] == 27                         # the index was built: every frame decoded
    assert _stats(out)["gallery"] == [4, 6, 16, 2, 2.5, 4, 2]     # and the statistics printed
    mismatch = sorted((p["path"], p["message"], p["split"]) for p in found["name_mismatch"])
    assert mismatch[0][0].endswith("test_name.txt") and mismatch[0][2] == "test"
    assert mismatch[0][1].startswith(f"line {cam_line} '0002C5T0004F001.jpg' does not match row 4 of ")
    assert mismatch[1][0].endswith("train_name.txt") and mismatch[1][2] == "train"
    assert mismatch[1][1].startswith(f"line {pid_line} '0007C1T0001F002.jpg' does not match row 1 of ")
    assert found["corrupt_image"][0]["path"] == str(junk) and "truncated JPEG" in found["corrupt_image"][0]["message"]
    assert "name/metadata mismatch:" in out and "corrupt image:" in out and "np.str_" not in out


def test_mars_layout_index_problems_of_every_kind(tmp_path, capsys):
    import numpy as np
    import scipy.io
    root = _mars_root(tmp_path, MARS_TEST + [(5, 7, 2)])         # row 7: camera 7 (MARS has 1..6)
    path = root / "info" / "tracks_train_info.mat"
    table = scipy.io.loadmat(path)["track_train_info"]
    extra = [[1, 3, 1, 1],                                        # row 5: the frames of row 1 again
             [5, 4, 1, 2],                                        # row 6: no frame
             [10, 40, 4, 2]]                                      # row 7: past the 11 names
    scipy.io.savemat(path, {"track_train_info": np.vstack([table, extra]).astype(np.int32)})
    scipy.io.savemat(root / "info" / "query_IDX.mat", {"query_IDX": np.array([[3, 5, 99]], dtype=np.uint16)})
    gone = root / "bbox_train" / "0004" / "0004C2T0004F003.jpg"
    os.remove(gone)
    with pytest.raises(DatasetError, match=r"tracks_train_info\.mat: row 7 spans lines 10\.\.40"):
        load_dataset("mars", str(root))                          # loading stops at the first

    report_path = tmp_path / "report.json"
    code, out, _ = _check(capsys, root, "--dataset", "mars", "--fix-report", report_path)
    assert code == 1
    report, found = _problems(report_path)
    assert report["problem_counts"] == {"index": 2, "empty_tracklet": 1, "out_of_range": 1, "duplicate_frame": 3,
                                        "missing_frame": 1}, report["problems"]
    messages = sorted(p["message"] for p in found["index"])
    assert messages[0].startswith("query_IDX value 99 is outside 1..7") and messages[1].startswith("row 7 spans")
    assert found["empty_tracklet"][0]["message"].startswith("row 6 spans no line")
    assert found["out_of_range"][0]["message"].startswith("row 7 has pid 5 camid 7, expected pid >= -1 and camid "
                                                          "in 1..6")
    assert {os.path.basename(p["path"]) for p in found["duplicate_frame"]} == {
        f"0001C1T0001F00{k}.jpg" for k in (1, 2, 3)}
    assert found["missing_frame"][0]["path"] == str(gone)
    stats = _stats(out)
    assert stats["train"][1] == 5 and stats["gallery"][1] == 7 and stats["query"][1] == 2


def test_mars_layout_unreadable_table_is_one_problem_and_the_rest_is_checked(tmp_path, capsys):
    root = _mars_root(tmp_path)
    (root / "info" / "tracks_test_info.mat").write_bytes(b"not a mat file" * 20)
    report = check_dataset("mars", str(root), workers=1, progress=False)
    assert [(p.kind, os.path.basename(p.path)) for p in report.problems] == [("index", "tracks_test_info.mat")]
    assert report.frames_checked == 11 and report.stats[0]["tracklets"] == 4    # the train split, fully checked


def test_synthped_in_both_layouts(tmp_path, capsys):
    from vidreid.data.synthped import generate_synthped
    small = dict(ids=8, cams=3, size="32x16", min_len=4, max_len=8, median_len=5, seed=3, workers=1,
                 progress=False)
    for layout in ("mars", "dukev"):
        root = tmp_path / layout
        generate_synthped(str(root), layout=layout, **small)
        code, out, err = _check(capsys, root, "--dataset", "synthped")
        assert code == 0, err
        assert f"layout={layout}" in out and "no problems found" in out and set(_stats(out)) == set(SPLITS)
    junk = next((tmp_path / "mars" / "bbox_test" / "00-1").iterdir())
    truncate(junk)                                                # SynthPed writes pid -1 tracklets too
    code, out, _ = _check(capsys, tmp_path / "mars", "--dataset", "synthped")
    assert code == 1 and f"{junk}: truncated JPEG" in out
    code, _, err = _check(capsys, tmp_path / "nothing", "--dataset", "synthped")
    assert code == 2 and "info/" in err and "--layout dukev" in err


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
    assert code == 2 and err.count("\n") == 1 and "dataset 'lsvid' has no option 'colour'" in err
    assert "accepted options: protocol, split, subset" in err


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


def test_collecting_loaders_are_registered_beside_their_datasets():
    """data check finds each dataset's collecting mode in the registry (no side table of names in data/check.py);
    loaders without one (vtest, tracklets) are checked through their first error."""
    from vidreid.data.datasets import list_datasets
    from vidreid.data.datasets.registry import dataset_checker
    assert {n for n in list_datasets() if dataset_checker(n)} == {"mars", "synthped", "dukev", "ilidsvid", "prid2011",
                                                                 "lsvid", "manifest"}
    src = open(os.path.join(os.path.dirname(__file__), "..", "vidreid", "data", "check.py")).read()
    assert '"prid2011"' not in src and '"dukev"' not in src
