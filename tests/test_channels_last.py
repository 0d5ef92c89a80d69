"""Channels-last (train.channels_last / extract --channels-last) for every method and every backbone.

`models.base.to_channels_last` lays 2-D convolutions out NHWC and 3-D ones (NVAN's non-local blocks, RRU+STIM's
STIM) NDHWC; `model.to(memory_format=torch.channels_last)` used to crash on the 3-D ones. The trainer and the
extractor both call it: each method trains a step and extracts with it, and its outputs and gradients equal the
contiguous model's.
"""
import copy

import numpy as np
import pytest
import torch
from torch import nn

from vidreid.config import load_config
from vidreid.engine.train import train
from vidreid.models import build_model
from vidreid.models.backbones import list_backbones
from vidreid.models.base import frames_channels_last, to_channels_last

from test_models_train import MODELS, NEEDS_64x32, config_path, overrides_for, tiny_synthped_64  # noqa: F401 (fixture)

# every method on ResNet-18, and NVAN (2-D and 3-D convolutions, the backbone's stages called one by one) on every
# other backbone
CASES = [(m, "resnet18") for m in MODELS] + [("nvan", b) for b in list_backbones() if b != "resnet18"]
# through the trainer: every method, and the backbones whose layers differ from ResNet-18's (depthwise and squeeze
# blocks); ResNet-34/50 are ResNet-18's layer kinds, deeper (their layout and gradients: the test above)
TRAINER_CASES = [(m, b) for m, b in CASES if b not in ("resnet34", "resnet50")]


def conv_weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]


def assert_channels_last(model: nn.Module) -> None:
    weights = conv_weights(model)
    assert any(w.dim() == 4 for w in weights)
    for w in weights:
        fmt = torch.channels_last if w.dim() == 4 else torch.channels_last_3d
        assert w.is_contiguous(memory_format=fmt), (tuple(w.shape), w.stride())


def test_to_channels_last_lays_out_2d_and_3d_convolutions_without_changing_values():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv3d(4, 4, (3, 1, 3)), nn.Linear(5, 2))
    with pytest.raises(RuntimeError, match="rank 4"):          # why the helper exists
        copy.deepcopy(model).to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert to_channels_last(model) is model
    w2, w3 = model[0].weight, model[2].weight
    assert w2.is_contiguous(memory_format=torch.channels_last) and not w2.is_contiguous()
    assert w3.is_contiguous(memory_format=torch.channels_last_3d) and not w3.is_contiguous()
    assert model[3].weight.is_contiguous() and isinstance(w2, nn.Parameter)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_frames_channels_last_keeps_values_and_the_backbones_flatten_a_view():
    x = torch.randn(2, 3, 3, 5, 4)                              # (B, T, 3, H, W)
    y = frames_channels_last(x)
    assert torch.equal(x, y) and y.shape == x.shape
    frames = y.flatten(0, 1)                                    # what every backbone does first
    assert frames.is_contiguous(memory_format=torch.channels_last) and frames.data_ptr() == y.data_ptr()
    assert frames_channels_last(x[0]).is_contiguous(memory_format=torch.channels_last)


def build(model: str, backbone: str) -> nn.Module:
    size = (64, 32) if model in NEEDS_64x32 else (32, 16)
    torch.manual_seed(0)
    return build_model(model, 6, input_size=size, backbone=backbone, pretrained=None), size


@pytest.mark.parametrize("model,backbone", CASES)
def test_channels_last_outputs_and_gradients_equal_contiguous(model, backbone):
    ref, (H, W) = build(model, backbone)
    nhwc = to_channels_last(copy.deepcopy(ref))
    assert_channels_last(nhwc)
    x = torch.rand(2, 4, 3, H, W)                               # (B, T, 3, H, W)
    # eval: every output the retrieval and the explanations read
    ref.eval(), nhwc.eval()
    with torch.no_grad():
        a, b = ref(x, return_attention=True), nhwc(frames_channels_last(x), return_attention=True)
    torch.testing.assert_close(b.embedding, a.embedding, rtol=1e-4, atol=1e-5)
    for name in a.attention:
        torch.testing.assert_close(b.attention[name], a.attention[name], rtol=1e-4, atol=1e-5)
    # the backward kernels: every gradient, with the batch norms on running statistics (in training mode a batch
    # norm over 8 frames of 2x1 maps makes fp32 itself differ from fp64 by up to 0.3 % (NVAN), whatever the layout;
    # training mode is run by the trainer test below). Reference: the contiguous model in fp64, as torch 2.13's
    # contiguous fp32 CPU kernels are the less exact ones (NVAN-ResNet-50: conv weight gradients 2.7e-2 off fp64,
    # channels-last's 1e-6); STA computes its attention in fp32 whatever the input (AMP safety): fp32 reference
    exact = ref.double() if model != "sta" else ref
    grads = []
    for net, inp in ((exact, x.to(next(exact.parameters()).dtype)), (nhwc, x)):
        out = net(inp)
        logits = out.logits if isinstance(out.logits, list) else [out.logits]
        (sum(lg.square().mean() for lg in logits if lg is not None) + out.embedding.square().mean()).backward()
        grads.append({k: p.grad for k, p in net.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    # equal up to float32 rounding, relative to the tensor's scale (a layout bug, such as a view that mixes channels
    # and pixels, is off by the whole scale)
    for k, g in grads[0].items():
        err, scale = (grads[1][k].to(g.dtype) - g).abs().max().item(), g.abs().max().item()
        assert err <= 1e-4 * scale + 1e-6, (k, err, scale)


@pytest.mark.parametrize("model,backbone", TRAINER_CASES)
def test_train_channels_last_trains_a_step_and_extracts(model, backbone, tiny_synthped, tiny_synthped_64, tmp_path):
    """train.channels_last=true through the real trainer: one step, then the final evaluation's extraction (which
    converts the model and its inputs itself, extract.py)."""
    cfg = load_config(config_path(model), overrides_for(model, tiny_synthped, tiny_synthped_64, str(tmp_path / "run"), **{
        "train.channels_last": "true", "train.iters_per_epoch": 1, "model.backbone": backbone}))
    res = train(cfg, progress=False)
    assert len(res["step_losses"]) == 1 and np.isfinite(res["step_losses"]).all()
    assert 0 <= res["mAP"] <= 1 and res["num_valid_queries"] > 0
    assert_channels_last(res["model"])
