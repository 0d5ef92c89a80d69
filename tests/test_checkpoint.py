import os
import pickle
import tempfile

import pytest
import torch
from torch import nn

from vidreid.config import Config
from vidreid.store.checkpoint import (load_training_state, load_weights, read_checkpoint, save_checkpoint,
                                       save_training_state)
from vidreid.inference.model import build_model_from_checkpoint
from vidreid.utils.io import TEMP_PREFIX, atomic_path, atomic_write_text
from vidreid.errors import CheckpointError
from vidreid.models import build_model


def _meta(num_classes=5):
    cfg = Config()
    cfg.model.backbone = "resnet18"
    return {"model": "tp", "num_classes": num_classes, "config": cfg.to_dict(), "epoch": 3}


def test_roundtrip_and_metadata(tmp_path):
    m = build_model("tp", 5, backbone="resnet18")
    path = str(tmp_path / "ck" / "last.safetensors")
    save_checkpoint(path, m, _meta())
    state, meta = read_checkpoint(path)
    assert meta["epoch"] == 3 and meta["vidreid_version"]
    m2, _ = build_model_from_checkpoint(path)
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    assert not m2.training
    assert os.listdir(tmp_path / "ck") == ["last.safetensors"]  # no temp files left
    umask = os.umask(0o022)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask        # what any new file gets (not safetensors' 0600)


def test_other_class_count_reinitialises_classifier(tmp_path):
    m = build_model("tp", 5, backbone="resnet18")
    path = str(tmp_path / "c.safetensors")
    save_checkpoint(path, m, _meta())
    m2, _ = build_model_from_checkpoint(path, num_classes=9)
    assert m2.head.classifier.weight.shape[0] == 9
    assert torch.equal(m2.backbone.conv1.weight, m.backbone.conv1.weight)


@pytest.mark.parametrize("name,backbone", [(n, "resnet18") for n in ("tp", "ta", "rnn", "sta", "drsta", "nvan",
                                                                       "ste_nvan", "rru_stim")]
                         + [("tp", "mobilenetv2")])          # MobileNetV2: buffers the file does not hold
def test_loading_skips_random_initialisation_and_gives_the_saved_network(tmp_path, name, backbone):
    """A checkpoint with its own class count is built without random fills (the strict load replaces every
    weight) and gives the saved network's outputs exactly; with another class count the new classifier is
    initialised as usual."""
    from torch.overrides import TorchFunctionMode

    class Spy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func in (torch.Tensor.normal_, torch.Tensor.uniform_):
                fills.append(func)
            return func(*args, **(kwargs or {}))
    torch.manual_seed(0)
    m = build_model(name, 5, backbone=backbone, input_size=(64, 32)).eval()
    cfg = Config()
    cfg.model.name, cfg.model.backbone = name, backbone
    cfg.data.height, cfg.data.width = 64, 32
    path = str(tmp_path / "c.safetensors")
    save_checkpoint(path, m, {"model": name, "num_classes": 5, "config": cfg.to_dict()})
    fills = []
    with Spy():
        loaded, _ = build_model_from_checkpoint(path)
    assert fills == []
    x = torch.rand(2, 4, 3, 64, 32)                                     # (B, T, 3, H, W)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).embedding, m(x).embedding, rtol=0, atol=0)
    with Spy():
        build_model_from_checkpoint(path, num_classes=7)
    assert fills                                                        # the new classifier's


@pytest.mark.parametrize("links", [True, False])
def test_last_checkpoint_is_a_hard_link_or_else_a_copy(tmp_path, monkeypatch, links):
    """last.safetensors mirrors the newest step: a hard link to its weights file (no second write), which outlives
    the step's pruning; a copy where the filesystem refuses hard links."""
    from vidreid.store.checkpoint import Checkpointer
    if not links:
        def refuse(src, dst):
            raise PermissionError(1, "Operation not permitted", dst)
        monkeypatch.setattr(os, "link", refuse)
    m = build_model("tp", 5, backbone="resnet18")
    writer = Checkpointer(str(tmp_path / "run"), keep_last=1, meta=_meta())
    for step in (1, 2):
        writer.save(m, {"step": step, "epoch": step, "optimizer": {}})
    folder = tmp_path / "run" / "checkpoints"
    assert sorted(os.listdir(folder)) == ["last.safetensors", "step_0000002.safetensors", "step_0000002.state.pt"]
    last, step2 = os.stat(folder / "last.safetensors"), os.stat(folder / "step_0000002.safetensors")
    assert (last.st_ino == step2.st_ino) == links and last.st_nlink == (2 if links else 1)
    state, meta = read_checkpoint(str(folder / "last.safetensors"))
    assert meta["step"] == 2 and all(torch.equal(v, state[k]) for k, v in m.state_dict().items())


def test_mismatching_architecture_names_keys(tmp_path):
    src = build_model("tp", 5, backbone="resnet18")
    dst = build_model("tp", 5, backbone="resnet34")
    with pytest.raises(CheckpointError, match=r"missing keys: .*layer1\.2"):
        load_weights(dst, src.state_dict(), "x.safetensors")


class _Evil:
    """Unpickling this runs `touch marker` (what a malicious checkpoint would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def torch_load_calls(monkeypatch):
    """Records the keyword arguments of every torch.load call. torch >= 2.6 defaults to weights_only=True, so only
    this can tell whether vidreid asks for it explicitly (as it must: the default differs across versions)."""
    calls = []
    real = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(torch, "load", recording_load)
    return calls


@pytest.mark.parametrize("fmt", ["pickle", "torch.save zip"])
def test_malicious_checkpoint_is_refused_and_runs_no_code(tmp_path, torch_load_calls, fmt):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.state.pt"
    if fmt == "pickle":
        with open(path, "wb") as f:
            pickle.dump({"model": _Evil(marker)}, f, protocol=2)
    else:  # the zip container torch.save writes, with the payload in its data.pkl
        torch.save({"optimizer": {"state": _Evil(marker)}, "step": 3}, str(path))
        import zipfile
        assert zipfile.is_zipfile(path)
    with pytest.raises(CheckpointError, match="refused"):
        load_training_state(str(path))
    assert torch_load_calls and all(c.get("weights_only") is True for c in torch_load_calls), torch_load_calls
    with pytest.raises(CheckpointError, match="not a vidreid safetensors checkpoint"):
        read_checkpoint(str(path))
    assert not marker.exists()


def test_cli_resume_refuses_a_malicious_state_and_runs_no_code(tiny_synthped, tiny_overrides, tmp_path,
                                                                 torch_load_calls, capsys):
    """`vidreid train --resume` finds a planted step_*.state.pt in the run directory: one-line error, no code run."""
    from vidreid.cli import main
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"step": 1, "optimizer": _Evil(marker)}, str(run / "checkpoints" / "step_0000001.state.pt"))
    (run / "checkpoints" / "step_0000001.safetensors").write_bytes(b"x")  # a state counts only with its weights
    demo = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.yaml")
    rc = main(["train", "--no-progress", "--config", demo, "--resume",
               *tiny_overrides(tiny_synthped, str(run), **{"train.epochs": 1})])
    err = capsys.readouterr().err
    assert rc == 2 and "vidreid train: error: " in err and "step_0000001.state.pt: refused to load" in err, err
    assert len(err.strip().splitlines()) == 1
    assert torch_load_calls and all(c.get("weights_only") is True for c in torch_load_calls), torch_load_calls
    assert not marker.exists()


def test_training_state_roundtrip(tmp_path):
    p = str(tmp_path / "s.pt")
    opt = torch.optim.Adam(build_model("tp", 3, backbone="resnet18").parameters())
    save_training_state(p, {"optimizer": opt.state_dict(), "epoch": 2, "rng": torch.get_rng_state()})
    s = load_training_state(p)
    assert s["epoch"] == 2 and torch.equal(s["rng"], torch.get_rng_state())


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(str(p)) as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("crash mid-write")
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


def test_atomic_write_fsyncs_the_temp_file_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_ino))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.stat(src).st_ino))
        return real_replace(src, dst)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_text(str(tmp_path / "metrics.json"), "{}")
    (_, tmp_inode), = [e for e in events if e[0] == "replace"]
    i = events.index(("replace", tmp_inode))
    assert ("fsync", tmp_inode) in events[:i], events   # the temp file's data is on disk before it gets the name
    assert (tmp_path / "metrics.json").read_text() == "{}"


def test_clean_stale_temp_files_removes_only_this_writers_temp_files(tmp_path):
    from vidreid.store.checkpoint import Checkpointer
    ck = tmp_path / "checkpoints"
    ck.mkdir()
    # a temp name made exactly as atomic_path makes them, as a SIGKILL mid-write leaves it behind
    fd, real_tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix="step_0000002.safetensors", dir=str(ck))
    os.close(fd)
    real_tmp = os.path.basename(real_tmp)
    stale = [real_tmp, ".tmp-abcdefghstep_0000004.state.pt", ".tmp-0123_789last.safetensors",
             ".tmp-zzzzzzzzbest.safetensors"]
    foreign = [".tmp-notes.txt", ".tmp-abcdefghstep_0000004.state.pt.bak", ".tmp-abcstep_0000004.state.pt",
               "step_0000002.safetensors", ".tmp-ABCDEFGHlast.safetensors", "my.tmp-abcdefghlast.safetensors"]
    for name in stale + foreign:
        (ck / name).write_text("x")
    removed = Checkpointer(str(tmp_path), 2, {}).clean_stale_temp_files()
    assert sorted(os.path.basename(p) for p in removed) == sorted(stale)
    assert sorted(os.listdir(ck)) == sorted(foreign)


def test_checkpoint_reads_metadata_without_tensors_and_hashes_the_file_like_the_state(tmp_path, monkeypatch):
    """Checkpoint.open reads the header only; its hash from the file's bytes equals model_hash of the loaded
    tensors (float, half, bool and empty tensors), and loading them later gives the same hash."""
    import vidreid.store.checkpoint as C
    from vidreid.config import Config
    from vidreid.store.identity import model_hash
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model.register_buffer("flag", torch.tensor([True, False, True]))
    model.register_buffer("empty", torch.zeros(0, 2))
    model.register_buffer("fp16", torch.arange(5, dtype=torch.float16))
    cfg = Config()
    path = str(tmp_path / "c.safetensors")
    save_checkpoint(path, model, {"model": "x", "num_classes": 1, "config": cfg.to_dict()})
    loads = []
    real = C.load_tensors
    monkeypatch.setattr(C, "load_tensors", lambda p: loads.append(p) or real(p))
    ck = C.Checkpoint.open(path)
    assert ck.meta["model"] == "x" and ck.hash == model_hash(model, cfg) and loads == []
    assert C.Checkpoint(path, ck.meta).state.keys() == model.state_dict().keys() and loads == [path]
    loaded = C.Checkpoint.open(path)
    loaded.state
    assert loaded.hash == ck.hash and not ck.changed()
