import json
import os
import shutil

import numpy as np
import pytest

from helpers_datasets import (colour, forbid_frame_access, make_lsvid_root, write_jpeg, write_mat_v73_header,
                              write_png)
from vidreid.data import load_dataset
from vidreid.data.datasets.issues import DatasetWarning, RootError
from vidreid.data.decode import read_frame
from vidreid.errors import ConfigError, DatasetError

TRAIN = [(1, 3, 4), (1, 5, 3), (2, 12, 11), (4, 15, 2)]
TEST = [(7, 1, 3), (7, 2, 5), (8, 15, 2), (8, 4, 3), (9, 6, 2), (-1, 6, 2)]
QUERY = [0, 2]


@pytest.fixture(scope="module")
def lsvid(tmp_path_factory):
    return make_lsvid_root(tmp_path_factory.mktemp("lsvid"), TRAIN, TEST, QUERY)


def test_lsvid_lists_query_gallery(lsvid):
    ds = load_dataset("lsvid", str(lsvid), protocol="gao")
    assert [(t.pid, t.camid, len(t.frames)) for t in ds.train] == [(0, 2, 4), (0, 4, 3), (1, 11, 11), (2, 14, 2)]
    assert ds.meta["train_pids"] == [1, 2, 4]
    assert [(t.pid, t.camid) for t in ds.query] == [(7, 0), (8, 14)]
    # gallery: the other test lines, pid -1 junk left out
    assert [(t.pid, t.camid) for t in ds.gallery] == [(7, 1), (8, 3), (9, 5)]
    assert ds.meta["query_rows"] == [0, 2] and ds.meta["gallery_rows"] == [1, 3, 4]


def test_lsvid_frames_in_numeric_order(lsvid):
    ds = load_dataset("lsvid", str(lsvid), protocol="gao")
    t = ds.train[2]                                              # 11 frames: _0001 .. _0011
    assert [int(os.path.basename(f).split("_")[1]) for f in t.frames] == list(range(1, 12))
    assert np.abs(read_frame(t.frames[10]).astype(int)[3, 1] - colour(2, 12, 10)).max() <= 3


def test_lsvid_frames_in_numeric_order_when_names_are_not_zero_padded(tmp_path):
    root = make_lsvid_root(tmp_path, TRAIN, TEST, QUERY, pad=False)     # _9_ sorts after _10_ as text
    t = load_dataset("lsvid", str(root), protocol="gao").train[2]
    assert [int(os.path.basename(f).split("_")[1]) for f in t.frames] == list(range(1, 12))
    assert np.abs(read_frame(t.frames[9]).astype(int)[3, 1] - colour(2, 12, 9)).max() <= 3


@pytest.mark.parametrize("stray", ["00003_0000_05_0303morning.jpg", "00003_0000.jpg"])
def test_lsvid_one_stray_file_is_one_problem(tmp_path, stray):
    from vidreid.data.datasets.issues import Issues
    from vidreid.data.datasets.lsvid import build
    root = make_lsvid_root(tmp_path, TRAIN, TEST, QUERY)
    write_jpeg(root / "tracklet_train" / "0002" / stray, 2, 5, 0)      # sorts before the 11 frames of camera 12
    issues = Issues(collect=True)
    ds = build(str(root), issues=issues)
    assert [(p.kind, os.path.basename(p.path)) for p in issues.problems] == [("name_mismatch", stray)]
    assert ds.train[2].camid == 11


def test_index_never_opens_or_stats_frames(lsvid, tmp_path, monkeypatch):
    data = tmp_path / "own"
    for k in range(3):
        write_jpeg(data / "t1" / f"{k}.jpg", 1, 0, k)
        write_jpeg(data / "t2" / f"{k}.jpg", 2, 1, k)
    (data / "manifest.jsonl").write_text(
        json.dumps({"dir": "t1", "pid": 1, "camid": 0, "split": "train"}) + "\n"
        + json.dumps({"frames": ["t2/2.jpg", "t2/0.jpg"], "pid": 2, "camid": 1, "split": "query"}) + "\n")
    forbid_frame_access(monkeypatch)
    assert len(load_dataset("lsvid", str(lsvid), protocol="gao").train) == 4
    ds = load_dataset("manifest", str(data), protocol="gao")
    assert len(ds.train[0].frames) == 3 and len(ds.query[0].frames) == 2


def test_lsvid_info_folder_variant_and_errors(tmp_path):
    root = make_lsvid_root(tmp_path / "a", TRAIN, TEST, QUERY, info_dir="info/data")
    shutil.move(str(root / "list_sequence"), str(root / "info" / "list_sequence"))
    ds = load_dataset("lsvid", str(root), protocol="gao")
    assert len(ds.query) == 2 and len(ds.gallery) == 3
    with pytest.raises(RootError, match="list_sequence/list_seq_train.txt"):
        load_dataset("lsvid", str(tmp_path / "a"), protocol="gao")
    with pytest.raises(ConfigError, match="subset must be one of test, val"):
        load_dataset("lsvid", str(root), protocol="gao", subset="dev")

    root = make_lsvid_root(tmp_path / "b", TRAIN, TEST, QUERY)
    write_mat_v73_header(root / "test/data/info_test.mat")
    try:
        import h5py  # noqa: F401
    except ImportError:
        with pytest.raises(DatasetError, match="MATLAB v7.3 .* needs h5py"):
            load_dataset("lsvid", str(root), protocol="gao")
    root = make_lsvid_root(tmp_path / "c", TRAIN, TEST, [0, 9])
    with pytest.raises(DatasetError, match=r"query value 10 outside 1..6"):
        load_dataset("lsvid", str(root), protocol="gao")
    root = make_lsvid_root(tmp_path / "d", TRAIN, TEST, QUERY)
    with open(root / "list_sequence/list_seq_train.txt", "a") as f:
        f.write("tracklet_train/0001/99999_ 1\nbroken line here\n")
    with pytest.raises(DatasetError, match=r"list_seq_train.txt:6: 'broken line here': expected"):
        load_dataset("lsvid", str(root), protocol="gao")
    lines = (root / "list_sequence/list_seq_train.txt").read_text().splitlines()[:-1]
    (root / "list_sequence/list_seq_train.txt").write_text("\n".join(lines) + "\n")
    with pytest.warns(DatasetWarning, match=r"99999_\*: no image file starts with this listed prefix; left out"):
        ds = load_dataset("lsvid", str(root), protocol="gao")
    assert len(ds.train) == 4


# ---------------------------------------------------------------------------------------------- manifest
def _frames(folder, pid, cam, names, png=False):
    for k, n in enumerate(names):
        (write_png if png else write_jpeg)(folder / n, pid, cam, k)


@pytest.fixture
def own(tmp_path):
    """Users' own data: arbitrary folders, frames named f1..f12 (numeric order != lexicographic)."""
    data = tmp_path / "mydata"
    names = [f"f{i}.jpg" for i in range(1, 13)]
    _frames(data / "clips" / "a", 3, 0, names)
    _frames(data / "clips" / "b", 3, 1, names[:4])
    _frames(data / "clips" / "c", 8, 0, names[:5])
    _frames(data / "clips" / "d", 8, 2, names[:3], png=False)
    _frames(data / "clips" / "e", 9, 1, names[:2])
    return data


def test_manifest_jsonl_dir_and_frames(own):
    rows = [{"dir": "clips/a", "pid": 3, "camid": 0, "split": "train"},
            {"frames": [f"clips/b/f{i}.jpg" for i in (4, 2, 3, 1)], "pid": 3, "camid": 1, "split": "train"},
            {"dir": "clips/c", "pid": 8, "camid": 0, "split": "query"},
            {"dir": str(own / "clips" / "d"), "pid": 8, "camid": 2, "split": "gallery", "note": "ignored"},
            {"dir": "clips/e", "pid": -1, "camid": 1, "split": "gallery"}]
    (own / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    ds = load_dataset("manifest", str(own), protocol="gao")            # the folder: manifest.jsonl inside
    assert [(t.pid, t.camid, len(t.frames)) for t in ds.train] == [(0, 0, 12), (0, 1, 4)]
    assert [os.path.basename(f) for f in ds.train[0].frames] == [f"f{i}.jpg" for i in range(1, 13)]   # numeric
    assert [os.path.basename(f) for f in ds.train[1].frames] == ["f1.jpg", "f2.jpg", "f3.jpg", "f4.jpg"]
    assert ds.train[0].frames[0] == str(own / "clips" / "a" / "f1.jpg")                     # resolved, absolute
    assert np.abs(read_frame(ds.train[0].frames[9]).astype(int)[3, 1] - colour(3, 0, 9)).max() <= 3
    assert [(t.pid, t.camid) for t in ds.query] == [(8, 0)]
    assert [(t.pid, t.camid) for t in ds.gallery] == [(8, 2)]                     # pid -1 junk left out (gao)
    mars = load_dataset("manifest", str(own / "manifest.jsonl"), protocol="mars")
    assert [(t.pid, t.camid) for t in mars.gallery] == [(8, 0), (8, 2), (-1, 1)]   # MARS rule: queries included
    listed = load_dataset("manifest", str(own), protocol="gao", sort_frames=False)
    assert [os.path.basename(f) for f in listed.train[1].frames] == ["f4.jpg", "f2.jpg", "f3.jpg", "f1.jpg"]


def test_manifest_csv(own):
    (own / "manifest.csv").write_text(
        "dir,frames,pid,camid,split\n"
        "clips/a,,3,0,train\n"
        ",clips/b/f10.jpg|clips/b/f9.jpg,3,1,train\n"
        "clips/c,,8,0,query\n"
        "clips/d,,8,2,gallery\n")
    _frames(own / "clips" / "b", 3, 1, ["f9.jpg", "f10.jpg"])
    ds = load_dataset("manifest", str(own / "manifest.csv"), protocol="gao")
    assert [len(t.frames) for t in ds.train] == [12, 2]
    assert [os.path.basename(f) for f in ds.train[1].frames] == ["f9.jpg", "f10.jpg"]
    assert len(ds.query) == 1 and len(ds.gallery) == 1


def test_manifest_errors_name_the_line(own, tmp_path):
    def write(*rows):
        (own / "m.jsonl").write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
        return str(own / "m.jsonl")
    good = {"dir": "clips/a", "pid": 3, "camid": 0, "split": "train"}
    cases = [({"dir": "clips/a", "pid": 3, "camid": 0, "split": "test"}, r"m.jsonl:2: split must be one of"),
             ({"dir": "clips/a", "pid": "x", "camid": 0, "split": "train"}, r"m.jsonl:2: pid must be integer"),
             ({"pid": 3, "camid": 0, "split": "train"}, r"m.jsonl:2: expected exactly one of 'frames'"),
             ("{oops", r"m.jsonl:2: invalid JSON"),
             ({"dir": "clips/a", "pid": -1, "camid": 0, "split": "train"}, r"m.jsonl:2: pid -1 / camid 0: expected"),
             ({"dir": "clips/a", "pid": 3, "camid": -2, "split": "query"}, r"m.jsonl:2: pid 3 / camid -2"),
             ({"dir": "clips/zz", "pid": 3, "camid": 0, "split": "query"}, r"clips/zz: tracklet folder of m.jsonl "
                                                                            r"line 2 cannot be listed")]
    for bad, match in cases:
        with pytest.raises(DatasetError, match=match):
            load_dataset("manifest", write(good, bad), protocol="gao")
    (own / "clips" / "empty").mkdir()
    with pytest.warns(DatasetWarning, match=r"m.jsonl:2: tracklet without frames; left out"):
        load_dataset("manifest", write(good, {"dir": "clips/empty", "pid": 3, "camid": 0, "split": "query"}),
                     protocol="gao")
    with pytest.raises(RootError, match=r"no manifest.jsonl or manifest.csv"):
        load_dataset("manifest", str(tmp_path / "mydata" / "clips"), protocol="gao")
    (own / "bad.csv").write_text("path,pid\nx,1\n")
    with pytest.raises(DatasetError, match=r"bad.csv: CSV header .* expected columns dir\|frames, pid, camid"):
        load_dataset("manifest", str(own / "bad.csv"), protocol="gao")
