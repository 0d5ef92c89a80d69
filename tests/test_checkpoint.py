import os
import pickle

import pytest
import torch

from vidreid.config import Config
from vidreid.engine.checkpoint import (atomic_path, build_model_from_checkpoint, load_training_state, load_weights,
                                       read_checkpoint, save_checkpoint, save_training_state)
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


def test_other_class_count_reinitialises_classifier(tmp_path):
    m = build_model("tp", 5, backbone="resnet18")
    path = str(tmp_path / "c.safetensors")
    save_checkpoint(path, m, _meta())
    m2, _ = build_model_from_checkpoint(path, num_classes=9)
    assert m2.head.classifier.weight.shape[0] == 9
    assert torch.equal(m2.backbone.conv1.weight, m.backbone.conv1.weight)


def test_mismatching_architecture_names_keys(tmp_path):
    src = build_model("tp", 5, backbone="resnet18")
    dst = build_model("tp", 5, backbone="resnet34")
    with pytest.raises(CheckpointError, match=r"missing keys: .*layer1\.2"):
        load_weights(dst, src.state_dict(), "x.safetensors")


def test_pickle_checkpoint_is_refused_and_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": Evil()}, f)
    with pytest.raises(CheckpointError, match="refused"):
        load_training_state(str(path))
    with pytest.raises(CheckpointError, match="not a vidreid safetensors checkpoint"):
        read_checkpoint(str(path))
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
