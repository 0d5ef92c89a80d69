"""`vidreid explain`: a PNG of a model's own attention on one tracklet, for every model."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from vidreid.cli import main as cli_main
from vidreid.workflows.explanation import default_output
from vidreid.config import load_config
from vidreid.store.checkpoint import save_checkpoint
from vidreid.builders import build_for_dataset, prepare_dataset
from vidreid.viz.attention import attention_figure, describe_attention

from test_models_train import MODELS, config_path, overrides_for, tiny_synthped_64  # noqa: F401 (fixture)


def make_checkpoint(model: str, root32: str, root64: str, run_dir: str) -> tuple[str, object]:
    """An untrained (seeded) model saved as vidreid train saves it: the explain path does not depend on training."""
    cfg = load_config(config_path(model), overrides_for(model, root32, root64, run_dir))
    dataset = prepare_dataset(cfg, progress=False)
    torch.manual_seed(0)
    net = build_for_dataset(cfg, dataset.num_train_pids)
    path = os.path.join(run_dir, "checkpoints", "last.safetensors")
    save_checkpoint(path, net, {"model": model, "num_classes": dataset.num_train_pids, "config": cfg.to_dict()})
    return path, cfg


EXPECTED_KEYS = {"tp": set(), "rnn": set(), "ta": {"temporal"}, "sta": {"S", "g"}, "drsta": {"spatial", "temporal"},
                 "nvan": {"nonlocal"}, "ste_nvan": {"nonlocal"}, "rru_stim": {"gates"}}


@pytest.mark.parametrize("model", MODELS)
def test_explain_writes_a_png_for_every_model(model, tiny_synthped, tiny_synthped_64, tmp_path, capsys):
    ckpt, cfg = make_checkpoint(model, tiny_synthped, tiny_synthped_64, str(tmp_path / "run"))
    out, js = str(tmp_path / "att.png"), str(tmp_path / "att.json")
    assert cli_main(["explain", "--checkpoint", ckpt, "--tracklet", "2", "--out", out, "--json", js]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 200 and im.height > 100
    doc = json.load(open(js))
    assert doc["model"] == model and doc["split"] == "query" and doc["tracklet"] == 2
    T = cfg.data.test_seq_len
    assert len(doc["frame_indices"]) == T
    att = {k: np.array(v) for k, v in doc["attention"].items()}
    assert set(att) == EXPECTED_KEYS[model]
    if model == "sta":
        h, w = cfg.data.height // 16, cfg.data.width // 16           # last stride 1: 4x2 at 64x32
        assert att["S"].shape == (T, 4) and np.allclose(att["S"].sum(0), 1, atol=1e-5)  # columns sum to 1
        assert att["g"].shape == (T, h, w) and np.allclose(att["g"].sum((1, 2)), 1, atol=1e-5)
    if model == "ta":
        assert att["temporal"].shape == (T,) and np.isclose(att["temporal"].sum(), 1, atol=1e-5)
    if model == "drsta":
        assert att["spatial"].shape[:2] == (T, 6) and att["temporal"].shape == (T, 6)
    if model == "rru_stim":
        assert att["gates"].shape[0] == T and np.allclose(att["gates"][0], 1)  # S_0 = X_0: frame 0 takes all


def test_explain_default_output_next_to_the_run(tiny_synthped, tiny_synthped_64, tmp_path):
    run_dir = str(tmp_path / "run")
    ckpt, _ = make_checkpoint("sta", tiny_synthped, tiny_synthped_64, run_dir)
    assert default_output(ckpt, "sta", "query", 0) == os.path.join(run_dir, "explain_sta_query0.png")
    assert cli_main(["explain", "--checkpoint", ckpt, "--tracklet", "0", "--split", "gallery", "--frames", "6",
                     "--sampling", "evenly"]) == 0
    with Image.open(os.path.join(run_dir, "explain_sta_gallery0.png")) as im:
        assert im.format == "PNG"


def test_explain_config_file_and_overrides_apply(tiny_synthped, tiny_synthped_64, tmp_path):
    """--config X (the issue's form) with the frame count set by an override."""
    ckpt, cfg = make_checkpoint("ta", tiny_synthped, tiny_synthped_64, str(tmp_path / "run"))
    js = str(tmp_path / "a.json")
    assert cli_main(["explain", "--config", config_path("ta"), "--checkpoint", ckpt, "--tracklet", "1",
                     "--out", str(tmp_path / "a.png"), "--json", js,
                     *overrides_for("ta", tiny_synthped, tiny_synthped_64, str(tmp_path / "run")),
                     "data.test_seq_len=3"]) == 0
    assert np.array(json.load(open(js))["attention"]["temporal"]).shape == (3,)


def test_explain_out_of_range_tracklet_is_a_one_line_error(tiny_synthped, tiny_synthped_64, tmp_path, capsys):
    ckpt, _ = make_checkpoint("tp", tiny_synthped, tiny_synthped_64, str(tmp_path / "run"))
    assert cli_main(["explain", "--checkpoint", ckpt, "--tracklet", "100000"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--tracklet 100000 is out of range" in err and "query" in err


def test_explain_missing_checkpoint_is_a_one_line_error(tmp_path, capsys):
    assert cli_main(["explain", "--checkpoint", str(tmp_path / "nope.safetensors"), "--tracklet", "0"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


# --------------------------------------------------------------------------- the figure itself
def test_describe_attention_sta_rows_weights_and_blocks():
    S = torch.tensor([[0.1, 0.7], [0.9, 0.3]])                      # (T=2, K=2), columns sum to 1
    g = torch.rand(2, 4, 2)
    d = describe_attention({"S": S, "g": g}, 2)
    assert len(d["rows"]) == 1 and d["rows"][0][1].shape == (2, 4, 2)
    K, S_out = d["blocks"]
    assert K == 2 and np.allclose(S_out, S.numpy())
    assert d["weights"][0][1].shape == (2, 2) and d["weights"][0][2] == ["block 1", "block 2"]


def test_describe_attention_ste_nvan_stripes_cover_frame_pairs():
    stripes = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])  # (T/2 = 2, S = 3) layer3 frames
    d = describe_attention({"nonlocal": stripes}, 4)
    maps = d["rows"][0][1]                                          # (T, S, 1)
    assert maps.shape == (4, 3, 1)
    assert np.allclose(maps[0, :, 0], [0.5, 0.5, 0]) and np.allclose(maps[1], maps[0])
    assert np.allclose(maps[3, :, 0], [0, 0.25, 0.75])


def test_describe_attention_drsta_one_row_per_part_and_ta_bars():
    d = describe_attention({"spatial": torch.rand(3, 2, 4, 2), "temporal": torch.rand(3, 2)}, 3)
    assert [r[0] for r in d["rows"]] == ["part 1 spatial attention (DRSTA)", "part 2 spatial attention (DRSTA)"]
    d = describe_attention({"temporal": torch.tensor([0.2, 0.3, 0.5])}, 3)
    assert d["rows"] == [] and d["weights"][0][1].shape == (3, 1)


def test_attention_figure_without_attention_still_draws_the_frames(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (3, 32, 16, 3), dtype=np.uint8)
    path = attention_figure(frames, {}, str(tmp_path / "f.png"), "tp")
    with Image.open(path) as im:
        assert im.format == "PNG"
