import json
import os

import numpy as np
import pytest
import scipy.io

from helpers_datasets import colour, forbid_frame_access, make_ilidsvid_root, make_prid_root
from vidreid.data import load_dataset
from vidreid.data.datasets.issues import DatasetWarning, RootError
from vidreid.data.decode import read_frame
from vidreid.errors import ConfigError, DatasetError

# iLIDS-VID: person numbers with gaps (as the real 300 among person001..person319)
PEOPLE = [(1, 5, 4), (2, 3, 6), (4, 4, 4), (7, 2, 3), (11, 6, 2), (12, 3, 3)]


@pytest.fixture(scope="module")
def ilids(tmp_path_factory):
    return make_ilidsvid_root(tmp_path_factory.mktemp("ilids"), PEOPLE)


def test_ilidsvid_split_semantics(ilids):
    ls_set = scipy.io.loadmat(ilids / "train-test people splits" / "train_test_splits_ilidsvid.mat")["ls_set"]
    folders = sorted(f"person{no:03d}" for no, _, _ in PEOPLE)
    for split in (0, 7):
        ds = load_dataset("ilidsvid", str(ilids), protocol="gao", split=split)
        test_people = sorted(int(folders[i - 1][6:]) for i in ls_set[split, :3].astype(int))   # first half: test
        train_people = sorted(int(folders[i - 1][6:]) for i in ls_set[split, 3:].astype(int))
        assert [t.pid for t in ds.query] == test_people and [t.pid for t in ds.gallery] == test_people
        assert {t.camid for t in ds.query} == {0} and {t.camid for t in ds.gallery} == {1}
        assert ds.meta["train_pids"] == train_people and ds.num_train_pids == 3
        assert sorted(t.pid for t in ds.train) == [0, 0, 1, 1, 2, 2]            # both cameras, relabelled
        assert ds.meta["num_splits"] == 10
    with pytest.raises(ConfigError, match=r"data.split must be in 0..9"):
        load_dataset("ilidsvid", str(ilids), protocol="gao", split=10)


def test_ilidsvid_frames_sorted_by_number(ilids):
    ds = load_dataset("ilidsvid", str(ilids), protocol="gao", split=0)
    t = next(t for t in ds.query + ds.gallery + ds.train if len(t.frames) == 6)
    numbers = [int(f.rsplit("_", 1)[1][:5]) for f in t.frames]
    assert numbers == sorted(numbers) and len(set(numbers)) == 6
    pid = int(os.path.basename(os.path.dirname(t.frames[0]))[6:])
    assert np.abs(read_frame(t.frames[4]).astype(int)[3, 1] - colour(pid, t.camid, 4)).max() <= 3


def test_ilidsvid_frames_in_numeric_order_when_names_are_not_zero_padded(tmp_path):
    root = make_ilidsvid_root(tmp_path, [(1, 12, 4), (2, 3, 5)], pad=False)    # ..._10.png sorts before _4.png
    ds = load_dataset("ilidsvid", str(root), protocol="gao", split=0)
    t = next(t for t in ds.query + ds.gallery + ds.train if len(t.frames) == 12)
    assert [int(f.rsplit("_", 1)[1][:-4]) for f in t.frames] == [1 + 3 * k for k in range(12)]
    assert np.abs(read_frame(t.frames[9]).astype(int)[3, 1] - colour(1, 0, 9)).max() <= 3


def test_index_never_opens_or_stats_frames(ilids, tmp_path, monkeypatch):
    prid = make_prid_root(tmp_path, PRID, splits=[{"train": [1, 2], "test": [4, 5]}] * 10)
    forbid_frame_access(monkeypatch)
    assert len(load_dataset("ilidsvid", str(ilids), protocol="gao").train) == 6
    assert len(load_dataset("prid2011", str(prid), protocol="gao").query) == 2


def test_ilidsvid_problems(tmp_path, ilids):
    with pytest.raises(RootError, match="i-LIDS-VID/sequences/cam1"):
        load_dataset("ilidsvid", str(tmp_path), protocol="gao")
    root = make_ilidsvid_root(tmp_path / "a", [(1, 3, 3), (2, 3, 3)])
    os.rename(root / "i-LIDS-VID/sequences/cam2/person002", root / "i-LIDS-VID/sequences/cam2/person003")
    with pytest.raises(DatasetError, match="person002: person without a sequence in cam2"):
        load_dataset("ilidsvid", str(root), protocol="gao")
    root = make_ilidsvid_root(tmp_path / "b", [(1, 3, 3), (2, 3, 3)])
    split_file = root / "train-test people splits" / "train_test_splits_ilidsvid.mat"
    scipy.io.savemat(split_file, {"ls_set": np.array([[1, 5]])})
    with pytest.raises(DatasetError, match=r"row 1 of ls_set must hold distinct indices 1..2"):
        load_dataset("ilidsvid", str(root), protocol="gao")
    scipy.io.savemat(split_file, {"other": np.array([[1, 2]])})
    with pytest.raises(DatasetError, match=r"expected variable 'ls_set'.*found \['other'\]"):
        load_dataset("ilidsvid", str(root), protocol="gao")
    (root / "i-LIDS-VID/sequences/cam1/person001/cam1_person002_00001.png").write_bytes(b"x")
    with pytest.raises(DatasetError, match="expected a name like cam1_person001_00317.png"):
        load_dataset("ilidsvid", str(root), protocol="gao")


# PRID2011: people 1-5 and 8 in both cameras; 3 has too few frames in cam_a, 6 in cam_b (< 21)
PRID = [(1, 25, 22), (2, 30, 21), (3, 10, 40), (4, 22, 22), (5, 21, 25), (6, 40, 20), (8, 23, 24)]


@pytest.fixture
def prid(tmp_path):
    return make_prid_root(tmp_path, PRID, only_a=[(201, 30)], only_b=[(300, 30)])


def test_prid_generated_splits_follow_the_21_frame_rule(prid):
    ds = load_dataset("prid2011", str(prid), protocol="gao", split=0)
    split_file = prid / "splits_prid2011.json"
    assert split_file.is_file() and ds.meta["splits_generated"] and ds.meta["num_eligible"] == 5
    splits = json.loads(split_file.read_text())
    assert len(splits) == 10
    eligible = {f"person_{n:04d}" for n in (1, 2, 4, 5, 8)}
    for s in splits:
        assert set(s["train"]) | set(s["test"]) == eligible and not set(s["train"]) & set(s["test"])
        assert len(s["train"]) == 2 and len(s["test"]) == 3
    assert len({tuple(s["train"]) for s in splits}) > 1          # the splits differ
    # written once: a second load reads the file and gives the same dataset
    again = load_dataset("prid2011", str(prid), protocol="gao", split=0)
    assert not again.meta["splits_generated"]
    assert [t.frames for t in again.query] == [t.frames for t in ds.query]
    assert [t.pid for t in ds.query] == sorted(int(p[7:]) for p in splits[0]["test"])
    assert {t.camid for t in ds.query} == {0} and {t.camid for t in ds.gallery} == {1}
    assert ds.meta["train_pids"] == sorted(int(p[7:]) for p in splits[0]["train"])


def test_prid_seed_and_frame_order(tmp_path):
    a = make_prid_root(tmp_path / "a", PRID)
    b = make_prid_root(tmp_path / "b", PRID)
    load_dataset("prid2011", str(a), protocol="gao", seed=0)
    load_dataset("prid2011", str(b), protocol="gao", seed=1)
    sa, sb = (json.loads((r / "splits_prid2011.json").read_text()) for r in (a, b))
    assert sa != sb
    ds = load_dataset("prid2011", str(a), protocol="gao")
    t = ds.query[0]
    assert [os.path.basename(f) for f in t.frames] == [f"{i:04d}.png" for i in range(1, len(t.frames) + 1)]
    pid = t.pid
    assert np.abs(read_frame(t.frames[12]).astype(int)[3, 1] - colour(pid, 0, 12)).max() <= 3


def test_prid_frames_in_numeric_order_when_names_are_not_zero_padded(tmp_path):
    root = make_prid_root(tmp_path, PRID, pad=False)             # 10.png sorts before 2.png as text
    t = load_dataset("prid2011", str(root), protocol="gao").query[0]
    assert [os.path.basename(f) for f in t.frames] == [f"{i}.png" for i in range(1, len(t.frames) + 1)]
    assert np.abs(read_frame(t.frames[11]).astype(int)[3, 1] - colour(t.pid, 0, 11)).max() <= 3


def test_prid_split_file_formats_and_errors(tmp_path):
    splits = [{"train": ["person_0001", "person_0002"], "test": [4, "5"]}] * 10
    root = make_prid_root(tmp_path / "a", PRID, splits=splits)
    ds = load_dataset("prid2011", str(root), protocol="gao", split=9)
    assert [t.pid for t in ds.query] == [4, 5] and ds.meta["train_pids"] == [1, 2]
    root = make_prid_root(tmp_path / "b", PRID, splits=[{"train": ["person_0001"], "test": ["person_0201"]}])
    with pytest.raises(DatasetError, match="people not found in both cameras: person_0201"):
        load_dataset("prid2011", str(root), protocol="gao")
    (root / "splits_prid2011.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not a readable JSON split file"):
        load_dataset("prid2011", str(root), protocol="gao")
    with pytest.raises(RootError, match="prid_2011/multi_shot/cam_a"):
        load_dataset("prid2011", str(tmp_path), protocol="gao")


def test_prid_read_only_root_warns(tmp_path, monkeypatch):
    root = make_prid_root(tmp_path, PRID)
    from vidreid.data.datasets import prid2011

    def refuse(path, text):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(prid2011, "atomic_write_text", refuse)
    with pytest.warns(DatasetWarning, match="could not write .*splits_prid2011.json"):
        ds = load_dataset("prid2011", str(root), protocol="gao")
    assert ds.meta["splits_generated"] and len(ds.query) == 3


def _checkpoint(path, root, dataset, num_classes, **data):
    from vidreid.config import Config
    from vidreid.store.checkpoint import save_checkpoint
    from vidreid.builders import build_for_dataset
    cfg = Config()
    cfg.data.dataset, cfg.data.root, cfg.data.protocol = dataset, str(root), "gao"
    cfg.data.height, cfg.data.width, cfg.data.seq_len, cfg.data.workers = 16, 8, 2, 0
    cfg.data.test_sampling, cfg.data.test_batch_size = "rrs", 8
    for k, v in data.items():
        setattr(cfg.data, k, v)
    cfg.model.name, cfg.model.backbone, cfg.train.device = "tp", "resnet18", "cpu"
    model = build_for_dataset(cfg, num_classes, pretrained=False)
    save_checkpoint(str(path), model, {"model": "tp", "num_classes": num_classes, "config": cfg.to_dict(),
                                       "dataset": dataset, "epoch": 1})
    return str(path)


def test_eval_split_all_prints_every_split_and_the_mean(ilids, tmp_path, capsys):
    from vidreid.cli import main
    for s in range(10):                                           # one checkpoint per split: runs/s{split}/...
        _checkpoint(tmp_path / f"s{s}.safetensors", ilids, "ilidsvid", 3, split=s)
    out_json = tmp_path / "m.json"
    assert main(["eval", "--checkpoint", str(tmp_path / "s{split}.safetensors"), "--split", "all",
                 "--json", str(out_json)]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert "ilidsvid: 10 splits, protocol gao" in lines[0]
    rows = [line.split() for line in lines if line[:1].isdigit()]
    assert [r[0] for r in rows] == [str(s) for s in range(10)]
    mean = next(line.split() for line in lines if line.startswith("mean"))
    assert float(mean[5]) == pytest.approx(np.mean([float(r[5]) for r in rows]), abs=0.011)   # mAP column
    doc = json.loads(out_json.read_text())
    assert len(doc["splits"]) == 10 and doc["mean"]["mAP"] == pytest.approx(np.mean([r["mAP"] for r in doc["splits"]]))
    assert "warning" not in out.err
    # one checkpoint for every split, trained on this dataset: allowed, with a one-line warning
    assert main(["eval", "--checkpoint", str(tmp_path / "s0.safetensors"), "--split", "all"]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]   # (+ feature-cache log)
    assert len(warned) == 1 and "warning: one checkpoint for all 10 splits" in warned[0]
    # a single split by index; --split all on a one-split dataset is a one-line error
    assert main(["eval", "--checkpoint", str(tmp_path / "s3.safetensors"), "--split", "3"]) == 0
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(tmp_path / "s0.safetensors"), "--split", "x"]) == 2
    assert "--split must be a split index" in capsys.readouterr().err


def test_eval_split_all_on_prid2011(prid, tmp_path, capsys):
    from vidreid.cli import main
    ckpt = _checkpoint(tmp_path / "p0.safetensors", prid, "prid2011", 2, split=0)   # 5 eligible: 2 train ids
    out_json = tmp_path / "m.json"
    assert main(["eval", "--checkpoint", ckpt, "--split", "all", "--json", str(out_json)]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert "prid2011: 10 splits, protocol gao" in lines[0]
    rows = [line.split() for line in lines if line[:1].isdigit()]
    assert [r[0] for r in rows] == [str(s) for s in range(10)] and {r[-1] for r in rows} == {"3"}   # 3 queries each
    warned = [line for line in out.err.splitlines() if "warning" in line]
    assert len(warned) == 1 and "warning: one checkpoint for all 10 splits" in warned[0]
    doc = json.loads(out_json.read_text())
    assert len(doc["splits"]) == 10 and doc["mean"]["mAP"] == pytest.approx(np.mean([r["mAP"] for r in doc["splits"]]))
    assert len(json.loads((prid / "splits_prid2011.json").read_text())) == 10   # drawn once, then reused per split
