"""Bad input during training, evaluation and extraction: corrupt/missing frames, unreadable tracklets, wrong roots
and names, unknown config keys, checkpoint/model mismatches, clip lengths a model does not allow -- each handled with
one warning line or one error line, never a bare traceback or a silent wrong tensor."""
import contextlib
import os
import sys
import warnings

import numpy as np
import pytest
import yaml

from helpers_datasets import SIZE, dukev_name, make_dukev_root, truncate
from vidreid.cli import main, user_message
from vidreid.config import DataConfig
from vidreid.data import decode, load_dataset
from vidreid.data.decode import CorruptFrameWarning, skipped_frame_count
from vidreid.data.loader import VideoTrainDataset, build_test_loader
from vidreid.data.transforms import ClipTransform
from vidreid.errors import DatasetError

SPLITS = {"train": [(1, 1, 6), (1, 2, 5), (2, 1, 6), (2, 3, 4)], "query": [(5, 1, 4), (6, 2, 5)],
          "gallery": [(5, 2, 6), (6, 1, 4), (9, 4, 3)]}


@pytest.fixture(autouse=True)
def fresh_bad_frame_memory(monkeypatch):
    monkeypatch.setattr(decode, "_bad_frames", set())
    decode.forget_bad_frames()


@pytest.fixture
def root(tmp_path):
    return make_dukev_root(tmp_path, SPLITS)


@contextlib.contextmanager
def warnings_to_stderr():
    """What a user's terminal shows (pytest records warnings; its recorder would swallow a worker's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda msg, cat, fn, ln, file=None, line=None: sys.stderr.write(
            warnings.formatwarning(msg, cat, fn, ln, line))
        yield


def dcfg(**kw):
    base = dict(height=SIZE[0], width=SIZE[1], seq_len=4, batch_size=4, num_instances=2, test_batch_size=4,
                workers=0, pad=0, flip=0.0)
    base.update(kw)
    return DataConfig(**base)


def test_warning_is_one_line_naming_the_file_and_counted(root, capfd):
    ds = load_dataset("dukev", str(root), protocol="gao")
    bad = ds.query[0].frames[1]
    truncate(bad)
    before = skipped_frame_count()
    with warnings_to_stderr():
        batches = list(build_test_loader(ds.query, dcfg(workers=1), sampling="dense"))   # decoded in a worker
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith("vidreid: warning: skipping unreadable frame " + bad)
    assert lines[0].endswith(f"({before + 1} skipped so far)")   # the count shared with the parent process
    assert skipped_frame_count() == before + 1                    # counted across the worker process
    clips = batches[0][0]
    assert clips.shape[0] == 3 and np.isfinite(clips.numpy()).all()


def test_bad_frame_met_by_two_workers_is_warned_and_counted_once(root, capfd):
    ds = load_dataset("dukev", str(root), protocol="gao")
    bad = ds.query[0].frames[1]
    truncate(bad)
    before = skipped_frame_count()
    with warnings_to_stderr():
        # the same tracklet twice, one batch each: worker 0 and worker 1 both decode the bad frame
        batches = list(build_test_loader([ds.query[0], ds.query[0]], dcfg(workers=2, test_batch_size=1),
                                         sampling="rrs"))
    lines = [line for line in capfd.readouterr().err.splitlines() if "skipping unreadable frame" in line]
    assert len(batches) == 2 and len(lines) == 1, lines
    assert skipped_frame_count() == before + 1


def test_strict_is_a_one_line_error_also_from_a_worker(root):
    ds = load_dataset("dukev", str(root), protocol="gao")
    bad = ds.gallery[1].frames[2]
    os.remove(bad)
    loader = build_test_loader(ds.gallery, dcfg(workers=1, strict=True), sampling="dense")
    with pytest.raises(DatasetError) as e:
        list(loader)
    loader._iterator._shutdown_workers()                          # now, not at garbage collection (5 s timeout)
    assert "Original Traceback" in str(e.value)                   # torch re-raises with the worker traceback
    line = user_message(e.value)
    assert line.startswith(bad) and "data.strict=true" in line and "\n" not in line


def test_training_tracklet_without_readable_frame_is_dropped(root):
    ds = load_dataset("dukev", str(root), protocol="gao")
    dead = ds.train[0]                                            # pid 0, camera 0: every frame corrupt
    for f in dead.frames:
        truncate(f, 0.3)
    train = VideoTrainDataset(ds.train, 4, "consecutive", ClipTransform.from_config(dcfg(), True))
    with pytest.warns(CorruptFrameWarning, match=r"dropping training tracklet 0 \(pid 0, camid 0, .*train/0001/0001\)"):
        clip, pid, camid = train[(0, 123)]
    assert pid == 0 and camid == 1                                # served by the other tracklet of pid 0
    clip2, _, _ = train[(0, 123)]                                 # known dead: no second decode, same substitute
    assert np.array_equal(clip.numpy(), clip2.numpy())


def test_test_tracklet_without_readable_frame_is_dropped(root):
    ds = load_dataset("dukev", str(root), protocol="gao")
    for f in ds.gallery[1].frames:
        os.remove(f)
    with pytest.warns(CorruptFrameWarning, match="dropping test tracklet 1"):
        batches = list(build_test_loader(ds.gallery, dcfg(test_batch_size=2), sampling="rrs"))
    seen = np.concatenate([b[1].numpy() for b in batches])
    assert seen.tolist() == [0, 2]                                # no clip, and no fake tensor, for tracklet 1
    assert any(b[0].shape[0] == 1 for b in batches)
    # a batch whose every tracklet is dropped is not yielded at all (models cannot run on zero clips)
    assert list(build_test_loader([ds.gallery[1]], dcfg(), sampling="rrs")) == []
    from vidreid.data.loader import _collate_test
    clips, idx = _collate_test([None, None], (4, 3, *SIZE))
    assert clips.shape == (0, 4, 3, *SIZE) and idx.shape == (0,)


# ---------------------------------------------------------------------------------------------- CLI one-liners
def _config(tmp_path, root, **over) -> str:
    cfg = {"data": {"dataset": "dukev", "root": str(root), "protocol": "gao", "height": 16, "width": 8,
                    "seq_len": 4, "batch_size": 4, "num_instances": 2, "test_batch_size": 4, "workers": 0,
                    "pad": 0, "test_sampling": "rrs"},
           "model": {"name": "tp", "backbone": "resnet18", "pretrained": None},
           "train": {"epochs": 1, "iters_per_epoch": 1, "eval_every": 0, "device": "cpu",
                     "output_dir": str(tmp_path / "run")}}
    for key, value in over.items():
        section, name = key.split("__")
        cfg[section][name] = value
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _one_line_error(capsys, argv, *fragments):
    code = main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2, err
    assert len(errors) == 1 and "Traceback" not in err, err
    for frag in fragments:
        assert frag in errors[0], errors[0]
    return errors[0]


def test_cli_one_line_errors(tmp_path, root, capsys):
    train = ["train", "--no-progress", "--config"]
    _one_line_error(capsys, train + [_config(tmp_path, tmp_path / "nowhere")],
                    "dukev root", "no such folder", "expected train/, query/ and gallery/")
    _one_line_error(capsys, train + [_config(tmp_path, root, data__dataset="dukemtmc")],
                    "unknown dataset 'dukemtmc'", "expected one of", "dukev")
    _one_line_error(capsys, train + [_config(tmp_path, root), "data.seqlen=8"],
                    "unknown config key 'data.seqlen'", "seq_len")
    _one_line_error(capsys, train + [_config(tmp_path, root, data__protocol="mars")],
                    "dataset 'dukev' supports protocol gao", "data.protocol=gao")
    _one_line_error(capsys, train + [_config(tmp_path, root, data__options={"subset": "val"})],
                    "dataset 'dukev' has no option 'subset'", "accepted options: protocol, split")
    _one_line_error(capsys, train + [_config(tmp_path, root, data__strict=True), "data.workers=1"]
                    if _corrupt_one(root) else [], "data.strict=true")


def _corrupt_one(root) -> bool:
    truncate(root / "train/0001/0001" / dukev_name(1, 1, 3, 90000 - 21))
    truncate(root / "train/0001/0002" / dukev_name(1, 2, 3, 90000 - 21))
    truncate(root / "train/0002/0001" / dukev_name(2, 1, 3, 90000 - 21))
    truncate(root / "train/0002/0002" / dukev_name(2, 3, 3, 90000 - 21))
    return True


def test_clip_length_not_allowed_by_the_model(tmp_path, root, capsys):
    cfg = _config(tmp_path, root, model__name="ste_nvan", data__seq_len=6)
    _one_line_error(capsys, ["train", "--no-progress", "--config", cfg],
                    "ste_nvan: T (frames per clip) must be divisible by 4, got T=6")


def test_checkpoint_with_another_class_count_evaluates(tmp_path, root, capsys):
    from vidreid.config import load_config
    from vidreid.engine.checkpoint import build_model_from_checkpoint, save_checkpoint
    from vidreid.engine.train import build_for_dataset
    cfg = load_config(_config(tmp_path, root))
    model = build_for_dataset(cfg, 7, pretrained=False)          # trained on 7 ids; DukeV fixture has 2
    ckpt = str(tmp_path / "ck.safetensors")
    save_checkpoint(ckpt, model, {"model": "tp", "num_classes": 7, "config": cfg.to_dict(), "dataset": "other"})
    m, meta = build_model_from_checkpoint(ckpt, 2)               # backbone loaded, classifier re-initialised
    assert meta["num_classes"] == 7
    trained = model.state_dict()
    for k, v in m.state_dict().items():
        if v.shape == trained[k].shape:
            assert np.array_equal(v.numpy(), trained[k].numpy()), k
        else:
            assert "classifier" in k and v.shape[0] == 2
    code = main(["eval", "--checkpoint", ckpt, f"data.root={root}"])
    out = capsys.readouterr()
    assert code == 0 and "mAP" in out.out
    # a real mismatch (weights of another backbone than the checkpoint's config names) is one line naming keys
    other = cfg.to_dict()
    other["model"]["backbone"] = "resnet34"
    save_checkpoint(ckpt, model, {"model": "tp", "num_classes": 7, "config": other, "dataset": "other"})
    _one_line_error(capsys, ["eval", "--checkpoint", ckpt, f"data.root={root}"], "does not fit this model",
                    "missing keys")


def test_evaluation_leaves_out_tracklets_without_readable_frame(tmp_path):
    """A test tracklet whose frames are all unreadable gets no feature (NaN) and is left out of the metrics."""
    import numpy as np
    import pytest as _pytest

    from vidreid.config import Config
    from vidreid.data.types import Tracklet, VideoReIDDataset
    from vidreid.engine.evaluate import evaluate_model
    from vidreid.engine.extract import UnreadableTrackletWarning
    from vidreid.models import build_model
    from PIL import Image

    def frames(name, n, colour):
        d = tmp_path / name
        d.mkdir()
        paths = []
        for i in range(n):
            p = d / f"{i:03d}.jpg"
            Image.new("RGB", (16, 32), colour).save(p)
            paths.append(str(p))
        return tuple(paths)
    dead = tuple(str(tmp_path / "dead" / f"{i}.jpg") for i in range(3))        # missing files
    query = [Tracklet(frames("q0", 3, (200, 0, 0)), 1, 0), Tracklet(dead, 2, 0)]
    gallery = [Tracklet(frames("g0", 3, (200, 0, 0)), 1, 1), Tracklet(frames("g1", 3, (0, 0, 200)), 2, 1),
               Tracklet(dead, 3, 1)]
    ds = VideoReIDDataset("tiny", str(tmp_path), [], query, gallery, protocol="gao")
    cfg = Config()
    cfg.data.height, cfg.data.width, cfg.data.workers, cfg.data.seq_len = 32, 16, 0, 2
    cfg.data.test_sampling = "rrs"
    model = build_model("tp", 3, backbone="resnet18").eval()
    with _pytest.warns(UnreadableTrackletWarning, match="1 query tracklet"):
        res = evaluate_model(model, ds, cfg, progress=False)
    assert res["dropped_tracklets"] == {"query": 1, "gallery": 1}
    assert res["distmat"].shape == (1, 2) and np.isfinite(res["distmat"]).all()
