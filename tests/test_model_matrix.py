"""Every method x every backbone builds, trains a step and evaluates through the one model interface
(vidreid.models.base): `ModelOutput` in training and eval, an explicit feat_dim, default regulariser weights."""
import pytest
import torch

from vidreid.errors import ConfigError
from vidreid.engine.loss_terms import batch_hard_triplet, cross_entropy
from vidreid.models import ModelOutput, build_model, list_models
from vidreid.models.backbones import list_backbones
from vidreid.models.base import VideoReIDModel

# (method, backbone) pairs vidreid refuses, and the words its error must contain (none today: every method places
# its blocks through the backbone's stage interface)
REFUSED: dict[tuple[str, str], str] = {}


def test_the_matrix_is_complete():
    assert len(list_models()) == 8 and len(list_backbones()) == 5


@pytest.mark.parametrize("backbone", list_backbones())
@pytest.mark.parametrize("name", list_models())
def test_method_on_backbone(name, backbone):
    torch.manual_seed(0)
    if (name, backbone) in REFUSED:
        with pytest.raises(ConfigError, match=REFUSED[name, backbone]):
            build_model(name, 4, input_size=(64, 32), backbone=backbone)
        return
    model = build_model(name, 4, input_size=(64, 32), backbone=backbone)
    assert isinstance(model, VideoReIDModel) and isinstance(model.default_reg_weights, dict)
    pids = torch.tensor([0, 0, 1, 1])
    x = torch.randn(4, 4, 3, 64, 32)                                    # (B, T, 3, H, W)
    out = model.train()(x)
    assert isinstance(out, ModelOutput) and out.embedding.shape == (4, model.feat_dim)
    logits = out.logits if isinstance(out.logits, list) else [out.logits]
    loss = sum(cross_entropy(lg, pids, 0.1) for lg in logits) / len(logits)
    loss = loss + sum(batch_hard_triplet(f, pids) for f in out.features.values())
    loss = loss + sum(model.default_reg_weights.get(k, 1.0) * r for k, r in out.regularizers.items())
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    opt.zero_grad()
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())
    opt.step()
    model.eval()
    with torch.no_grad():
        plain = model(x)
        explained = model(x, return_attention=True)
    assert isinstance(plain, ModelOutput) and plain.embedding.shape == (4, model.feat_dim)
    assert torch.isfinite(plain.embedding).all() and not plain.regularizers and not plain.attention
    torch.testing.assert_close(plain.embedding, explained.embedding)
    for v in explained.attention.values():
        assert v.shape[0] == 4 and torch.isfinite(v).all()
