"""The inference layer: one feature-space identity for feature files and indexes, one sampling policy."""
import warnings

import pytest
import torch


@pytest.fixture(scope="module")
def tp_checkpoint(tmp_path_factory):
    from vidreid.builders import build_for_dataset
    from vidreid.config import Config
    from vidreid.store.checkpoint import save_checkpoint
    cfg = Config()
    cfg.model.name, cfg.model.backbone, cfg.model.pretrained = "tp", "resnet18", None
    cfg.data.height, cfg.data.width = 64, 32
    torch.manual_seed(0)
    model = build_for_dataset(cfg, 5)
    path = str(tmp_path_factory.mktemp("ck") / "tp.safetensors")
    save_checkpoint(path, model, {"model": "tp", "num_classes": 5, "config": cfg.to_dict(), "epoch": 1})
    return path, model, cfg


def test_one_model_hash_for_cache_index_and_export(tp_checkpoint, tmp_path):
    """The feature cache's key, the search extractor's (index) hash and the hash of the checkpoint file are one value;
    re-saving the weights with other metadata keeps it, other weights or another input size change it."""
    from vidreid.store.checkpoint import save_checkpoint
    from vidreid.inference.feature_cache import feature_key
    from vidreid.config import config_from_dict
    from vidreid.store.checkpoint import checkpoint_hash
    from vidreid.store.identity import model_hash
    from vidreid.search.extractor import FeatureExtractor
    path, model, cfg = tp_checkpoint
    h = checkpoint_hash(path)
    assert len(h) == 64 and h == model_hash(model, cfg) == FeatureExtractor(path).model_hash
    key, _ = feature_key(path, cfg, "synthped", str(tmp_path), [], "dense")
    assert key.model_hash == h
    resaved = str(tmp_path / "epoch9.safetensors")
    save_checkpoint(resaved, model, {"model": "tp", "num_classes": 5, "config": cfg.to_dict(), "epoch": 9})
    assert checkpoint_hash(resaved) == h
    cfg2 = config_from_dict(cfg.to_dict())
    cfg2.data.height = 128
    assert model_hash(model, cfg2) != h
    state = {k: v.clone() for k, v in model.state_dict().items()}
    first = next(k for k, v in state.items() if v.dtype.is_floating_point)
    state[first].view(-1)[0] += 1e-3
    assert model_hash(state, cfg) != h


def test_one_sampling_policy(tp_checkpoint):
    """`all` on a model that cannot stream falls back to dense clips with one warning, for eval and search alike."""
    from vidreid.config import Config
    from vidreid.inference.extract import SamplingFallbackWarning, resolve_sampling, sampling_plan
    from vidreid.builders import build_for_dataset
    _, tp, cfg = tp_checkpoint
    assert sampling_plan(tp, cfg, "all") == ("all", "stream")
    assert sampling_plan(tp, cfg, "rrs") == ("rrs", "clips")
    ncfg = Config()
    ncfg.model.name, ncfg.model.backbone, ncfg.model.pretrained = "nvan", "resnet18", None
    ncfg.data.height, ncfg.data.width = 64, 32
    nvan = build_for_dataset(ncfg, 5)
    with pytest.warns(SamplingFallbackWarning, match="nvan cannot stream"):
        assert sampling_plan(nvan, ncfg, "all") == ("dense", "dense-fallback")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sampling_plan(nvan, ncfg, "dense") == ("dense", "clips")
    ncfg.eval.sampling, ncfg.data.test_sampling = "", "evenly"
    assert resolve_sampling(ncfg) == "evenly" and resolve_sampling(ncfg, "rrs") == "rrs"
    ncfg.eval.sampling = "dense"
    assert resolve_sampling(ncfg) == "dense"
