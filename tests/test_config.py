import pytest

from vidreid.config import load_config, parse_overrides
from vidreid.errors import ConfigError


def test_defaults_yaml_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: {name: tp, backbone: resnet18, kwargs: {bnneck: true}}\ntrain: {epochs: 3}\n")
    cfg = load_config(str(p), ["train.epochs=5", "optim.lr=1e-3", "model.kwargs.num_parts=4", "data.flip=0"])
    assert cfg.model.backbone == "resnet18"
    assert cfg.train.epochs == 5 and isinstance(cfg.train.epochs, int)
    assert cfg.optim.lr == pytest.approx(1e-3)
    assert cfg.model.kwargs == {"bnneck": True, "num_parts": 4}
    assert cfg.data.flip == 0.0 and isinstance(cfg.data.flip, float)
    assert cfg.data.seq_len == 4  # untouched default


@pytest.mark.parametrize("override, msg", [
    ("train.epoch=5", "unknown config key 'train.epoch'"),
    ("trian.epochs=5", "unknown config key 'trian'"),
    ("train.epochs=abc", "must be a number"),
    ("eval.rerank=3", "true/false"),
    ("train.epochs", "key=value"),
])
def test_bad_overrides_are_clear_errors(override, msg):
    with pytest.raises(ConfigError, match=msg.replace("(", r"\(")):
        load_config(None, [override])


def test_unknown_key_in_file_names_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("data: {datset: mars}\n")
    with pytest.raises(ConfigError, match="bad.yaml.*data.datset"):
        load_config(str(p))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    p = tmp_path / "broken.yaml"
    p.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(str(p))


def test_parse_overrides_nested():
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}


def test_base_then_file_then_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train: {epochs: 7}\n")
    cfg = load_config(str(p), ["train.seed=3"], base={"train": {"epochs": 1, "seed": 1}, "model": {"name": "sta"}})
    assert (cfg.train.epochs, cfg.train.seed, cfg.model.name) == (7, 3, "sta")
