"""model.freeze_stages: the stem and first N backbone stages keep their weights and batch-norm statistics."""
import pytest
import torch

from vidreid.builders import build_for_dataset, build_optimizer
from vidreid.config import Config
from vidreid.errors import ConfigError


def _cfg(freeze):
    cfg = Config()
    cfg.data.height, cfg.data.width = 64, 32
    cfg.model.name, cfg.model.backbone, cfg.model.last_stride = "tp", "mobilenetv2", 1
    cfg.model.freeze_stages = freeze
    return cfg


def test_freeze_two_stages_keeps_them_and_trains_the_rest():
    torch.manual_seed(0)
    model = build_for_dataset(_cfg(2), num_classes=3, pretrained=False)
    bb = model.backbone
    frozen = list(bb.features[0].parameters()) + [p for i in range(2) for p in bb.stage(i).parameters()]
    trainable = [p for i in range(2, len(bb.feature_info)) for p in bb.stage(i).parameters()]
    assert frozen and trainable and all(not p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in trainable)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = build_optimizer(model, _cfg(2))
    model.train()
    assert all(not bb.get_submodule(n).training for n in bb._frozen_norms) and bb.stage(2)[0].training
    out = model(torch.randn(6, 2, 3, 64, 32))
    (out.logits if torch.is_tensor(out.logits) else out.logits[0]).logsumexp(1).mean().backward()
    opt.step()
    after = model.state_dict()
    stage0 = [k for k in after if k.startswith("backbone.features.0.") or k.startswith("backbone.features.1.")]
    assert stage0 and all(torch.equal(before[k], after[k]) for k in stage0)   # weights AND running stats
    last = [k for k in after if k.startswith("backbone.features.18.") and k.endswith("running_mean")]
    assert last and not all(torch.equal(before[k], after[k]) for k in last)


def test_freeze_zero_is_the_default_and_out_of_range_is_a_config_error():
    model = build_for_dataset(_cfg(0), num_classes=3, pretrained=False)
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ConfigError, match="freeze_stages"):
        build_for_dataset(_cfg(9), num_classes=3, pretrained=False)


def test_frozen_norms_stay_frozen_after_sync_batchnorm_conversion():
    """train.sync_bn converts every norm after the model is built (and frozen): the converted norms of the frozen
    stages must stay in eval mode too (they used to train: DDP runs then differed from one process)."""
    model = build_for_dataset(_cfg(2), num_classes=3, pretrained=False)
    model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.train()
    frozen = [m for name, m in model.backbone.named_modules()
              if isinstance(m, torch.nn.SyncBatchNorm) and not m.weight.requires_grad]
    assert len(frozen) > 3 and all(not m.training for m in frozen)
    assert model.backbone.stage(2)[0].training
