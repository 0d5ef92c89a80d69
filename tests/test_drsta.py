"""DRSTA (Li et al., CVPR 2018): the formulas on hand-made attention maps, then the model."""
import pytest
import torch

from vidreid.errors import ConfigError
from vidreid.models import ModelOutput, build_model
from vidreid.models.drsta import attend_parts, hellinger_diversity, temporal_pool_parts


def one_hot_maps(positions: list[int], num_positions: int) -> torch.Tensor:
    """One frame's K x L attention matrix, map k a one-hot at positions[k]."""
    return torch.nn.functional.one_hot(torch.tensor(positions), num_positions).float()  # (K, L)


# --------------------------------------------------------------------------- formulas
def test_hellinger_zero_for_disjoint_one_hot_maps():
    A = one_hot_maps([0, 3, 5, 7], 8)[None]                       # (1, K=4, L=8)
    assert hellinger_diversity(A).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("K", [2, 4, 6])
def test_hellinger_maximal_for_identical_maps(K):
    A = one_hot_maps([2] * K, 8)[None]                            # Q Q^T = all ones -> ||J - I||^2 = K^2 - K
    assert hellinger_diversity(A).item() == pytest.approx(K * K - K, rel=1e-5)
    uniform = torch.full((1, K, 8), 1 / 8)                        # identical uniform maps: same maximum
    assert hellinger_diversity(uniform).item() == pytest.approx(K * K - K, rel=1e-5)


def test_hellinger_hand_value_and_frame_average():
    # frame 0: rows (1, 0) and (1/2, 1/2) -> Q Q^T off-diagonal sqrt(1/2) -> R = 2 * 1/2 = 1
    # frame 1: disjoint -> 0; average over the 2 frames = 0.5
    A = torch.tensor([[[1.0, 0.0], [0.5, 0.5]],
                      [[1.0, 0.0], [0.0, 1.0]]])                  # (N=2, K=2, L=2)
    assert hellinger_diversity(A).item() == pytest.approx(0.5, rel=1e-5)


def test_hellinger_pairs_normalisation_by_hand():
    """norm="pairs": R / (K^2 - K), in [0, 1] whatever K."""
    same = one_hot_maps([2, 2], 8)[None]                          # 2 identical maps: Q Q^T - I = [[0, 1], [1, 0]]
    assert hellinger_diversity(same).item() == pytest.approx(2.0, rel=1e-6)             # the paper's sum
    assert hellinger_diversity(same, "pairs").item() == pytest.approx(1.0, rel=1e-6)    # 1 per pair
    disjoint = one_hot_maps([0, 3, 5, 7], 8)[None]
    assert hellinger_diversity(disjoint, "pairs").item() == pytest.approx(0.0, abs=1e-6)
    # K = 6 uniform maps (near what softmax attention starts as): R = 30, normalised 1
    uniform = torch.full((1, 6, 8), 1 / 8)
    assert hellinger_diversity(uniform).item() == pytest.approx(30.0, rel=1e-5)
    assert hellinger_diversity(uniform, "pairs").item() == pytest.approx(1.0, rel=1e-5)
    # frame 0 of the hand case below: Bhattacharyya coefficient sqrt(1/2) -> squared 1/2 per ordered pair
    half = torch.tensor([[[1.0, 0.0], [0.5, 0.5]]])
    assert hellinger_diversity(half, "pairs").item() == pytest.approx(0.5, rel=1e-5)
    # K = 1: nothing to diversify, 0 either way
    assert hellinger_diversity(one_hot_maps([1], 4)[None], "pairs").item() == pytest.approx(0.0, abs=1e-6)


def test_model_diversity_norm_option():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 3, 64, 32)
    regs = {}
    for norm in ("pairs", "sum"):
        torch.manual_seed(0)
        m = build_model("drsta", 5, backbone="resnet18", num_parts=3, attention_dim=8, diversity_norm=norm).train()
        regs[norm] = m(x).regularizers["drsta_div"].item()
    assert regs["sum"] == pytest.approx(6 * regs["pairs"], rel=1e-5)  # K = 3: K^2 - K = 6
    assert build_model("drsta", 5, backbone="resnet18").diversity_norm == "sum"     # the default (models.md)
    with pytest.raises(ConfigError, match="diversity_norm"):
        build_model("drsta", 5, backbone="resnet18", diversity_norm="mean")


def test_hellinger_gradient_finite_at_zero_attention():
    A = one_hot_maps([0, 0], 4)[None].requires_grad_(True)
    hellinger_diversity(A).backward()
    assert torch.isfinite(A.grad).all()


def test_attend_parts_hand_values():
    fmaps = torch.tensor([[[1., 2., 3., 4.],                      # (N=1, C=2, L=4)
                           [0., 10., 0., 20.]]])
    A = torch.tensor([[[0., 1., 0., 0.],                          # part 0: position 1
                       [0.5, 0., 0., 0.5]]])                      # part 1: mean of positions 0 and 3
    parts = attend_parts(A, fmaps)                                # (1, K=2, C=2)
    assert torch.allclose(parts, torch.tensor([[[2., 10.], [2.5, 10.]]]))


def test_temporal_pool_parts_hand_values():
    parts = torch.tensor([[[[1., 0.], [4., 4.]],                  # (B=1, T=2, K=2, D=2)
                           [[3., 2.], [0., 0.]]]])
    scores = torch.tensor([[[0., 5.], [0., 5.]]])                 # part 0: equal scores; part 1: equal too
    pooled, w = temporal_pool_parts(parts, scores)
    assert torch.allclose(w, torch.full((1, 2, 2), 0.5))
    assert torch.allclose(pooled, torch.tensor([[[2., 1.], [2., 2.]]]))
    scores = torch.tensor([[[0., 100.], [100., 0.]]])             # part 0 -> frame 1, part 1 -> frame 0
    pooled, w = temporal_pool_parts(parts, scores)
    assert torch.allclose(w.sum(1), torch.ones(1, 2))
    assert torch.allclose(pooled, torch.tensor([[[3., 2.], [4., 4.]]]))


# --------------------------------------------------------------------------- model
@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("drsta", 5, backbone="resnet18", num_parts=3, attention_dim=16)  # 64x32 -> 2x1 map


@pytest.mark.parametrize("T", [1, 3, 4, 8])
def test_forward_shapes_train_and_eval(model, T):
    x = torch.randn(2, T, 3, 64, 32)
    model.train()
    out = model(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 5) and out.features["feat"].shape == (2, 3 * 512)
    reg = out.regularizers["drsta_div"]
    assert reg.dim() == 0 and 0.0 <= reg.item() <= 3 * 3 - 3 + 1e-4  # the default: the paper's sum, <= K^2 - K
    model.eval()
    with torch.no_grad():
        f = model(x).embedding
        out = model(x, return_attention=True)
        f2, att = out.embedding, out.attention
    assert isinstance(f, torch.Tensor) and f.shape == (2, 3 * 512) and torch.allclose(f, f2)
    assert set(att) == {"spatial", "temporal"}
    assert att["spatial"].shape == (2, T, 3, 2, 1) and att["temporal"].shape == (2, T, 3)
    assert torch.allclose(att["spatial"].sum((3, 4)), torch.ones(2, T, 3), atol=1e-5)  # sums to 1 over positions
    assert torch.allclose(att["temporal"].sum(1), torch.ones(2, 3), atol=1e-5)          # sums to 1 over frames


def test_larger_map_and_part_projection():
    torch.manual_seed(0)
    m = build_model("drsta", 4, backbone="resnet18", part_dim=32, attention_dim=8, reg_weight=0.1).eval()
    assert m.default_reg_weights == {"drsta_div": 0.1}
    with torch.no_grad():
        out = m(torch.randn(1, 2, 3, 256, 128), return_attention=True)  # last stride 2: 8x4 map
        f, att = out.embedding, out.attention
    assert f.shape == (1, 6 * 32)
    assert att["spatial"].shape == (1, 2, 6, 8, 4) and att["temporal"].shape == (1, 2, 6)


def test_gradients_reach_backbone(model):
    model.train()
    model.zero_grad()
    out = model(torch.randn(2, 4, 3, 64, 32))
    loss = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1])) \
        + out.features["feat"].pow(2).mean() + out.regularizers["drsta_div"]
    loss.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.spatial_attention[0].weight.grad.abs().sum() > 0
    assert model.temporal_weight.grad.abs().sum() > 0


def test_bad_num_parts():
    with pytest.raises(ConfigError):
        build_model("drsta", 3, backbone="resnet18", num_parts=0)
