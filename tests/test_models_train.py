"""Every registered model trains a few steps on a tiny SynthPed through the real trainer and CLI, and evaluates.

Each model runs from its own `configs/<model>_synthped.yaml` with the tiny-fixture overrides, at the smallest frame
size its defaults allow: 32x16 (2x1 maps with ResNet-18, last stride 1) for most; 64x32 (4x2 maps) for STA (K = 4
blocks need 4 map rows) and RRU+STIM (4 horizontal parts need 4 rows).
"""
import json
import os

import numpy as np
import pytest
import torch

from vidreid.cli import main as cli_main
from vidreid.config import load_config
from vidreid.data.loader import build_test_loader
from vidreid.engine.train import train
from vidreid.models import list_models

from conftest import TINY_SYNTH, tiny_train_overrides

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["tp", "ta", "rnn", "sta", "drsta", "nvan", "ste_nvan", "rru_stim"]
NEEDS_64x32 = {"sta", "rru_stim"}
TINY_SYNTH_64 = {**TINY_SYNTH, "height": 64, "width": 32}


def config_path(model: str) -> str:
    return os.path.join(REPO, "configs", f"{model}_synthped.yaml")


@pytest.fixture(scope="session")
def tiny_synthped_64(tmp_path_factory) -> str:
    """The tiny SynthPed of conftest.py rendered at 64x32, for models whose defaults need 4 feature-map rows."""
    from vidreid.data.synthped import ensure_synthped
    root = str(tmp_path_factory.mktemp("synth64") / "synthped")
    ensure_synthped(root, progress=False, **TINY_SYNTH_64)
    return root


def overrides_for(model: str, root32: str, root64: str, out: str, **extra) -> list[str]:
    """Tiny-fixture overrides (conftest.tiny_train_overrides) at the model's smallest size, 1 epoch of 3 steps."""
    extra = {"train.epochs": 1, "train.iters_per_epoch": 3, "optim.warmup_epochs": 0, **extra}
    if model in NEEDS_64x32:
        synth = "{" + ", ".join(f"{k}: {v}" for k, v in TINY_SYNTH_64.items()) + "}"
        extra = {"data.synth": synth, "data.height": 64, "data.width": 32, **extra}
        return tiny_train_overrides(root64, out, **extra)
    return tiny_train_overrides(root32, out, **extra)


def test_every_registered_model_has_both_configs():
    assert sorted(MODELS) == list_models()
    for model in MODELS:
        for kind in ("mars", "synthped"):
            cfg = load_config(os.path.join(REPO, "configs", f"{model}_{kind}.yaml"))
            assert cfg.model.name == model
            assert cfg.data.dataset == ("mars" if kind == "mars" else "synthped")
            if kind == "mars":
                assert cfg.model.backbone == "resnet50" and cfg.model.pretrained == "imagenet"


@pytest.mark.parametrize("model", MODELS)
def test_model_trains_and_evaluates_through_the_cli(model, tiny_synthped, tiny_synthped_64, tmp_path, capsys):
    out = str(tmp_path / model)
    args = overrides_for(model, tiny_synthped, tiny_synthped_64, out)
    assert cli_main(["train", "--no-progress", "--config", config_path(model), *args]) == 0
    doc = json.load(open(os.path.join(out, "metrics.json")))
    assert doc["config"]["model"]["name"] == model
    losses = doc["step_losses"]
    assert len(losses) == 3 and all(np.isfinite(losses))
    final = doc["final"]
    assert 0 <= final["mAP"] <= 1 and final["protocol"] == "mars" and final["num_valid_queries"] > 0
    # the written checkpoint evaluates through `vidreid eval` to the same numbers (same config, same weights)
    ckpt = os.path.join(out, "checkpoints", "last.safetensors")
    metrics = str(tmp_path / "eval.json")
    capsys.readouterr()
    assert cli_main(["eval", "--checkpoint", ckpt, "--json", metrics, "--no-plots"]) == 0
    assert model in capsys.readouterr().out
    again = json.load(open(metrics))
    assert again["mAP"] == pytest.approx(final["mAP"], abs=1e-6)
    assert again["cmc"][0] == pytest.approx(final["cmc"][0], abs=1e-6)


def test_ta_weights_on_real_tracklets_are_not_uniform_after_training(tiny_synthped, tmp_path):
    """Gao & Nevatia's factory ran "ta" as temporal pooling (every weight 1/T). After 6 real training steps on
    SynthPed, vidreid's TA weights on real query tracklets are well away from 1/T and differ between tracklets."""
    cfg = load_config(config_path("ta"), overrides_for("ta", tiny_synthped, "", str(tmp_path / "ta"), **{
        "train.iters_per_epoch": 6, "train.eval_every": 0}))
    res = train(cfg, progress=False)
    model, dataset = res["model"].eval(), res["dataset"]
    device = next(model.parameters()).device                        # where train.device=auto put it (CUDA if any)
    T = 4
    weights = []
    with torch.no_grad():
        for clips, _ in build_test_loader(dataset.query, cfg.data, sampling="rrs", seq_len=T):  # (N, T, 3, H, W)
            out = model(clips.to(device), return_attention=True)
            _, attention = out.embedding, out.attention
            weights.append(attention["temporal"])
    w = torch.cat(weights).cpu()                                    # (Q, T)
    assert w.shape == (len(dataset.query), T)
    assert torch.allclose(w.sum(1), torch.ones(len(w)), atol=1e-5)
    # measured: mean |w - 1/T| 0.026 after 6 steps (0.005 at initialisation), spread over tracklets 0.008
    assert (w - 1 / T).abs().mean() > 0.015                          # not uniform
    assert w.std(0).mean() > 0.002                                  # depends on the clip, not only on the position
