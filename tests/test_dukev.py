import os
import time

import numpy as np
import pytest

from helpers_datasets import colour, dukev_name, forbid_frame_access, make_dukev_root, write_jpeg
from vidreid.data import load_dataset
from vidreid.data.datasets import names as name_parsing
from vidreid.data.datasets.issues import DatasetWarning, Issues, RootError
from vidreid.data.datasets.dukev import load_dukev_layout
from vidreid.data.decode import read_frame
from vidreid.errors import ConfigError, DatasetError

SPLITS = {"train": [(1, 1, 5), (1, 2, 3), (2, 3, 12), (7, 8, 2)],
          "query": [(5, 1, 4), (6, 2, 3)],
          "gallery": [(5, 2, 6), (5, 1, 2), (6, 4, 3), (9, 4, 2)]}   # pid 9: a distractor


@pytest.fixture(scope="module", params=["old", "new"])
def root(request, tmp_path_factory):
    return make_dukev_root(tmp_path_factory.mktemp(f"dukev_{request.param}"), SPLITS, style=request.param)


def test_index_splits_pids_and_cameras(root):
    ds = load_dataset("dukev", str(root), protocol="gao")
    assert ds.protocol == "gao" and ds.num_train_pids == 3 and ds.meta["train_pids"] == [1, 2, 7]
    assert [(t.pid, t.camid, len(t.frames)) for t in ds.train] == [(0, 0, 5), (0, 1, 3), (1, 2, 12), (2, 7, 2)]
    assert [(t.pid, t.camid, len(t.frames)) for t in ds.query] == [(5, 0, 4), (6, 1, 3)]
    # gallery ordered by (pid, tracklet folder); queries are not in it (gao on DukeV's own split)
    assert [(t.pid, t.camid, len(t.frames)) for t in ds.gallery] == [(5, 1, 6), (5, 0, 2), (6, 3, 3), (9, 3, 2)]
    assert all(os.path.isabs(f) for t in ds.train for f in t.frames)


def test_frames_ordered_by_f_index(root):
    ds = load_dataset("dukev", str(root), protocol="gao")
    t = ds.train[2]                                               # pid 2, 12 frames; X decreases as F increases
    f_index = [int(os.path.basename(f).replace("_", "").split("F")[1][:4]) for f in t.frames]
    assert f_index == list(range(1, 13))
    for k in (0, 9, 11):                                          # the k-th frame has the k-th colour
        img = read_frame(t.frames[k]).astype(int)
        assert np.abs(img[4, 2] - colour(2, 3, k)).max() <= 3


def test_mars_protocol_only_via_layout_reader(root):
    with pytest.raises(ConfigError, match="data.protocol=gao"):
        load_dataset("dukev", str(root), protocol="mars")
    with pytest.raises(ConfigError, match="single fixed"):
        load_dataset("dukev", str(root), protocol="gao", split=3)
    from vidreid.data.datasets.dukev import load_dukev_layout
    ds = load_dukev_layout(str(root), "synthped", protocol="mars")   # SynthPed in this layout: gallery += queries
    assert len(ds.gallery) == len(SPLITS["query"]) + len(SPLITS["gallery"])


def test_frames_in_numeric_order_when_names_are_not_zero_padded(tmp_path):
    # F9 sorts after F10 as text: only the parsed F index puts them in order
    root = make_dukev_root(tmp_path, {"train": [(2, 3, 12), (1, 1, 3)], "query": [(5, 1, 2)], "gallery": [(5, 2, 2)]},
                           pad=False)
    t = load_dataset("dukev", str(root), protocol="gao").train[1]
    assert [os.path.basename(f).split("F")[1].split("X")[0] for f in t.frames] == [str(k) for k in range(1, 13)]
    for k in (8, 9, 11):
        assert np.abs(read_frame(t.frames[k]).astype(int)[4, 2] - colour(2, 3, k)).max() <= 3


def test_index_never_opens_or_stats_frames(root, monkeypatch):
    forbid_frame_access(monkeypatch)
    ds = load_dataset("dukev", str(root), protocol="gao")
    assert len(ds.train) == 4


def test_wrong_root_names_the_expected_layout(tmp_path):
    with pytest.raises(RootError) as e:
        load_dataset("dukev", str(tmp_path / "nope"), protocol="gao")
    msg = str(e.value)
    assert "no such folder" in msg and "train/, query/ and gallery/" in msg and "\n" not in msg
    assert "0001C6F0001X30823.jpg" in e.value.layout              # the full tree, for `vidreid data check`
    (tmp_path / "d" / "train").mkdir(parents=True)
    with pytest.raises(RootError, match="no query/, gallery/ folder"):
        load_dataset("dukev", str(tmp_path / "d"), protocol="gao")


def _broken(tmp_path, mutate):
    root = make_dukev_root(tmp_path, {"train": [(1, 1, 3), (2, 3, 4)], "query": [(5, 1, 2)], "gallery": [(5, 2, 2)]})
    mutate(root)
    return root


def test_name_metadata_mismatches_are_clear_errors(tmp_path):
    def wrong_pid(root):
        write_jpeg(root / "train/0002/0001" / dukev_name(7, 3, 5, 1), 2, 3, 4)
    root = _broken(tmp_path / "a", wrong_pid)
    with pytest.raises(DatasetError, match=r"0007C3F0005X00001.jpg: expected a name like 0002C6F0099X30823.jpg"):
        load_dataset("dukev", str(root), protocol="gao")

    def wrong_cam(root):
        write_jpeg(root / "train/0002/0001" / dukev_name(2, 5, 5, 1), 2, 3, 4)
    with pytest.raises(DatasetError, match="camera C5 differs from the tracklet's camera C3"):
        load_dataset("dukev", str(_broken(tmp_path / "b", wrong_cam)), protocol="gao")

    def cam_out_of_range(root):
        write_jpeg(root / "gallery/0009/0001" / dukev_name(9, 9, 1, 1), 9, 9, 0)
    with pytest.raises(DatasetError, match=r"camera C9 outside C1..C8"):
        load_dataset("dukev", str(_broken(tmp_path / "c", cam_out_of_range)), protocol="gao")

    def same_f_twice(root):
        write_jpeg(root / "train/0001/0001" / dukev_name(1, 1, 2, 12345, "new"), 1, 1, 1)
    with pytest.raises(DatasetError, match="F index 2 appears twice"):
        load_dataset("dukev", str(_broken(tmp_path / "d", same_f_twice)), protocol="gao")

    def bad_pid_folder(root):
        (root / "train" / "person1").mkdir()
    with pytest.raises(DatasetError, match="person1: not a person folder"):
        load_dataset("dukev", str(_broken(tmp_path / "e", bad_pid_folder)), protocol="gao")


@pytest.mark.parametrize("stray", ["0002C1F0000X00001.jpg", "0002C.jpg", "0002.jpg"])
def test_one_stray_file_is_one_problem(tmp_path, stray):
    # the stray name sorts before the tracklet's 4 frames (camera C3): it must not become the tracklet's camera
    root = _broken(tmp_path, lambda root: write_jpeg(root / "train/0002/0001" / stray, 2, 3, 0))
    issues = Issues(collect=True)
    ds = load_dukev_layout(str(root), issues=issues)
    assert [(p.kind, os.path.basename(p.path)) for p in issues.problems] == [("name_mismatch", stray)]
    assert ds.train[1].camid == 2                                 # C3, the camera of its other frames
    with pytest.raises(DatasetError, match=stray.replace(".", r"\.")) as e:
        load_dataset("dukev", str(root), protocol="gao")
    assert "such problems" not in str(e.value)


def test_empty_tracklet_dropped_and_other_files_ignored(tmp_path):
    def mutate(root):
        (root / "train/0001/0002").mkdir()
        (root / "train/0001/0001/Thumbs.db").write_bytes(b"x")
        (root / "train/0001/0001/notes.txt").write_text("hi")
    root = _broken(tmp_path, mutate)
    with pytest.warns(DatasetWarning, match=r"0001/0002: tracklet folder without image files; left out"):
        ds = load_dataset("dukev", str(root), protocol="gao")
    assert [len(t.frames) for t in ds.train] == [3, 4]


def test_vectorised_name_parsing_is_fast():
    # DukeV has 815k frames: parsing 300k names must take well under a second (no Python loop per name)
    n = 300_000
    rng = np.random.default_rng(0)
    pids, cams, fs = rng.integers(1, 9999, n), rng.integers(1, 9, n), rng.integers(1, 9999, n)
    names = np.char.add(np.char.add(np.char.add(np.char.zfill(pids.astype(str), 4), "C"), cams.astype(str)),
                        np.char.add(np.char.add("F", np.char.zfill(fs.astype(str), 4)), "X00001.jpg"))
    t0 = time.perf_counter()
    pid, ok_p = name_parsing.int_at(names, 0, digits=4)
    cam, ok_c = name_parsing.int_after(names, "C")
    f, ok_f = name_parsing.int_after(names, "F")
    elapsed = time.perf_counter() - t0
    assert ok_p.all() and ok_c.all() and ok_f.all()
    assert np.array_equal(pid, pids) and np.array_equal(cam, cams) and np.array_equal(f, fs)
    assert elapsed < 3.0, elapsed                                # ~0.3 s unloaded


def test_natural_order():
    names = np.array(["f10.jpg", "f9.jpg", "f100.jpg", "g1.jpg", "f1.jpg", "a_2_10.png", "a_2_9.png", "a_10_1.png"])
    order = name_parsing.natural_order(names)
    assert names[order].tolist() == ["a_2_9.png", "a_2_10.png", "a_10_1.png", "f1.jpg", "f9.jpg", "f10.jpg",
                                     "f100.jpg", "g1.jpg"]
    group = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    assert names[name_parsing.natural_order(names, group)].tolist()[:5] == ["a_2_9.png", "a_2_10.png", "a_10_1.png",
                                                                         "f100.jpg", "g1.jpg"]


def test_synthped_written_in_the_dukev_layout_reads_clean(tmp_path):
    from vidreid.data.check import check_dataset
    from vidreid.data.datasets.dukev import load_dukev_layout
    from vidreid.data.synthped import generate_synthped
    from vidreid.data.synthped.config import make_config
    root = str(tmp_path / "sp")
    generate_synthped(root, make_config(layout="dukev", ids=8, cams=3, height=32, width=16, seed=1), workers=1)
    ds = load_dukev_layout(root, "synthped", "gao")
    assert ds.num_train_pids == 4 and len(ds.query) == 4
    report = check_dataset("dukev", root, workers=1, progress=False)
    assert report.ok, [p.to_dict() for p in report.problems]
