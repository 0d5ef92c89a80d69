"""TA and RNN baselines (Gao & Nevatia, BMVC 2018)."""
import pytest
import torch

from vidreid.errors import ConfigError
from vidreid.engine.loss_terms import batch_hard_triplet, cross_entropy
from vidreid.models import ModelOutput, build_model
from vidreid.models.backbones import build_backbone
from vidreid.models.temporal import temporal_attention_weights


# --------------------------------------------------------------------------- TA formulas
def test_temporal_attention_weights_softmax_hand_values():
    scores = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    w = temporal_attention_weights(scores)                        # (2, 2)
    e = torch.exp(torch.tensor(2.0))
    assert torch.allclose(w, torch.tensor([[0.5, 0.5], [1 / (1 + e), e / (1 + e)]]))
    assert torch.allclose(w.sum(1), torch.ones(2))


@pytest.mark.parametrize("size,last_stride,expected", [
    ((256, 128), 1, (16, 8)), ((256, 128), 2, (8, 4)), ((224, 112), 2, (7, 4)), ((64, 32), 1, (4, 2))])
def test_feature_map_size_formula(size, last_stride, expected):
    assert build_backbone("resnet18", last_stride).map_size(size) == expected


@pytest.mark.parametrize("arch", ["resnet18", "mobilenetv2", "efficientnet_lite0"])
@pytest.mark.parametrize("last_stride", [1, 2])
def test_feature_map_size_matches_backbone_on_odd_sizes(arch, last_stride):
    net = build_backbone(arch, last_stride).eval()
    for size in [(70, 30), (299, 299), (33, 17)]:
        with torch.no_grad():
            out = net(torch.randn(1, 3, *size))
        assert tuple(out.shape[2:]) == net.map_size(size), size


# --------------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def ta_model():
    torch.manual_seed(0)
    return build_model("ta", 5, backbone="resnet18", input_size=(64, 32))


@pytest.fixture(scope="module")
def rnn_model():
    torch.manual_seed(0)
    return build_model("rnn", 5, backbone="resnet18")


@pytest.mark.parametrize("T", [1, 3, 4, 8])
def test_ta_shapes_train_and_eval(ta_model, T):
    x = torch.randn(2, T, 3, 64, 32)
    ta_model.train()
    out = ta_model(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 5) and out.features["feat"].shape == (2, 512)
    assert out.attention["temporal"].shape == (2, T)
    ta_model.eval()
    with torch.no_grad():
        f = ta_model(x).embedding
        out = ta_model(x, return_attention=True)
        f2, att = out.embedding, out.attention
    assert isinstance(f, torch.Tensor) and f.shape == (2, 512) and torch.allclose(f, f2)
    assert set(att) == {"temporal"} and att["temporal"].shape == (2, T)
    assert torch.allclose(att["temporal"].sum(1), torch.ones(2))


@pytest.mark.parametrize("T", [1, 3, 4, 8])
def test_rnn_shapes_train_and_eval(rnn_model, T):
    x = torch.randn(2, T, 3, 64, 32)
    rnn_model.train()
    out = rnn_model(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 5) and out.features["feat"].shape == (2, 512)
    rnn_model.eval()
    with torch.no_grad():
        f = rnn_model(x).embedding
        out = rnn_model(x, return_attention=True)
        f2, att = out.embedding, out.attention
    assert isinstance(f, torch.Tensor) and f.shape == (2, 512) and torch.allclose(f, f2)
    assert att == {}


def test_rnn_feature_is_time_average_of_lstm_outputs(rnn_model):
    rnn_model.eval()
    x = torch.randn(1, 3, 3, 64, 32)
    with torch.no_grad():
        frame_feats = rnn_model.backbone(x.flatten(0, 1)).mean((2, 3))[None]   # (1, 3, 512)
        expected = rnn_model.lstm(frame_feats)[0].mean(1)                       # (1, 512)
        assert torch.allclose(rnn_model(x).embedding, expected, atol=1e-6)


@pytest.mark.parametrize("name", ["ta", "rnn"])
def test_gradients_reach_backbone(name, ta_model, rnn_model):
    model = {"ta": ta_model, "rnn": rnn_model}[name]
    model.train()
    model.zero_grad()
    out = model(torch.randn(2, 4, 3, 64, 32))
    loss = cross_entropy(out.logits, torch.tensor([0, 1])) + out.features["feat"].pow(2).mean()
    loss.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    if name == "ta":  # the attention branch is in the graph too
        assert model.spatial_conv.weight.grad.abs().sum() > 0
        assert model.temporal_conv.weight.grad.abs().sum() > 0


def test_ta_rejects_input_size_it_was_not_built_for(ta_model):
    ta_model.eval()
    with pytest.raises(ConfigError, match="input_size"):
        ta_model(torch.randn(1, 2, 3, 128, 64))


def test_ta_really_attends_after_training():
    """Gao & Nevatia's factory maps "ta" to pooling (uniform weights); ours must learn to weigh frames.

    Two frames of every clip are blanked; a few CE + triplet steps must move the weights well away from 1/T and
    give the blank frames less weight than the informative ones.
    """
    torch.manual_seed(0)
    model = build_model("ta", 4, backbone="resnet18", input_size=(32, 16))
    B, T = 8, 4
    pids = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    appearance = torch.randn(4, 3, 32, 16)[pids]                  # (B, 3, 32, 16) one look per identity
    x = appearance[:, None].repeat(1, T, 1, 1, 1) + 0.1 * torch.randn(B, T, 3, 32, 16)  # (B, T, 3, 32, 16)
    x[:, [1, 3]] = 0.0                                            # blanked frames
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(8):
        out = model(x)
        loss = cross_entropy(out.logits, pids, 0.1) + batch_hard_triplet(out.features["feat"], pids)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(x, return_attention=True)
        _, att = out.embedding, out.attention
    w = att["temporal"]                                           # (B, T)
    assert torch.allclose(w.sum(1), torch.ones(B), atol=1e-5)
    assert (w - 1 / T).abs().max() > 0.1                          # not uniform
    assert (w[:, [1, 3]].mean(1) < w[:, [0, 2]].mean(1)).all()    # blank frames weigh less


def test_ta_default_is_the_papers_last_stride_2_and_its_parameter_count():
    """TA's spatial conv spans the whole map, so its size follows last_stride. Default: the paper's stride 2
    (ResNet-50, 256x128 -> 8x4 map), 41.57 M parameters with 625 classes; stride 1 would give a 16x8 kernel and a
    67.1 M-weight conv alone."""
    with torch.device("meta"):                                    # shapes only: no memory, no init time
        m = build_model("ta", 625)
        m1 = build_model("ta", 625, last_stride=1)
    assert m.map_size == (8, 4) and m1.map_size == (16, 8)
    backbone = sum(p.numel() for p in m.backbone.parameters())
    assert backbone == 23_508_032                                 # torchvision's resnet50 without fc
    spatial, temporal, classifier = 2048 * 256 * 8 * 4 + 256, 256 * 3 + 1, 2048 * 625 + 625
    assert sum(p.numel() for p in m.parameters()) == backbone + spatial + temporal + classifier == 41_566_898
    assert m1.spatial_conv.weight.numel() == 2048 * 256 * 16 * 8 == 67_108_864
