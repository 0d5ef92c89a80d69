"""STA (Fu et al., AAAI 2019): every formula on a hand-made 2-frame, 2-channel, 4x2 map; then the model."""
import math

import pytest
import torch

from vidreid.errors import ConfigError
from vidreid.models import ModelOutput, build_model
from vidreid.models.sta import (block_scores, fuse, gather_frame_per_block, inter_frame_regulariser,
                                sample_frame_pairs, spatial_attention, temporal_normalise)

# Two frames, C = 2, h = 4, w = 2. Energies sum_d f^2:
#   frame 0: every position 1            -> total 8,  K=2 block masses (4, 4)
#   frame 1: [[4,4],[0,0],[1,1],[1,1]]   -> total 12, K=2 block masses (8, 4)
F0 = torch.tensor([[[1., 1.], [0., 0.], [1., 1.], [0., 0.]],      # channel 0
                   [[0., 0.], [1., 1.], [0., 0.], [1., 1.]]])     # channel 1
F1 = torch.tensor([[[2., 0.], [0., 0.], [0., 0.], [0., 0.]],
                   [[0., 2.], [0., 0.], [1., 1.], [1., 1.]]])
CLIP = torch.stack([F0, F1])[None]                                # (B=1, T=2, C=2, 4, 2)


def test_spatial_attention_l1_hand_values():
    g = spatial_attention(CLIP, "l1")                             # (1, 2, 4, 2)
    assert torch.allclose(g[0, 0], torch.full((4, 2), 1 / 8))
    assert torch.allclose(g[0, 1], torch.tensor([[4., 4.], [0., 0.], [1., 1.], [1., 1.]]) / 12)
    assert torch.allclose(g.sum((2, 3)), torch.ones(1, 2))


def test_spatial_attention_l2_unit_norm():
    g = spatial_attention(CLIP, "l2")
    assert torch.allclose(g.pow(2).sum((2, 3)), torch.ones(1, 2))
    assert torch.allclose(g[0, 0], torch.full((4, 2), 1 / math.sqrt(8)))
    assert torch.allclose(g[0, 1], torch.tensor([[4., 4.], [0., 0.], [1., 1.], [1., 1.]]) / 6)  # sqrt(36)
    with pytest.raises(ConfigError):
        spatial_attention(CLIP, "l3")


def test_block_scores_and_temporal_normalisation_hand_values():
    s = block_scores(spatial_attention(CLIP), num_blocks=2)        # (1, 2, 2)
    assert torch.allclose(s[0], torch.tensor([[1 / 2, 1 / 2], [2 / 3, 1 / 3]]))
    S = temporal_normalise(s)
    # column 0: (1/2, 2/3) / (7/6) = (3/7, 4/7); column 1: (1/2, 1/3) / (5/6) = (3/5, 2/5)
    assert torch.allclose(S[0], torch.tensor([[3 / 7, 3 / 5], [4 / 7, 2 / 5]]))
    assert torch.allclose(S.sum(1), torch.ones(1, 2))


def test_blocks_must_divide_height():
    with pytest.raises(ConfigError, match="divide"):
        block_scores(spatial_attention(CLIP), num_blocks=3)


def test_fusion_max_index_and_weighted_sum():
    S = torch.tensor([[[3 / 7, 3 / 5], [4 / 7, 2 / 5]]])         # (1, T=2, K=2) from the test above
    p1, p2 = fuse(CLIP, S)                                        # (1, 2, 4, 2) each
    # block 0 (rows 0-1): frame 1 has the larger S; block 1 (rows 2-3): frame 0
    assert torch.equal(p1[0, :, :2], F1[:, :2])
    assert torch.equal(p1[0, :, 2:], F0[:, 2:])
    assert torch.allclose(p2[0, :, :2], 3 / 7 * F0[:, :2] + 4 / 7 * F1[:, :2])
    assert torch.allclose(p2[0, :, 2:], 3 / 5 * F0[:, 2:] + 2 / 5 * F1[:, 2:])


def test_gather_frame_per_block_three_frames():
    blocks = torch.arange(3.)[None, :, None, None, None, None].expand(2, 3, 1, 4, 1, 1)  # block value = frame index
    idx = torch.tensor([[2, 0, 1, 1], [0, 0, 2, 1]])             # (B=2, K=4)
    got = gather_frame_per_block(blocks, idx)                     # (2, 1, 4, 1, 1)
    assert torch.equal(got.flatten(1), idx.float())


def test_fusion_end_to_end_picks_argmax_frame():
    S = temporal_normalise(block_scores(spatial_attention(CLIP), 2))
    p1, _ = fuse(CLIP, S)
    assert torch.equal(p1[0], torch.cat([F1[:, :2], F0[:, 2:]], 1))


def test_inter_frame_regulariser_hand_value():
    # clip 0: frames (F0, F1); clip 1: frames (F0, F0) -> Reg 0. Averaged over the clips.
    clips = torch.stack([CLIP[0], torch.stack([F0, F0])])         # (2, 2, 2, 4, 2)
    g = spatial_attention(clips)
    pairs = torch.tensor([[1, 0], [0, 1]])
    # g0 - g1 = [[-5/24]*2, [3/24]*2, [1/24]*4]: squared sum (50 + 18 + 4) / 576 = 1/8
    expected = math.sqrt(1 / 8) / 2
    assert inter_frame_regulariser(g, pairs).item() == pytest.approx(expected, rel=1e-6)


def test_regulariser_is_zero_for_one_frame_with_finite_gradient():
    fmaps = CLIP[:, :1].clone().requires_grad_(True)
    reg = inter_frame_regulariser(spatial_attention(fmaps), sample_frame_pairs(1, 1))
    reg.backward()
    assert reg.item() == 0.0 and torch.isfinite(fmaps.grad).all()


def test_sample_frame_pairs_distinct_and_reproducible():
    gen = torch.Generator().manual_seed(0)
    pairs = sample_frame_pairs(2000, 4, generator=gen)            # (2000, 2)
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert pairs.min() >= 0 and pairs.max() <= 3
    assert len({tuple(p) for p in pairs.tolist()}) == 12          # every ordered pair i != j occurs
    again = sample_frame_pairs(2000, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(pairs, again)


# --------------------------------------------------------------------------- model
@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("sta", 5, backbone="resnet18")             # 64x32 input -> 4x2 map, K=4 blocks of 1 row


@pytest.mark.parametrize("T", [1, 3, 4, 8])
def test_forward_shapes_train_and_eval(model, T):
    x = torch.randn(2, T, 3, 64, 32)
    model.train()
    out = model(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 5) and out.features["feat"].shape == (2, 1024)
    assert out.regularizers["sta_reg"].dim() == 0
    if T == 1:
        assert out.regularizers["sta_reg"].item() == 0.0
    model.eval()
    with torch.no_grad():
        f = model(x).embedding
        out = model(x, return_attention=True)
        f2, att = out.embedding, out.attention
    assert isinstance(f, torch.Tensor) and f.shape == (2, 1024)
    assert torch.allclose(f, f2)
    assert set(att) == {"S", "g"}
    assert att["S"].shape == (2, T, 4) and att["g"].shape == (2, T, 4, 2)
    assert torch.allclose(att["S"].sum(1), torch.ones(2, 4), atol=1e-5)
    assert torch.allclose(att["g"].sum((2, 3)), torch.ones(2, T), atol=1e-5)


def test_gradients_reach_backbone(model):
    model.train()
    model.zero_grad()
    out = model(torch.randn(2, 4, 3, 64, 32))
    loss = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1])) + out.features["feat"].sum() * 1e-3 \
        + out.regularizers["sta_reg"]
    loss.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.backbone.layer4[-1].conv2.weight.grad.abs().sum() > 0


def test_reg_weight_and_options():
    m = build_model("sta", 3, backbone="resnet18", reg_weight=0.5, fusion="max", spatial_norm="l2", num_blocks=2)
    assert m.default_reg_weights == {"sta_reg": 0.5}
    assert m.head.embed[0].in_features == 512                     # one branch -> C channels
    m.eval()
    with torch.no_grad():
        out = m(torch.randn(1, 3, 3, 64, 32), return_attention=True)
        f, att = out.embedding, out.attention
    assert f.shape == (1, 1024) and att["S"].shape == (1, 3, 2)
    assert build_model("sta", 3, backbone="resnet18").head.embed[0].in_features == 1024  # both -> 2C
    for bad in ({"fusion": "sum"}, {"spatial_norm": "linf"}):
        with pytest.raises(ConfigError):
            build_model("sta", 3, backbone="resnet18", **bad)


def test_blocks_not_dividing_map_height_is_config_error():
    m = build_model("sta", 3, backbone="resnet18", num_blocks=3).eval()
    with pytest.raises(ConfigError, match="K=3 must divide the feature-map height 4"):
        m(torch.randn(1, 2, 3, 64, 32))
