"""RRU + STIM (methods.md, "RRU + STIM"): the gated recurrence on hand-set gates, STIM, streaming, model shapes."""
import pytest
import torch

from vidreid.errors import ConfigError
from vidreid.models import ModelOutput, build_model
from vidreid.models.rru import RRU, STIM


def _force_gate(rru: RRU, spatial_bias: float, channel_bias: float) -> None:
    """Zero the last conv of both branches and set their biases: z = sigmoid(spatial_bias * channel_bias)."""
    with torch.no_grad():
        for conv, bias in ((rru.spatial_out, spatial_bias), (rru.channel_out, channel_bias)):
            conv.weight.zero_()
            conv.bias.fill_(bias)


def _inputs(n=2, c=4, h=3, w=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, c, h, w, generator=g) for _ in range(3)]   # S_prev, X_prev, X_t


def test_gate_one_takes_the_new_frame():
    rru = RRU(4, (3, 2), hidden=8)
    _force_gate(rru, 20.0, 20.0)                                       # z = sigmoid(400) = 1
    S_prev, X_prev, X_t = _inputs()
    S_t, z = rru.step(S_prev, X_prev, X_t)
    assert torch.equal(z, torch.ones_like(z))
    assert torch.equal(S_t, X_t)


def test_gate_zero_keeps_the_history():
    rru = RRU(4, (3, 2), hidden=8)
    _force_gate(rru, 20.0, -20.0)                                      # z = sigmoid(-400) = 0
    S_prev, X_prev, X_t = _inputs()
    S_t, z = rru.step(S_prev, X_prev, X_t)
    assert torch.equal(z, torch.zeros_like(z))
    assert torch.equal(S_t, S_prev)


def test_gate_half_averages():
    rru = RRU(4, (3, 2), hidden=8)
    _force_gate(rru, 0.0, 0.0)                                         # z = sigmoid(0) = 1/2
    S_prev, X_prev, X_t = _inputs()
    S_t, _ = rru.step(S_prev, X_prev, X_t)
    torch.testing.assert_close(S_t, (S_prev + X_t) / 2)


def test_gate_is_spatial_times_channel():
    """logit(z) = s(position) * c(channel): a rank-1 (C, h*w) matrix per sample."""
    torch.manual_seed(0)
    rru = RRU(5, (3, 2), hidden=8).double().eval()
    S_prev, X_prev, X_t = (t.double() for t in _inputs(c=5))
    z = rru.gate(S_prev, X_prev, X_t)
    assert z.shape == (2, 5, 3, 2) and ((z > 0) & (z < 1)).all()
    logits = torch.logit(z).flatten(2)                                 # (N, C, h*w)
    singular = torch.linalg.svdvals(logits)
    assert (singular[:, 1:] < 1e-8 * singular[:, :1]).all()


def test_gate_inputs_are_the_two_differences():
    """The gate sees only S_{t-1} - X_t and X_t - X_{t-1}: shifting all three maps by a constant changes nothing."""
    torch.manual_seed(0)
    rru = RRU(4, (3, 2), hidden=8).eval()
    S_prev, X_prev, X_t = _inputs()
    z1 = rru.gate(S_prev, X_prev, X_t)
    z2 = rru.gate(S_prev + 3.0, X_prev + 3.0, X_t + 3.0)
    torch.testing.assert_close(z1, z2)


def test_recurrence_over_time():
    torch.manual_seed(0)
    rru = RRU(4, (3, 2), hidden=8).eval()
    X = torch.randn(2, 4, 4, 3, 2)                                     # (B, T, C, h, w)
    S, gates = rru(X)
    assert S.shape == X.shape and gates.shape == (2, 4, 3, 2)
    assert torch.equal(S[:, 0], X[:, 0]) and torch.equal(gates[:, 0], torch.ones(2, 3, 2))  # S_0 = X_0
    S_manual = X[:, 0]
    for t in range(1, 4):
        S_manual, z = rru.step(S_manual, X[:, t - 1], X[:, t])
        torch.testing.assert_close(S[:, t], S_manual)
        torch.testing.assert_close(gates[:, t], z.mean(1))


def test_rru_wrong_map_size_is_a_config_error():
    rru = RRU(4, (3, 2), hidden=8)
    S_prev, X_prev, X_t = _inputs(h=4)
    with pytest.raises(ConfigError, match="input_size"):
        rru.step(S_prev, X_prev, X_t)



# --------------------------------------------------------------------------- STIM
@pytest.mark.parametrize("T", [1, 2, 5])
def test_stim_shape_and_padding(T):
    """Explicit zero time padding + Conv3d(padding=(0, 1, 1)) == Conv3d(padding=1) on the projected maps."""
    torch.manual_seed(0)
    stim = STIM(6, dim=8).eval()
    S = torch.randn(2, 6, T, 3, 2)                                     # (B, C, T, h, w)
    out = stim(S)
    assert out.shape == (2, 8)
    reference = torch.nn.Conv3d(8, 8, 3, padding=1, bias=False)
    reference.weight.data.copy_(stim.temporal[0].weight)
    expected = stim.temporal[2](stim.temporal[1](reference(stim.project(S)))).mean((2, 3, 4))
    torch.testing.assert_close(out, expected)


# --------------------------------------------------------------------------- the model
def _model(**kw):
    torch.manual_seed(0)
    return build_model("rru_stim", num_classes=5, backbone="resnet18", input_size=(64, 32), **kw)


def test_part_features_by_hand():
    m = _model(num_parts=2)
    S = torch.zeros(1, 2, 1, 4, 2)                                     # (B, T, C=1, h=4, w=2)
    S[0, 0, 0] = torch.tensor([[1.0, 3.0], [5.0, 7.0], [0.0, 0.0], [2.0, 2.0]])
    S[0, 1, 0] = torch.tensor([[1.0, 1.0], [1.0, 1.0], [4.0, 4.0], [0.0, 2.0]])
    # mean over T and W per row: [1.5, 3.5, 2.0, 1.5]; parts = rows {0, 1} and {2, 3}
    assert m.part_features(S).tolist() == [[[2.5], [1.75]]]                # (B, P, C): per-part triplet
    assert _model(num_parts=2, part_triplet="concat").part_features(S).tolist() == [[2.5, 1.75]]


@pytest.mark.parametrize("T", [1, 3, 8])
def test_rru_stim_train_and_eval_shapes(T):
    m = _model()
    x = torch.randn(2, T, 3, 64, 32)
    out = m.train()(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 5)
    assert out.features["feat"].shape == (2, 256)
    assert out.features["parts"].shape == (2, 4, 512)                   # 4 parts x resnet18's 512 channels
    m.eval()
    with torch.no_grad():
        f = m(x).embedding
        out = m(x, return_attention=True)
        f2, attention = out.embedding, out.attention
    assert f.shape == (2, 256)
    torch.testing.assert_close(f, f2)
    assert attention["gates"].shape == (2, T, 4, 2)
    assert torch.equal(attention["gates"][:, 0], torch.ones(2, 4, 2))


def test_streaming_equals_one_shot():
    m = _model().eval()
    x = torch.randn(2, 7, 3, 64, 32)
    with torch.no_grad():
        S, gates = m.rru(m.frame_maps(x))
        expected = m.stim(S.transpose(1, 2))                           # all frames at once
        for chunk in (1, 3, 100):
            f, attention = m.forward_stream(x, chunk=chunk, return_attention=True)
            torch.testing.assert_close(f, expected)
            torch.testing.assert_close(attention["gates"], gates)
        chunks = iter([x[:, :2], x[:, 2:3], x[:, 3:]])                  # a reader yielding uneven chunks
        torch.testing.assert_close(m.forward_stream(chunks)[0], expected)


def test_wrong_input_size_is_a_config_error():
    m = _model().eval()
    with torch.no_grad(), pytest.raises(ConfigError, match="input_size"):
        m(torch.randn(1, 2, 3, 96, 32))
