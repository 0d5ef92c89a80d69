"""Non-local blocks, NVAN and STE-NVAN (methods.md, "NVAN and STE-NVAN"): formulas on hand-made tensors, shapes."""
import math

import pytest
import torch

from vidreid.errors import VidReIDError
from vidreid.models import ModelOutput, build_model
from vidreid.models.nonlocal_block import NonLocalBlock, StripeNonLocalBlock, stripe_of_row
from vidreid.models.nvan import FrameCountError, NonLocalVideoNet


def _randomise_output_bn(block):
    """Give W's BN non-zero weight/bias so that W(y) != 0 (it is 0 at init)."""
    with torch.no_grad():
        block.W[1].weight.normal_()
        block.W[1].bias.normal_()


# --------------------------------------------------------------------------- non-local block
@pytest.mark.parametrize("cls", [NonLocalBlock, StripeNonLocalBlock])
@pytest.mark.parametrize("training", [True, False])
def test_nonlocal_is_exactly_identity_at_init(cls, training):
    torch.manual_seed(0)
    block = cls(8).train(training)
    x = torch.randn(2, 8, 3, 4, 2)
    assert torch.equal(block(x), x)


def test_attention_rows_sum_to_one():
    torch.manual_seed(0)
    block = NonLocalBlock(8)
    x = torch.randn(2, 8, 3, 4, 2)
    out, attention = block(x, return_attention=True)
    assert out.shape == x.shape
    assert attention.shape == (2, 3 * 4 * 2, 3 * 4 * 2)                # all T*h*w positions of a clip
    assert (attention >= 0).all()
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, 24))


def test_embedded_gaussian_by_hand():
    """C = 2, C' = 1, three positions; theta = channel 0, phi = channel 1, g = channel 0 + channel 1."""
    block = NonLocalBlock(2, inter_channels=1).eval()
    with torch.no_grad():
        for conv, weight in ((block.theta, [1.0, 0.0]), (block.phi, [0.0, 1.0]), (block.g, [1.0, 1.0])):
            conv.weight.copy_(torch.tensor(weight).view(1, 2, 1, 1, 1))
            conv.bias.zero_()
        block.W[0].weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1, 1))
        block.W[0].bias.zero_()
        bn = block.W[1]
        bn.weight.fill_(1.0), bn.bias.zero_(), bn.running_mean.zero_(), bn.running_var.fill_(1.0)
        bn.eps = 0.0
    a, b = [1.0, 2.0, 0.0], [0.0, 1.0, -1.0]                            # channel 0 / channel 1 at positions 0..2
    x = torch.tensor([a, b]).view(1, 2, 1, 3, 1)                       # (N=1, C=2, T=1, h=3, w=1)
    g = [a[j] + b[j] for j in range(3)]
    attention = [[math.exp(a[i] * b[j]) / sum(math.exp(a[i] * b[k]) for k in range(3)) for j in range(3)]
                 for i in range(3)]
    y = [sum(attention[i][j] * g[j] for j in range(3)) for i in range(3)]
    expected = torch.tensor([[a[i] + 2 * y[i] for i in range(3)], [b[i] - y[i] for i in range(3)]]).view(1, 2, 1, 3, 1)

    out, att = block(x, return_attention=True)
    torch.testing.assert_close(att[0], torch.tensor(attention))
    torch.testing.assert_close(out, expected)
    assert y[2] == pytest.approx(1.0)                                  # position 2: theta = 0 -> uniform weights


# --------------------------------------------------------------------------- stripe non-local
def test_stripe_of_row():
    assert stripe_of_row(8, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert stripe_of_row(16, 16).tolist() == list(range(16))
    assert stripe_of_row(5, 2).tolist() == [0, 0, 0, 1, 1]             # adaptive bins [0, 3) and [2, 5)


@pytest.mark.parametrize("h, num_stripes, stripes", [(8, 4, 4), (3, 16, 3), (5, 2, 2)])
def test_stripe_broadcast(h, num_stripes, stripes):
    """Every pixel of a stripe receives the same added vector: W(y) of that stripe's pooled token."""
    torch.manual_seed(0)
    block = StripeNonLocalBlock(4, num_stripes=num_stripes).eval()
    _randomise_output_bn(block)
    x = torch.randn(2, 4, 3, h, 5)                                     # (N, C, T, h, w)
    out, attention = block(x, return_attention=True)
    assert attention.shape == (2, 3 * stripes, 3 * stripes)            # tokens = T * S stripes, not T*h*w pixels
    delta = out - x                                                    # (N, C, T, h, w)
    rows = stripe_of_row(h, stripes)
    tokens = torch.nn.functional.adaptive_avg_pool3d(x, (3, stripes, 1))
    w_y, _ = block.transform(tokens)                                   # (N, C, T, S, 1)
    for r in range(h):
        for col in range(5):
            torch.testing.assert_close(delta[:, :, :, r, col], w_y[:, :, :, rows[r], 0])
    assert delta.abs().sum() > 0


# --------------------------------------------------------------------------- NVAN / STE-NVAN models
def _model(name, **kw):
    torch.manual_seed(0)
    return build_model(name, num_classes=5, backbone="resnet18", **kw)


def test_nvan_placement_resnet50():
    with torch.device("meta"):                                         # structure only, nothing computed
        m = build_model("nvan", num_classes=5)
    assert (m.nonlocal2_after, m.nonlocal3_after) == ([2, 3], [3, 4, 5])  # last two of layer2, last three of layer3
    assert [b.in_channels for b in m.nonlocal2] == [512, 512]
    assert [b.inter_channels for b in m.nonlocal3] == [512, 512, 512]
    assert type(m.nonlocal2[0]) is NonLocalBlock
    assert m.head.bnneck is not None and not m.head.bnneck.bias.requires_grad and m.head.classifier.bias is None
    with torch.device("meta"):
        ste = build_model("ste_nvan", num_classes=5)
    assert all(isinstance(b, StripeNonLocalBlock) and b.num_stripes == 16 for b in [*ste.nonlocal2, *ste.nonlocal3])


def test_nvan_too_many_blocks_is_a_config_error():
    with pytest.raises(VidReIDError, match="nonlocal_blocks"):
        _model("nvan", nonlocal_blocks=(2, 3))                         # resnet18's layer3 has 2 residual blocks


def test_nvan_at_init_computes_the_plain_backbone():
    m = _model("nvan").eval()
    x = torch.randn(2, 3, 3, 64, 32)
    with torch.no_grad():
        maps, _ = m.video_maps(x)
        plain = m.backbone(x.flatten(0, 1)).view(2, 3, *maps.shape[2:])
    torch.testing.assert_close(maps, plain)


@pytest.mark.parametrize("name, T", [("nvan", 1), ("nvan", 3), ("nvan", 8), ("ste_nvan", 4), ("ste_nvan", 8)])
def test_nonlocal_models_train_and_eval_shapes(name, T):
    m = _model(name)
    x = torch.randn(2, T, 3, 64, 32)
    out = m.train()(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 5) and set(out.features) == {"feat"} and out.features["feat"].shape == (2, 512)
    m.eval()
    with torch.no_grad():
        f = m(x).embedding
        out = m(x, return_attention=True)
        f2, attention = out.embedding, out.attention
    assert f.shape == (2, 512)
    torch.testing.assert_close(f, f2)
    received = attention["nonlocal"]
    if name == "nvan":
        assert received.shape == (2, T, 4, 2)                          # layer3 map of a 64x32 input
        torch.testing.assert_close(received.sum((1, 2, 3)), torch.ones(2))
    else:
        assert received.shape == (2, T // 2, 4)                        # T/2 frames at layer3, min(16, 4) stripes
        torch.testing.assert_close(received.view(2, T // 4, -1).sum(-1), torch.ones(2, T // 4))  # per frame pair


def test_nvan_eval_feature_is_the_bnneck_of_the_pooled_map():
    m = _model("nvan").eval()
    x = torch.randn(2, 3, 3, 64, 32)
    with torch.no_grad():
        maps, _ = m.video_maps(x)
        f = maps.mean((1, 3, 4))                                       # 3D average pool over T, h, w
        torch.testing.assert_close(m(x).embedding, m.head.bnneck(f))


@pytest.mark.parametrize("T, layer3_frames, layer4_frames", [(8, 4, 2), (4, 2, 1), (12, 6, 3)])
def test_ste_nvan_temporal_reduction(T, layer3_frames, layer4_frames):
    m = _model("ste_nvan").eval()
    seen = {}
    m.backbone.layer3[0].register_forward_pre_hook(lambda mod, inp: seen.__setitem__("layer3", inp[0].shape[0]))
    m.backbone.layer4.register_forward_pre_hook(lambda mod, inp: seen.__setitem__("layer4", inp[0].shape[0]))
    with torch.no_grad():
        maps, _ = m.video_maps(torch.randn(2, T, 3, 64, 32))
    assert seen == {"layer3": 2 * layer3_frames, "layer4": 2 * layer4_frames}
    assert maps.shape == (2, layer4_frames, 512, 4, 2)                  # last stride 1: 64x32 -> 4x2


def test_ste_nvan_pairwise_max():
    x = torch.arange(4.0).view(4, 1, 1, 1) * torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)  # 4 frames, 2 channels
    out = NonLocalVideoNet._pairwise_max(x)
    assert out.view(2, 2).tolist() == [[1.0, 0.0], [3.0, -2.0]]       # max over frames (0, 1) and (2, 3)


def test_ste_nvan_nonlocal_stays_within_frame_pairs():
    m = _model("ste_nvan")
    block = m.nonlocal2[0].eval()
    _randomise_output_bn(block)
    x = torch.randn(4, 128, 8, 4)                                      # 1 clip x 4 frames, layer2 maps of resnet18
    x2 = x.clone()
    x2[2] += 1.0                                                       # change frame 2 only
    with torch.no_grad():
        a, _ = m._nonlocal(block, x, 2, False)
        b, _ = m._nonlocal(block, x2, 2, False)
    torch.testing.assert_close(a[:2], b[:2])                           # frames 0, 1: other pair, untouched
    assert not torch.allclose(a[3], b[3])                              # frame 3 attends to frame 2


@pytest.mark.parametrize("T", [1, 2, 6])
def test_ste_nvan_rejects_t_not_divisible_by_4(T):
    m = _model("ste_nvan")
    with pytest.raises(FrameCountError, match="divisible by 4") as info:
        m(torch.randn(1, T, 3, 64, 32))
    assert isinstance(info.value, VidReIDError) and isinstance(info.value, ValueError)


def test_nvan_blocks_run_after_the_last_bottlenecks_in_the_forward():
    """The order in which modules actually run: a non-local right after bottlenecks 2, 3 of layer2 and 3, 4, 5 of
    layer3 (attribute checks alone would not catch a forward that inserts them elsewhere)."""
    with torch.device("meta"):                                         # shapes only, nothing computed
        m = build_model("nvan", num_classes=5).eval()
    order = []
    named = {**{f"layer2.{i}": b for i, b in enumerate(m.backbone.layer2)},
             **{f"layer3.{i}": b for i, b in enumerate(m.backbone.layer3)},
             **{f"nl2.{i}": b for i, b in enumerate(m.nonlocal2)},
             **{f"nl3.{i}": b for i, b in enumerate(m.nonlocal3)}}
    for name, module in named.items():
        module.register_forward_hook(lambda *_, name=name: order.append(name))
    with torch.no_grad():
        m(torch.empty(1, 2, 3, 64, 32, device="meta"))
    assert order == ["layer2.0", "layer2.1", "layer2.2", "nl2.0", "layer2.3", "nl2.1",
                     "layer3.0", "layer3.1", "layer3.2", "layer3.3", "nl3.0", "layer3.4", "nl3.1", "layer3.5", "nl3.2"]
