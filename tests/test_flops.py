"""FLOP counting (vidreid/models/flops.py) against hand formulas and the figures in methods.md.

Models at paper settings are built and counted on the meta device: shapes only, nothing is computed.
"""
import json

import pytest
import torch

from vidreid.cli import main
from vidreid.models import build_model
from vidreid.models.flops import count_flops, count_forward, count_model
from vidreid.models.nonlocal_block import NonLocalBlock, StripeNonLocalBlock


def _meta(name, **kw):
    with torch.device("meta"):
        return build_model(name, num_classes=625, **kw)


@pytest.mark.parametrize("last_stride, expected", [(2, 5.34), (1, 8.11)])
def test_resnet50_per_frame(last_stride, expected):
    """methods.md: ResNet-50 per 256x128 frame, 5.34 GFLOPs at last stride 2 and 8.11 at last stride 1."""
    r = count_flops(_meta("tp", last_stride=last_stride), frames=1, size=(256, 128))
    assert r["gflops_conv"] == pytest.approx(expected, rel=0.01)
    assert r["gflops_linear"] == pytest.approx(2 * 2048 * 625 / 1e9)   # the classifier, 2 x MACs
    assert r["gflops_attention"] == 0


def test_meta_count_equals_cpu_count():
    torch.manual_seed(0)
    model = build_model("tp", num_classes=7, backbone="resnet18")
    with torch.device("meta"):
        meta_model = build_model("tp", num_classes=7, backbone="resnet18")
    cpu = count_flops(model, frames=2, size=(64, 32), batch=2)
    meta = count_flops(meta_model, frames=2, size=(64, 32), batch=2)
    assert cpu == meta
    assert model.training                                              # the train/eval mode is restored


def test_counting_skips_random_initialisation_only_on_the_meta_device():
    from torch.overrides import TorchFunctionMode

    from vidreid.models.flops import build_for_count

    class Spy(TorchFunctionMode):                 # below build_for_count's own mode: sees what it lets through
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func in (torch.Tensor.normal_, torch.Tensor.uniform_):
                fills.append(args[0].device.type)
            return func(*args, **(kwargs or {}))
    fills = []
    with Spy():
        build_for_count("tp", 7, (64, 32), "meta", backbone="resnet18")
        assert fills == []                                             # no value to fill on the meta device
        cpu = build_for_count("tp", 7, (64, 32), "cpu", backbone="resnet18")
    assert len(fills) >= 20 and set(fills) == {"cpu"}                 # a CPU model is initialised as usual
    assert cpu.backbone.conv1.weight.std() > 0


def test_nonlocal_attention_products_by_hand():
    """theta^T phi and attention @ g: 2 products x N * L * L * C' MACs, 2 FLOPs per MAC; four 1x1x1 convs."""
    N, C, T, h, w = 2, 8, 3, 4, 2
    L, inter = T * h * w, C // 2
    counts = count_forward(NonLocalBlock(C).eval(), torch.zeros(N, C, T, h, w))
    assert counts["attention"] == 2 * (2 * N * L * L * inter)
    assert counts["conv"] == 2 * (3 * N * L * C * inter + N * L * inter * C)
    assert counts["linear"] == 0
    assert counts["total"] == counts["attention"] + counts["conv"]


def test_stripe_nonlocal_attention_products_by_hand():
    N, C, T, h, w, S = 2, 8, 3, 8, 2, 4
    L, inter = T * S, C // 2                                           # tokens: S stripes per frame
    counts = count_forward(StripeNonLocalBlock(C, num_stripes=S).eval(), torch.zeros(N, C, T, h, w))
    assert counts["attention"] == 2 * (2 * N * L * L * inter)
    assert counts["conv"] == 2 * (4 * N * L * C * inter)


def test_paper_compute_figures():
    """methods.md (8 frames, 256x128, GMACs, conv+linear only): ResNet-50 baseline 32.7, NVAN 43.5, STE-NVAN 17.9;
    attention products about 20 for NVAN and about 0.5 for STE-NVAN; STE-NVAN needs 72.7% fewer FLOPs than NVAN."""
    base = count_flops(_meta("tp"), frames=8)
    nvan = count_flops(_meta("nvan"), frames=8)
    ste = count_flops(_meta("ste_nvan"), frames=8)
    assert base["gmacs_conv_linear"] == pytest.approx(32.7, rel=0.015)
    assert nvan["gmacs_conv_linear"] == pytest.approx(43.5, rel=0.015)
    assert ste["gmacs_conv_linear"] == pytest.approx(17.9, rel=0.02)
    assert nvan["gmacs_attention"] == pytest.approx(20.0, rel=0.05)
    assert ste["gmacs_attention"] < 0.5                                # stripe tokens within frame pairs: ~0.01
    saving = 1 - ste["gflops"] / nvan["gflops"]
    assert saving == pytest.approx(0.727, abs=0.015)


def test_count_model_passes_input_size():
    r = count_model("rru_stim", frames=3, size=(64, 32), backbone="resnet18")
    assert r["device"] == "meta" and r["frames"] == 3 and r["params"] > 0


def test_flops_command(capsys):
    assert main(["flops", "tp", "--frames", "2", "--size", "64x32", "--backbone", "resnet18", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["model"] == "tp" and r["frames"] == 2 and r["size"] == [64, 32]
    assert r["gflops_per_frame"] == pytest.approx(r["gflops"] / 2)
    assert main(["flops", "nvan", "--frames", "2", "--size", "64x32", "--backbone", "resnet18"]) == 0
    text = capsys.readouterr().out
    assert "GFLOPs total" in text and "conv+linear only" in text


def test_flops_command_user_errors(capsys):
    assert main(["flops", "ste_nvan", "--frames", "6", "--size", "64x32", "--backbone", "resnet18"]) == 2
    assert "divisible by 4" in capsys.readouterr().err
    assert main(["flops", "no_such_model"]) == 2
    assert main(["flops", "nvan", "--set", "nonlocal_blocks"]) == 2


def test_sta_attention_is_counted_and_printed_below_a_hundredth(capsys):
    """STA's only matrix product between activations is P2 = sum_n S(n, k) f_{n,k}: T*C*h*w MACs per clip (the
    K blocks partition h), 2x that in FLOPs -- a few MFLOPs, which the 2-decimal GFLOPs column rounded to 0.00."""
    T, (H, W) = 2, (64, 32)
    r = count_model("sta", frames=T, size=(H, W), backbone="resnet18")
    C, h, w = 512, H // 16, W // 16                                   # resnet18 layer4, STA's last stride 1
    assert r["gflops_attention"] * 1e9 == 2 * T * C * h * w
    assert main(["flops", "sta", "--frames", str(T), "--size", f"{H}x{W}", "--backbone", "resnet18"]) == 0
    assert f"{2 * T * C * h * w / 1e6:.3g} MFLOPs" in capsys.readouterr().out
