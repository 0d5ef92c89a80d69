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
    from vidreid.store.checkpoint import save_checkpoint
    from vidreid.inference.model import build_model_from_checkpoint
    from vidreid.builders import build_for_dataset
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
    from vidreid.inference.evaluate import evaluate_model
    from vidreid.data.decode import UnreadableTrackletWarning
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


# ============================================================================================ nothing lost, no crash
# Each case: exit 2 (or the named exception from the Python API), one error line naming the path or key, no
# traceback, and every input unchanged (helpers_files.snapshot before/after).
import errno
import re

from helpers_files import snapshot


@pytest.fixture
def ckpt(tmp_path, root):
    """A checkpoint (untrained tp/resnet18 at 16x8 on the DukeV fixture) in run/checkpoints/, and its config."""
    from vidreid.config import load_config
    from vidreid.store.checkpoint import save_checkpoint
    from vidreid.builders import build_for_dataset
    cfg_path = _config(tmp_path, root)
    cfg = load_config(cfg_path)
    path = tmp_path / "trained" / "checkpoints" / "best.safetensors"
    save_checkpoint(str(path), build_for_dataset(cfg, 2, pretrained=False),
                    {"model": "tp", "num_classes": 2, "config": cfg.to_dict(), "dataset": "dukev"})
    return str(path), cfg_path


def _refused(capsys, argv, inputs, *fragments, code=2):
    before = snapshot(*inputs)
    line = _one_line_error(capsys, argv, *fragments) if code == 2 else None
    assert snapshot(*inputs) == before, "an input changed"
    return line


def test_outputs_never_replace_inputs_or_existing_files(tmp_path, root, ckpt, capsys):
    ck, cfg = ckpt
    other = tmp_path / "notes.json"
    other.write_text('{"mine": 1}')
    inputs = (ck, cfg, other, root)
    _refused(capsys, ["export", "--checkpoint", ck, "--out", ck], inputs, f"--out {ck} is the checkpoint")
    _refused(capsys, ["export", "--checkpoint", ck, "--out", ck, "--overwrite"], inputs, "is the checkpoint")
    _refused(capsys, ["export", "--checkpoint", ck, "--out", str(other)], inputs, str(other), "already exists",
             "--overwrite")
    _refused(capsys, ["eval", "--checkpoint", ck, "--json", ck], inputs, f"--json {ck} is the checkpoint")
    _refused(capsys, ["eval", "--checkpoint", ck, "--config", cfg, "--json", cfg], inputs, "is the config file")
    _refused(capsys, ["eval", "--checkpoint", ck, "--json", str(other)], inputs, str(other), "--overwrite")
    _refused(capsys, ["explain", "--checkpoint", ck, "--tracklet", "0", "--out", ck], inputs, "is the checkpoint")
    _refused(capsys, ["explain", "--checkpoint", ck, "--tracklet", "0", "--out", str(tmp_path / "x.png"),
                      "--json", ck], inputs, "--json", "is the checkpoint")
    _refused(capsys, ["extract", "--checkpoint", ck, "--split", "query", "--out", ck], inputs, "is the checkpoint")
    _refused(capsys, ["extract", "--checkpoint", ck, "--split", "query", "--out", str(other)], inputs,
             "not a vidreid feature file")
    _refused(capsys, ["data", "check", str(root), "--dataset", "dukev", "--fix-report", str(other)], inputs,
             "--fix-report", "already exists")
    # the same rule from Python
    from vidreid.errors import OutputError
    from vidreid.export import export_onnx
    before = snapshot(*inputs)
    with pytest.raises(OutputError, match="is the checkpoint this command reads"):
        export_onnx(ck, out=ck, overwrite=True)
    with pytest.raises(OutputError, match="already exists"):
        export_onnx(ck, out=str(other))
    assert snapshot(*inputs) == before


def test_outputs_under_a_file_or_unwritable_are_one_line_before_the_work(tmp_path, root, ckpt, capsys, monkeypatch):
    ck, cfg = ckpt
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    under = str(blocker / "sub" / "out")
    inputs = (ck, cfg, blocker, root)
    for argv, option in [(["export", "--checkpoint", ck, "--out", under + ".onnx"], "--out"),
                         (["eval", "--checkpoint", ck, "--json", under + ".json"], "--json"),
                         (["explain", "--checkpoint", ck, "--tracklet", "0", "--out", under + ".png"], "--out"),
                         (["extract", "--checkpoint", ck, "--split", "query", "--out", under + ".safetensors"], "--out"),
                         (["data", "check", str(root), "--dataset", "dukev", "--fix-report", under], "--fix-report"),
                         (["synth", "--out", under, "--ids", "4", "--size", "32x16", "--quiet"], str(blocker)),
                         (["train", "--no-progress", "--config", cfg, f"train.output_dir={under}"], "train.output_dir"),
                         (["search", "--index", str(tmp_path / "none"), "--probe", str(root), "--html",
                           under + ".html"], "--html")]:
        _refused(capsys, argv, inputs, option, f"{blocker} is a file, not a folder")
    # a folder that refuses writes (simulated: the tests run as root, who may write anywhere)
    import tempfile as tf
    real = tf.mkstemp

    def denied(*a, dir=None, **kw):
        if dir and str(dir).startswith(str(tmp_path / "ro")):
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real(*a, dir=dir, **kw)
    monkeypatch.setattr(tf, "mkstemp", denied)
    (tmp_path / "ro").mkdir()
    _refused(capsys, ["eval", "--checkpoint", ck, "--json", str(tmp_path / "ro" / "m.json")], inputs,
             "--json", str(tmp_path / "ro"), "permission denied")
    assert not (tmp_path / "trained" / "features").exists()          # refused before any work


def test_finished_run_is_never_silently_replaced(tmp_path, root, capsys):
    cfg = _config(tmp_path, root)
    run = tmp_path / "run"
    assert main(["train", "--no-progress", "--config", cfg]) == 0
    capsys.readouterr()
    finished = snapshot(run)
    _refused(capsys, ["train", "--no-progress", "--config", cfg], (run,), f"train.output_dir {run}",
             "holds a previous run", "checkpoints/", "metrics.json", "--resume", "--force")
    assert snapshot(run) == finished                                  # the refused start touched nothing
    # --resume continues it (a finished run: evaluated again, nothing retrained)
    assert main(["train", "--no-progress", "--config", cfg, "--resume"]) == 0
    assert "training had already finished" in capsys.readouterr().out
    # --force replaces it, and says so; the old step checkpoints do not survive next to the new weights
    (run / "checkpoints" / "step_0000099.safetensors").write_bytes(b"old")
    assert main(["train", "--no-progress", "--config", cfg, "--force"]) == 0
    err = capsys.readouterr().err
    assert f"replacing the previous run in {run}" in err and "checkpoints/" in err
    assert not (run / "checkpoints" / "step_0000099.safetensors").exists()


def test_second_writer_of_a_run_folder_is_refused_with_the_pid(tmp_path, root, capsys):
    from vidreid.utils.io import RunLock
    cfg = _config(tmp_path, root)
    with RunLock(str(tmp_path / "run"), "train.output_dir"):
        _refused(capsys, ["train", "--no-progress", "--config", cfg], (root,), "in use by another vidreid process",
                 f"pid {os.getpid()}", str(tmp_path / "run" / ".vidreid.lock"))
    assert main(["train", "--no-progress", "--config", cfg]) == 0      # released: the next run goes ahead
    assert not (tmp_path / "run" / ".vidreid.lock").exists()             # and no lock file is left behind


@pytest.mark.parametrize("override, key, what", [
    ("train.epochs=-1", "train.epochs", ">= 1"), ("train.epochs=0", "train.epochs", ">= 1"),
    ("optim.lr=-1", "optim.lr", "positive"), ("optim.lr=.nan", "optim.lr", "positive"),
    ("loss.label_smoothing=2", "loss.label_smoothing", "[0, 1)"), ("data.seq_len=0", "data.seq_len", ">= 1"),
    ("data.flip=1.5", "data.flip", "[0, 1]"), ("train.keep_last=0", "train.keep_last", ">= 1"),
    ("data.workers=-2", "data.workers", ">= 0"), ("optim.name=adan", "optim.name", "adam, adamw, sgd"),
    ("train.amp=fp8", "train.amp", "off, bf16, fp16"), ("data.batch_size=0", "data.batch_size", ">= 1")])
def test_out_of_range_config_values_fail_before_any_data_is_read(tmp_path, capsys, override, key, what):
    cfg = _config(tmp_path, tmp_path / "no-such-root")                 # the dataset would be the next error
    line = _refused(capsys, ["train", "--no-progress", "--config", cfg, override], (cfg,), key, what)
    assert "root" not in line and not (tmp_path / "run").exists()      # nothing written either
    from vidreid.config import load_config
    from vidreid.errors import ConfigError
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_config(cfg, [override])


def test_config_messages_keep_yaml_position_and_overrides_go_anywhere(tmp_path, root, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  root: x\n  height: [1, 2\nmodel:\n  name: tp\n")
    _refused(capsys, ["train", "--config", str(bad)], (bad,), str(bad), "invalid YAML at line", "column")
    cfg = _config(tmp_path, root)
    # an override after an option is read as an override (its key is checked) ...
    _one_line_error(capsys, ["train", "--config", cfg, "--no-progress", "data.seqlen=8"],
                    "unknown config key 'data.seqlen'")
    # ... and one given to a command without overrides is a precise usage error
    with pytest.raises(SystemExit) as e:
        main(["data", "check", str(root), "--dataset", "dukev", "data.root=x"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "takes no key=value config overrides" in err and "usage: vidreid data" in err
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    _refused(capsys, ["train", "--config", str(folder)], (root,), str(folder), "cannot read the config file")


def test_frames_and_strip_zero_are_refused(tmp_path, ckpt, capsys):
    ck, _ = ckpt
    _refused(capsys, ["explain", "--checkpoint", ck, "--tracklet", "0", "--frames", "0"], (ck,),
             "--frames must be positive, got 0")
    _refused(capsys, ["export", "--checkpoint", ck, "--frames", "0", "--out", str(tmp_path / "m.onnx")], (ck,),
             "--frames must be positive, got 0")
    assert not (tmp_path / "m.onnx").exists()
    _refused(capsys, ["search", "--index", str(tmp_path / "none"), "--probe", str(tmp_path), "--strip", "0",
                      "--html", str(tmp_path / "p.html")], (ck,), "--strip must be >= 1", "got 0")


def test_eval_refuses_a_config_naming_another_model(tmp_path, root, ckpt, capsys):
    ck, cfg = ckpt
    _refused(capsys, ["eval", "--checkpoint", ck, "model.name=sta"], (ck,), "model.name 'sta'",
             "checkpoint: 'tp'", ck)
    other = _config(tmp_path, root, model__backbone="resnet34")
    _refused(capsys, ["eval", "--checkpoint", ck, "--config", other], (ck, other), f"--config {other}",
             "model.backbone 'resnet34' (checkpoint: 'resnet18')")


def test_eval_on_another_dataset_leaves_the_checkpoints_run_folder_alone(tmp_path, root, ckpt, capsys):
    ck, _ = ckpt
    other_root = make_dukev_root(tmp_path / "elsewhere", SPLITS)
    before = snapshot(tmp_path / "trained")
    assert main(["eval", "--checkpoint", ck, f"data.root={other_root}"]) == 0
    assert "not caching the features" in capsys.readouterr().err
    assert snapshot(tmp_path / "trained") == before and not (tmp_path / "trained" / "features").exists()
    assert main(["eval", "--checkpoint", ck]) == 0                      # its own dataset: cached as before
    assert (tmp_path / "trained" / "features").is_dir()


def test_checkpoint_write_on_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """Fault injection: the second checkpoint's write fails with ENOSPC (as safetensors reports it)."""
    import safetensors.torch as st
    from vidreid.store.checkpoint import Checkpointer, read_checkpoint
    from vidreid.errors import OutputError
    from vidreid.models import build_model
    model = build_model("tp", 3, backbone="resnet18")
    ck = Checkpointer(str(tmp_path / "run"), keep_last=2, meta={"model": "tp"})
    first = ck.save(model, {"step": 1, "epoch": 0, "x": torch_tensor()})
    before = snapshot(tmp_path / "run")
    real = st.save_file

    def full(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"\0" * 100)                                        # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(st, "save_file", full)
    with pytest.raises(OutputError) as e:
        ck.save(model, {"step": 2, "epoch": 0, "x": torch_tensor()})
    msg = str(e.value)
    assert "step_0000002.safetensors" in msg and "no space left" in msg
    assert f"the previous checkpoint {first} is intact and loadable" in msg and "--resume" in msg
    monkeypatch.setattr(st, "save_file", real)
    assert snapshot(tmp_path / "run") == before                         # nothing partial, nothing temporary left
    state, meta = read_checkpoint(first)
    assert meta["step"] == 1 and set(state) == set(model.state_dict())


def test_state_write_failing_like_torch_save_on_a_full_disk(tmp_path, monkeypatch):
    """torch.save reports a full disk as RuntimeError('... unexpected pos N vs M'), not OSError (seen on a full
    tmpfs): still one OutputError, this step's files removed, the previous step intact."""
    import torch

    import vidreid.store.checkpoint as C
    from vidreid.store.checkpoint import Checkpointer, read_checkpoint
    from vidreid.errors import OutputError
    from vidreid.models import build_model
    model = build_model("tp", 3, backbone="resnet18")
    ck = Checkpointer(str(tmp_path / "run"), keep_last=2, meta={"model": "tp"})
    first = ck.save(model, {"step": 1, "epoch": 0, "x": torch_tensor()})

    def full(obj, f):
        open(f, "wb").write(b"PK" + b"\0" * 50)
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 31756352 vs 31756244")
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OutputError, match=r"cannot write .*step_0000002\.state\.pt: .*unexpected pos.*"
                                          r"previous checkpoint .*step_0000001\.safetensors is intact"):
        ck.save(model, {"step": 2, "epoch": 0, "x": torch_tensor()})
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == [
        "last.safetensors", "step_0000001.safetensors", "step_0000001.state.pt"]
    assert read_checkpoint(first)[1]["step"] == 1 and C.load_training_state(
        str(tmp_path / "run" / "checkpoints" / "step_0000001.state.pt"))["step"] == 1


def torch_tensor():
    import torch
    return torch.zeros(2)


def test_full_disk_during_training_is_one_line_naming_the_last_checkpoint(tmp_path, root, capsys, monkeypatch):
    import vidreid.store.checkpoint as C
    from vidreid.errors import OutputError
    real = C.save_checkpoint

    def fills_up(path, model, meta):
        if "step_0000001" not in path and "last" not in path:         # step 1 (weights + last) fits, step 2 not
            raise OutputError(f"cannot write {path}: no space left on the device")
        return real(path, model, meta)
    monkeypatch.setattr(C, "save_checkpoint", fills_up)
    cfg = _config(tmp_path, root, train__iters_per_epoch=3)
    line = _one_line_error(capsys, ["train", "--no-progress", "--config", cfg, "train.checkpoint_every=1"],
                           "no space left", "step_0000001.safetensors is intact and loadable")
    assert "step_0000002" in line
    ckdir = tmp_path / "run" / "checkpoints"
    assert sorted(os.listdir(ckdir)) == ["last.safetensors", "step_0000001.safetensors", "step_0000001.state.pt"]


def test_ctrl_c_names_the_last_checkpoint_and_the_resume_command(tmp_path, root, capsys, monkeypatch):
    import vidreid.engine.train as T
    real, calls = T.compute_loss, {"n": 0}

    def interrupted(*a):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a)
    monkeypatch.setattr(T, "compute_loss", interrupted)
    cfg = _config(tmp_path, root, train__iters_per_epoch=4)
    code = main(["train", "--no-progress", "--config", cfg, "train.checkpoint_every=1"])
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    assert "interrupted; last checkpoint: " in err and "step_0000002.safetensors" in err
    assert f"continue with: vidreid train --no-progress --config {cfg} train.checkpoint_every=1 --resume" in err


def test_orphan_step_files_are_pruned_and_never_resumed_from(tmp_path):
    from vidreid.config import Config
    from vidreid.store.checkpoint import Checkpointer
    from vidreid.engine.resume import find_resume_state
    d = tmp_path / "run" / "checkpoints"
    d.mkdir(parents=True)
    for name in ("step_0000002.state.pt", "step_0000004.safetensors", "step_0000004.state.pt",
                 "step_0000006.safetensors", "step_0000006.state.pt", "step_0000008.state.pt"):
        (d / name).write_bytes(b"x")                  # step 2: state without weights (a kill while pruning)
    cfg = Config()                                    # step 8: state without weights too (its weights lost)
    cfg.train.output_dir, cfg.train.resume = str(tmp_path / "run"), "auto"
    assert find_resume_state(cfg).endswith("step_0000006.state.pt")
    removed = Checkpointer(str(tmp_path / "run"), keep_last=1, meta={}).prune()
    assert sorted(map(os.path.basename, removed)) == ["step_0000002.state.pt", "step_0000004.safetensors",
                                                      "step_0000004.state.pt", "step_0000008.state.pt"]
    assert sorted(os.listdir(d)) == ["step_0000006.safetensors", "step_0000006.state.pt"]


def test_damaged_index_is_one_line(tmp_path, capsys):
    pytest.importorskip("faiss")
    import json as _json

    from vidreid.search.index import GalleryIndex, SearchIndexError
    gi = GalleryIndex.create(4, {"hash": "h" * 64, "name": "tp"}, {"sampling": "rrs"})
    gi.add(np.eye(4, dtype=np.float32)[:2], ["a", "b"], ["c1", "c2"], [1, 2], ["/g/a", "/g/b"],
           [["/g/a/1.jpg"], ["/g/b/1.jpg"]], "h" * 64)
    path = str(tmp_path / "index")
    gi.save(path)
    head = os.path.join(path, "index.json")
    header = _json.load(open(head))
    table = os.path.join(path, header["tracklets_files"]["names_offsets"])
    good = open(table, "rb").read()
    cases = [(lambda: open(table, "wb").write(good[: len(good) // 2]), "unreadable tracklet table"),
             (lambda: open(head, "w").write("[1, 2]"), "not an index header (a JSON list"),
             (lambda: open(head, "w").write(_json.dumps({k: v for k, v in header.items() if k != "vectors_file"})),
              "damaged index header (missing vectors_file)")]
    for damage, fragment in cases:
        open(table, "wb").write(good)
        open(head, "w").write(_json.dumps(header))
        damage()
        before = snapshot(path)
        _one_line_error(capsys, ["index", "info", "--index", path], fragment)
        with pytest.raises(SearchIndexError, match=re.escape(fragment)):
            GalleryIndex.load(path)
        assert snapshot(path) == before


def test_index_add_skips_tracklets_already_in_the_index_and_build_never_replaces(tmp_path, root, ckpt, capsys):
    pytest.importorskip("faiss")
    ck, _ = ckpt
    index = str(tmp_path / "index")
    assert main(["index", "build", "--checkpoint", ck, "--out", index, "--dataset", "dukev", "--root", str(root),
                 "--no-progress"]) == 0
    capsys.readouterr()
    built = snapshot(index)
    _refused(capsys, ["index", "build", "--checkpoint", ck, "--out", index, "--dataset", "dukev", "--root",
                      str(root), "--no-progress"], (index, ck), f"--out {index} already holds an index", "--overwrite")
    assert main(["index", "add", "--index", index, "--dataset", "dukev", "--root", str(root), "--no-progress"]) == 0
    out = capsys.readouterr()
    assert "skipping 3 of 3 tracklets already in" in out.err and ": 3 -> 3" in out.out
    assert {k: v for k, v in snapshot(index).items() if "index.json" not in k} == \
        {k: v for k, v in built.items() if "index.json" not in k}


def test_nested_dataset_roots_are_named(tmp_path, capsys):
    outer = tmp_path / "dukemtmc-vidreid"                               # torchreid's layout: the archive one down
    make_dukev_root(outer, SPLITS)                                       # -> outer/dukev/{train,query,gallery}
    with pytest.raises(DatasetError, match=re.escape(f"use {outer / 'dukev'} as the root")):
        load_dataset("dukev", str(outer), protocol="gao")
    mars = tmp_path / "marsdl"
    (mars / "mars" / "info").mkdir(parents=True)
    with pytest.raises(DatasetError, match=re.escape(f"use {mars / 'mars'} as the root")):
        load_dataset("mars", str(mars))


def test_auto_generation_never_replaces_a_dataset_made_with_other_options(tmp_path, capsys):
    from conftest import TINY_SYNTH
    from vidreid.data.synthped import ensure_synthped
    data = tmp_path / "sp"
    ensure_synthped(str(data), progress=False, **dict(TINY_SYNTH, ids=8))
    cfg = _config(tmp_path, data, data__dataset="synthped", data__protocol="mars")
    _refused(capsys, ["train", "--no-progress", "--config", cfg], (data,), f"data.root {data}",
             "made with other options", "ids: 8 -> 300", "not replacing it")


def test_data_check_of_an_evaluation_only_manifest_prints_no_row_of_zeros(tmp_path, capsys):
    from helpers_datasets import write_jpeg
    lines = []
    for i, (pid, cam, split) in enumerate([(1, 0, "query"), (1, 1, "gallery"), (2, 1, "gallery")]):
        folder = tmp_path / f"t{i}"
        folder.mkdir()
        for f in range(3):
            write_jpeg(folder / f"{f:03d}.jpg", pid, cam, f)
        lines.append(f'{{"dir": "t{i}", "pid": {pid}, "camid": {cam}, "split": "{split}"}}')
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    before = snapshot(tmp_path)
    assert main(["data", "check", str(tmp_path), "--dataset", "manifest", "--no-progress", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    train_rows = [line for line in out.splitlines() if line.startswith("train")]
    assert train_rows == ["train      (no tracklets in this split)"], out
    assert any(line.startswith("gallery") and " 2 " in line for line in out.splitlines()), out
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------- up-front checks
# issue 27: everything a run needs is checked before its first step; `no_step` fails the test if a step runs
@pytest.fixture
def no_step(monkeypatch):
    import vidreid.engine.train as T

    def step(*a, **k):
        raise AssertionError("a training step ran before the input was refused")
    monkeypatch.setattr(T.Trainer, "train_step", step)


def _manifest(tmp_path, root, rows: list[tuple[str, int, int, str]] | None = None, extra: str = "") -> str:
    """A manifest over the DukeV fixture's tracklet folders: rows (dir relative to root, pid, camid, split);
    default: every tracklet of SPLITS."""
    import json
    if rows is None:
        rows = []
        for split, items in SPLITS.items():
            seen: dict = {}
            for pid, cam, _ in items:
                seen[pid] = seen.get(pid, 0) + 1
                rows.append((f"{split}/{pid:04d}/{seen[pid]:04d}", pid, cam - 1, split))
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps({"dir": str(root / d), "pid": p, "camid": c, "split": s}) + "\n"
                            for d, p, c, s in rows) + extra)
    return str(path)


def _run_files(tmp_path) -> list[str]:
    run = tmp_path / "run"
    return sorted(n for n in os.listdir(run) if n not in ("config.yaml", "train.log")) if run.exists() else []


@pytest.mark.parametrize("override, fragment", [
    ("data.mean=[1,2]", "data.mean must be a list of 3"), ("data.std=[0.2,0,0.2]", "data.std must be"),
    ("optim.lr=1e30", "optim.lr must be a positive number <= 10"), ("optim.lr=-1", "optim.lr must be"),
    ("data.test_sampling=bogus", "data.test_sampling must be one of"),
    ("data.train_sampling=dense", "data.train_sampling must be one of"),
    ("eval.sampling=x", "eval.sampling must be one of"), ("eval.protocol=duke", "eval.protocol must be one of"),
])
def test_config_shapes_ranges_and_choices_refused_at_load(tmp_path, root, capsys, no_step, override, fragment):
    _one_line_error(capsys, ["train", "--no-progress", "--config", _config(tmp_path, root), override], fragment)
    assert not (tmp_path / "run").exists()


def test_config_sampling_choices_are_the_samplers():
    from vidreid.config import _CHOICES
    from vidreid.data.sampling import TEST_MODES, TRAIN_MODES
    assert _CHOICES["data.train_sampling"] == TRAIN_MODES and _CHOICES["data.test_sampling"] == TEST_MODES


def test_manifest_id_beyond_int64_is_one_line_in_check_and_train(tmp_path, root, capsys, no_step):
    m = _manifest(tmp_path, root, [("train/0001/0001", 10 ** 30, 0, "train")])
    code = main(["data", "check", "--dataset", "manifest", m, "--no-progress"])
    out = capsys.readouterr()
    assert code == 1 and "pid=1000000000000000000000000000000 out of range" in out.out and "Traceback" not in out.err
    _one_line_error(capsys, ["train", "--no-progress", "--config", _config(tmp_path, root), "data.dataset=manifest",
                             f"data.root={m}", "data.protocol=gao"], f"{m}:1", "out of range")
    assert _run_files(tmp_path) == []


def test_manifest_duplicate_rows_are_refused_naming_both_lines(tmp_path, root, capsys, no_step):
    m = _manifest(tmp_path, root)
    with open(m) as f:
        lines = f.readlines()
    with open(m, "a") as f:
        f.write(lines[5])                                           # the first query row, again
    _one_line_error(capsys, ["train", "--no-progress", "--config", _config(tmp_path, root), "data.dataset=manifest",
                             f"data.root={m}"], f"{m}:{len(lines) + 1}", "duplicate of line 6 (the same dir in split query)")


@pytest.mark.parametrize("drop", ["query", "gallery"])
def test_training_without_query_or_gallery_is_refused_before_the_first_step(tmp_path, root, capsys, no_step, drop):
    m = _manifest(tmp_path, root)
    import json
    kept = [line for line in open(m) if json.loads(line)["split"] != drop]
    open(m, "w").writelines(kept)
    _one_line_error(capsys, ["train", "--no-progress", "--config", _config(tmp_path, root), "data.dataset=manifest",
                             f"data.root={m}"], f"no {drop} tracklets", f"split {drop}")
    assert _run_files(tmp_path) == []


def test_strict_with_a_corrupt_frame_is_refused_before_the_first_step(tmp_path, root, capsys, no_step):
    bad = sorted((root / "gallery" / "0006" / "0001").iterdir())[1]
    truncate(bad)
    _one_line_error(capsys, ["train", "--no-progress", "--config", _config(tmp_path, root), "data.strict=true"],
                    str(bad), "data.strict=false")
    assert _run_files(tmp_path) == []


def test_too_small_disk_is_refused_before_the_first_step(tmp_path, root, capsys, no_step, monkeypatch):
    import collections
    import vidreid.validate as V
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(V.shutil, "disk_usage", lambda p: usage(1 << 30, (1 << 30) - (10 << 20), 10 << 20))
    _one_line_error(capsys, ["train", "--no-progress", "--config", _config(tmp_path, root)],
                    str(tmp_path / "run"), "not enough free space", "10 MiB free")
    assert _run_files(tmp_path) == []


def test_checkpoint_size_estimate_counts_adam_state_and_kept_checkpoints():
    import torch
    from vidreid.validate import checkpoint_bytes
    model = torch.nn.Linear(10, 10)                                 # 110 float32 parameters: 440 bytes
    # keep_last=2: 3 step checkpoints (2 kept + 1 being written) of weights + 2 Adam moments, last + best
    assert checkpoint_bytes(model, "adam", 2) == 3 * (440 + 880) + 2 * 440
    assert checkpoint_bytes(model, "sgd", 1) == 2 * (440 + 440) + 2 * 440


def test_fuse_weight_without_fuse_is_refused(tmp_path, ckpt, capsys):
    _one_line_error(capsys, ["eval", "--checkpoint", ckpt[0], "--fuse-weight", "0.5", "--no-progress"],
                    "--fuse-weight only applies with --fuse")
    _one_line_error(capsys, ["index", "build", "--checkpoint", ckpt[0], "--gallery", str(tmp_path), "--out",
                             str(tmp_path / "idx"), "--fuse-weight", "0.5"], "--fuse-weight only applies with --fuse")
    assert not (tmp_path / "idx").exists()


# ---------------------------------------------------------------------------------------------- non-finite
def test_one_step_that_leaves_the_weights_non_finite_exits_non_zero_naming_the_step(tmp_path, root, capsys,
                                                                                   monkeypatch):
    import vidreid.config as C
    monkeypatch.setattr(C, "MAX_LR", float("inf"))                # past the up-front bound: the step check's turn
    cfg = _config(tmp_path, root, train__iters_per_epoch=2)
    line = _one_line_error(capsys, ["train", "--no-progress", "--config", cfg, "optim.lr=1e30",
                                    "train.checkpoint_every=1"], "weights diverged", "at step 1")
    assert "last good checkpoint: none yet" in line
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert not (tmp_path / "run" / "checkpoints").exists() or not os.listdir(tmp_path / "run" / "checkpoints")


def test_eval_and_export_refuse_a_checkpoint_with_non_finite_weights(tmp_path, ckpt, capsys):
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open
    path, cfg_path = ckpt
    state = load_file(path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
    name = sorted(k for k, v in state.items() if v.is_floating_point())[3]
    state[name] = state[name].clone().fill_(float("nan"))
    bad = str(tmp_path / "nan.safetensors")
    save_file(state, bad, metadata=metadata)
    _refused(capsys, ["eval", "--checkpoint", bad, "--config", cfg_path, "--no-progress", "--no-cache",
                      "--no-plots"], [bad], f"{bad}: 1 weight tensor(s) hold NaN", name, "earlier checkpoint")
    _refused(capsys, ["export", "--checkpoint", bad, "--out", str(tmp_path / "m.onnx")], [bad],
             f"{bad}: 1 weight tensor(s) hold NaN")
    assert not (tmp_path / "m.onnx").exists()


# ---------------------------------------------------------------------------------------------- untrusted checkpoints
@pytest.mark.parametrize("command", [["eval", "--no-plots", "--no-cache"], ["extract", "--split", "query"]])
def test_paths_in_a_crafted_checkpoint_never_direct_a_write(tmp_path, root, capsys, command):
    """A downloaded checkpoint naming SynthPed at an arbitrary path: nothing is generated there (missing, or an
    existing folder without SynthPed's marker); the message says how to name a dataset."""
    from vidreid.builders import build_for_dataset
    from vidreid.config import load_config
    from vidreid.store.checkpoint import save_checkpoint
    cfg = load_config(_config(tmp_path, root))
    for target in (tmp_path / "elsewhere" / "synthped", tmp_path / "home"):
        cfg.data.dataset, cfg.data.root = "synthped", str(target)
        crafted = tmp_path / "downloaded.safetensors"
        save_checkpoint(str(crafted), build_for_dataset(cfg, 2, pretrained=False),
                        {"model": "tp", "num_classes": 2, "config": cfg.to_dict(), "dataset": "synthped"})
        if target.name == "home":
            target.mkdir()
            (target / "notes.txt").write_text("mine")
        before = snapshot(tmp_path)
        extra = ["--out", str(tmp_path / "f.npz")] if command[0] == "extract" else []
        # naming only the dataset keeps the checkpoint's root: still only read, never generated into
        for named in ([], ["data.dataset=synthped"]):
            _one_line_error(capsys, [*command, "--checkpoint", str(crafted), "--no-progress", *extra, *named],
                            f"{crafted} was trained on synthped at {target}", "never created",
                            "--config FILE, or data.dataset=NAME data.root=PATH")
            assert snapshot(tmp_path) == before                      # nothing written, nothing changed
            assert not (tmp_path / "elsewhere").exists()


# ---------------------------------------------------------------------------------------------- SIGTERM
def test_sigterm_saves_a_resumable_checkpoint_removes_the_lock_and_resume_continues(tmp_path, root, capsys):
    import time

    import helpers_processes
    cfg = _config(tmp_path, root, train__iters_per_epoch=12)
    log, stderr = tmp_path / "run" / "train.log", str(tmp_path / "stderr.txt")
    proc = helpers_processes.vidreid_process(["train", "--no-progress", "--config", cfg, "train.log_every=1",
                                              "train.tensorboard=false"], os.devnull, stderr)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (log.exists() and "step 2/12" in log.read_text()):
            time.sleep(0.05)
        assert proc.is_alive(), open(stderr).read()
        proc.terminate()                                                      # SIGTERM
        proc.join(120)
        err = open(stderr).read()
    finally:
        proc.kill() if proc.is_alive() else None
    assert proc.exitcode == 143, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "stopped by SIGTERM after step" in lines[0] and "continue with: vidreid train" in lines[0]
    assert "--resume" in lines[0]
    assert not (tmp_path / "run" / ".vidreid.lock").exists()
    step = int(lines[0].split("after step ")[1].split(";")[0])
    ckdir = tmp_path / "run" / "checkpoints"
    assert f"step_{step:07d}.state.pt" in os.listdir(ckdir) and 2 <= step < 12
    assert main(["train", "--no-progress", "--config", cfg, "train.tensorboard=false", "--resume"]) == 0
    assert f"resumed from {ckdir / f'step_{step:07d}.state.pt'}: epoch 1, step {step}" in log.read_text()
    assert (tmp_path / "run" / "metrics.json").exists()


# ---------------------------------------------------------------------------------------------- traps
def test_tracklets_refuse_a_tiny_video_before_any_detector_sees_it(tmp_path, capsys):
    import cv2
    video = tmp_path / "tiny.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (2, 2))
    for i in range(3):
        w.write(np.full((2, 2, 3), 40 * i, np.uint8))
    w.release()
    _one_line_error(capsys, ["tracklets", str(video), "--out", str(tmp_path / "tk"), "--no-progress"],
                    f"{video}: frames are 2x2 pixels, too small")
    assert not (tmp_path / "tk").exists()


def test_no_module_draws_a_raw_tqdm_bar():
    """Every progress display goes through vidreid/progress.py, which prints plain periodic lines (no carriage
    returns) when stderr is not a terminal."""
    import pathlib
    import vidreid
    pkg = pathlib.Path(vidreid.__file__).parent
    raw = [str(p.relative_to(pkg)) for p in pkg.rglob("*.py")
           if "from tqdm import tqdm" in p.read_text() and p.name != "progress.py"
           and p.relative_to(pkg).as_posix() != "engine/run_log.py"]        # run_log: tqdm.write, not a bar
    assert raw == []


def test_checkpoint_messages_say_what_the_path_is(tmp_path, ckpt, capsys):
    folder = tmp_path / "trained"
    _one_line_error(capsys, ["eval", "--checkpoint", str(folder), "--no-progress"],
                    f"{folder} is a folder, not a checkpoint file", "best.safetensors")
    loop = tmp_path / "loop.safetensors"
    os.symlink(loop, loop)
    _one_line_error(capsys, ["eval", "--checkpoint", str(loop), "--no-progress"], "link loop")
    state = tmp_path / "step_0000001.state.pt"
    state.write_bytes(b"PK")
    _one_line_error(capsys, ["eval", "--checkpoint", str(state), "--no-progress"],
                    "training-state file", str(tmp_path / "step_0000001.safetensors"))


def test_data_check_of_a_file_says_it_is_a_file(tmp_path, capsys):
    f = tmp_path / "clip.avi"
    f.write_bytes(b"RIFF")
    assert main(["data", "check", "--dataset", "mars", str(f), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{f}: is a file, not a folder (a manifest of your own tracklets is --dataset manifest)" in err


def test_os_errors_name_the_output_folder_not_our_temp_file(tmp_path):
    from vidreid.utils.io import TEMP_PREFIX, os_error_message
    e = PermissionError(13, "Permission denied", str(tmp_path / "out" / f"{TEMP_PREFIX}ab12cd34x.npz"))
    assert os_error_message(e).startswith(f"folder {tmp_path / 'out'} (while writing {TEMP_PREFIX}ab12cd34x.npz)")
    assert os_error_message(FileNotFoundError(2, "x", "/a/b.txt")).startswith("/a/b.txt: ")


def test_readme_python_snippet_runs_with_load_clips(tmp_path, root):
    """README's Python snippet as written, on the DukeV fixture (its dataset line and weights swapped for tiny ones)."""
    import re
    import torch
    from vidreid.data import load_clips
    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")).read()
    snippet = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert "load_clips(" in snippet
    snippet = snippet.replace('load_dataset("mars", "/data/MARS", protocol="mars")',
                              f'load_dataset("dukev", {str(root)!r}, protocol="gao")')
    snippet = snippet.replace('backbone="mobilenetv2", pretrained="imagenet"', 'backbone="resnet18", pretrained=None')
    snippet = snippet.replace("size=(256, 128)", "size=(64, 32)")
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    assert scope["clips"].shape == (2, 8, 3, 64, 32) and scope["out"].embedding.shape[0] == 2
    # the same normalisation as evaluation: a solid-colour frame gives (value / 255 - mean) / std per channel
    first = scope["ds"].query[0].frames[0]
    from PIL import Image
    rgb = np.asarray(Image.open(first).convert("RGB"), dtype=np.float32)[0, 0] / 255
    expect = (rgb - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    assert np.allclose(scope["clips"][0, 0, :, 0, 0].numpy(), expect, atol=0.05)
    with pytest.raises(Exception, match="sampling must be one of"):
        load_clips(scope["ds"].query, sampling="dense")
    assert torch.is_tensor(load_clips(scope["ds"].query[0], seq_len=2, size=(8, 4)))


def test_imagenet_download_is_announced_with_how_to_avoid_it(tmp_path, monkeypatch, capsys):
    import torch
    from vidreid.errors import CheckpointError
    from vidreid.models.backbones.weights import imagenet_state_dict
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url, **kw):
        raise OSError("network unreachable")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(CheckpointError, match="no ImageNet weights for resnet18"):
        imagenet_state_dict("resnet18")
    err = capsys.readouterr().err
    assert "downloading the ImageNet weights of resnet18" in err and "model.pretrained=null" in err
    assert not (tmp_path / "hub").exists()


def test_under_torchrun_only_rank_0_prints_a_user_error(tmp_path, capsys, monkeypatch):
    argv = ["eval", "--checkpoint", str(tmp_path / "missing.safetensors"), "--no-progress"]
    monkeypatch.setenv("RANK", "1")
    assert main(argv) == 2
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    assert main(argv) == 2
    assert len([line for line in capsys.readouterr().err.splitlines() if "error:" in line]) == 1


def test_an_empty_config_file_is_refused_not_run_with_every_default(tmp_path, capsys, no_step):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    _one_line_error(capsys, ["train", "--config", str(empty), f"train.output_dir={tmp_path / 'run'}"],
                    f"{empty}: the config file is empty")
    assert sorted(os.listdir(tmp_path)) == ["empty.yaml"]                # no SynthPed generated, no run folder


def test_a_failed_adapt_runs_cut_says_resume_reuses_it(tmp_path):
    from vidreid.engine.adapt import adapt_cut_refusal
    out = tmp_path / "adapted"
    (out / "cut").mkdir(parents=True)
    msg = adapt_cut_refusal(str(out / "cut"), str(out))
    assert "stopped before its first checkpoint" in msg and "--resume to train on that cut" in msg
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "last.safetensors").write_bytes(b"x")
    assert "--resume to continue that run" in adapt_cut_refusal(str(out / "cut"), str(out))


def test_real_footage_smoke_skips_with_a_reason_when_the_video_is_not_fetched(tmp_path, monkeypatch, capsys):
    import importlib.util
    import vidreid.data.datasets.vtest as V
    from vidreid.errors import DatasetError
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "real_footage.py")
    spec = importlib.util.spec_from_file_location("real_footage_under_test", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)             # its dataclasses look their module up
    spec.loader.exec_module(module)

    def not_fetched(video=None, name="vtest.avi"):
        raise DatasetError("vtest.avi not found; fetch it with opencv-doc (`make opencv-data`)")
    monkeypatch.setattr(V, "find_video", not_fetched)
    monkeypatch.setattr(sys, "argv", ["real_footage.py", "--smoke", "--root", str(tmp_path / "rf" / "vtest")])
    assert module.main() == 0
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "real_footage --smoke: skipped" in printed and "vtest.avi not found" in printed
    assert not (tmp_path / "rf").exists()


def test_a_write_error_without_a_file_name_names_the_output_folder(tmp_path):
    import errno
    from vidreid.errors import OutputError
    from vidreid.utils.io import atomic_folder
    out = tmp_path / "synth"
    with pytest.raises(OutputError, match=f"cannot write {out}: no space left"):
        with atomic_folder(str(out), False, "synthped.json", "synth") as tmp:
            open(os.path.join(tmp, "a.jpg"), "wb").close()
            raise OSError(errno.ENOSPC, "No space left on device")     # as a library's buffered write raises it
    assert os.listdir(tmp_path) == []                                    # the partial output is gone


# ---------------------------------------------------------------------------------------------- Python API
def test_python_api_wrong_clip_shape_and_class_count_are_one_line_errors():
    import torch
    from vidreid.errors import ConfigError
    from vidreid.models import build_model
    with pytest.raises(ConfigError, match=r"num_classes must be an integer >= 1.*got 0"):
        build_model("tp", num_classes=0, backbone="resnet18")
    model = build_model("tp", num_classes=np.int64(3), backbone="resnet18").eval()
    with pytest.raises(ConfigError, match=r"takes clips \(B, T, 3, H, W\).*\(2, 3, 32, 16\).*x\[None\]"):
        model(torch.zeros(2, 3, 32, 16))
    with pytest.raises(ConfigError, match=r"got a tensor of shape \(1, 0, 3, 32, 16\)"):
        model(torch.zeros(1, 0, 3, 32, 16))
    assert model(torch.zeros(1, 2, 3, 32, 16)).embedding.shape[0] == 1


def test_eval_refuses_strict_corrupt_frame_and_missing_gallery_before_extracting(tmp_path, root, ckpt, capsys,
                                                                               monkeypatch):
    import vidreid.inference.evaluate as E

    def no_extraction(*a, **k):
        raise AssertionError("extraction started before the input was refused")
    monkeypatch.setattr(E, "evaluate_model", no_extraction)
    import vidreid.workflows.evaluation as CE
    monkeypatch.setattr(CE, "evaluate_model", no_extraction, raising=False)
    path, cfg_path = ckpt
    bad = sorted((root / "gallery" / "0006" / "0001").iterdir())[0]
    truncate(bad)
    _one_line_error(capsys, ["eval", "--checkpoint", path, "--config", cfg_path, "data.strict=true", "--no-cache",
                             "--no-plots", "--no-progress"], str(bad), "every test frame must be readable")
    m = _manifest(tmp_path, root, [("query/0005/0001", 5, 0, "query")])
    _one_line_error(capsys, ["eval", "--checkpoint", path, "--config", cfg_path, "data.dataset=manifest",
                             f"data.root={m}", "--no-cache", "--no-plots", "--no-progress"], "no gallery tracklets")


def test_weights_check_flags_nan_inf_and_diverged_magnitudes_only():
    import torch
    from vidreid.validate import finite_squares, non_finite_tensors
    tensors = [torch.ones(3), torch.full((4,), 1e30), torch.tensor([float("nan")]), torch.tensor([float("-inf")]),
               torch.full((4,), 1e18), torch.full((2,), 60000.0, dtype=torch.float16)]   # fp16 norm: in float32
    assert finite_squares(tensors).tolist() == [True, False, False, False, True, True]
    state = {"a": tensors[0], "b": tensors[2], "steps": torch.tensor([3]), "empty": torch.zeros(0)}
    assert non_finite_tensors(state) == ["b"]


def test_data_check_says_what_an_empty_split_rules_out(tmp_path, root, capsys):
    m = _manifest(tmp_path, root, [("train/0001/0001", 1, 0, "train"), ("train/0002/0001", 2, 0, "train")])
    assert main(["data", "check", "--dataset", "manifest", m, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "note: no query and no gallery tracklets: this dataset cannot be evaluated on" in out


def test_too_small_disk_is_refused_before_synthped_is_generated(tmp_path, capsys, monkeypatch):
    """The checkpoints' space is estimated (the model on the meta device) before the data: a SynthPed that would be
    generated first (minutes, hundreds of MB) is not started."""
    import collections

    import vidreid.validate as V
    from conftest import tiny_train_overrides
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(V.shutil, "disk_usage", lambda p: usage(1 << 30, (1 << 30) - (10 << 20), 10 << 20))
    synth = tmp_path / "synthped"                                   # does not exist: train would generate it
    config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "tp_synthped.yaml")
    _one_line_error(capsys, ["train", "--no-progress", "--config", config,
                             *tiny_train_overrides(str(synth), str(tmp_path / "run"))],
                    str(tmp_path / "run"), "not enough free space", "10 MiB free")
    assert not synth.exists() and _run_files(tmp_path) == []
