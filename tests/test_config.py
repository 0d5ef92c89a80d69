import re

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
    ("train.epochs=abc", "train.epochs must be an integer, got 'abc'"),
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


@pytest.mark.parametrize("override, msg", [
    # each value used to be accepted: 2.5 epochs as a float, 'abc' as a stride (default None), 3 as the mean
    ("train.epochs=2.5", "train.epochs must be an integer, got 2.5 (float)"),
    ("model.last_stride=abc", "model.last_stride must be an integer or null, got 'abc' (str)"),
    ("data.mean=3", "data.mean must be a list of numbers, got 3 (int)"),
    ("data.std=[0.2, x, 0.2]", "data.std must be a list of numbers"),
    ("model.pretrained=3", "model.pretrained must be a string or null, got 3 (int)"),
    ("train.resume=[a]", "train.resume must be a string"),
    ("data.options=3", "data.options must be a mapping, got 3"),
])
def test_values_are_checked_against_the_field_annotation(override, msg):
    with pytest.raises(ConfigError, match="command line: " + re.escape(msg)):
        load_config(None, [override])


def test_values_are_coerced_by_the_field_annotation(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data: {mean: [1, 0.5, 0], height: 64.0}\noptim: {lr: 3.5e-4, warmup_factor: 1}\n")
    cfg = load_config(str(p), ["model.last_stride=1", "train.epochs=4.0", "model.pretrained=null"])
    assert cfg.data.mean == (1.0, 0.5, 0.0) and all(isinstance(v, float) for v in cfg.data.mean)
    assert cfg.data.height == 64 and isinstance(cfg.data.height, int)
    assert cfg.optim.lr == pytest.approx(3.5e-4) and isinstance(cfg.optim.warmup_factor, float)
    assert cfg.model.last_stride == 1 and cfg.train.epochs == 4 and isinstance(cfg.train.epochs, int)
    assert cfg.model.pretrained is None
    # a checkpoint's config comes back from JSON with lists for tuples: same coercion
    assert load_config(None, base=cfg.to_dict() | {"data": {"mean": [0.1, 0.2, 0.3]}}).data.mean == (0.1, 0.2, 0.3)


def test_every_shipped_config_loads():
    import glob
    import os
    configs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "*.yaml"))
    assert configs
    for path in configs:
        load_config(path)


@pytest.mark.parametrize("name,smoothing,soft", [
    ("sta_mars", 0.0, False),                                     # Fu et al.: softmax CE + batch-hard triplet
    ("nvan_mars", 0.0, True), ("ste_nvan_mars", 0.0, True),       # Liu et al.: plain CE + soft-margin triplet
    ("nvan_synthped", 0.0, True), ("ste_nvan_synthped", 0.0, True),
    ("tp_mars", 0.1, False), ("ta_mars", 0.1, False), ("rnn_mars", 0.1, False),  # Gao & Nevatia: eps = 0.1
])
def test_paper_configs_carry_their_papers_loss(name, smoothing, soft):
    """The losses methods.md records: label smoothing and hard (margin 0.3) or soft triplet margin."""
    import os
    cfg = load_config(os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", f"{name}.yaml"))
    assert cfg.loss.label_smoothing == smoothing and cfg.loss.triplet_soft_margin is soft
    assert soft or cfg.loss.triplet_margin == 0.3


def test_top_level_resume_is_an_alias_of_train_resume():
    assert load_config(None, ["resume=auto"]).train.resume == "auto"
    assert load_config(None, ["resume=runs/x/checkpoints/step_0000004.state.pt"]).train.resume.endswith(".state.pt")
    assert parse_overrides(["resume=auto"]) == {"train": {"resume": "auto"}}


def test_configs_of_earlier_versions_keep_their_soft_margin(tmp_path, capsys):
    """Before loss.triplet_soft_margin, triplet_margin <= 0 meant the soft margin: an old checkpoint's config and an
    old YAML file are read so (the YAML with a note); a file that says which, or an override, is taken as written."""
    from vidreid.config import Config, config_from_dict
    old = Config().to_dict()
    old["loss"] = {k: v for k, v in old["loss"].items() if k != "triplet_soft_margin"}
    old["loss"]["triplet_margin"] = -1.0
    cfg = config_from_dict(old)
    assert cfg.loss.triplet_soft_margin is True and cfg.loss.triplet_margin == 0.0
    assert load_config(None, [], base=old).loss.triplet_soft_margin is True
    path = tmp_path / "old.yaml"
    path.write_text("loss:\n  triplet_margin: 0\n")
    capsys.readouterr()
    assert load_config(str(path)).loss.triplet_soft_margin is True
    assert "read as the soft-margin triplet" in capsys.readouterr().err
    path.write_text("loss:\n  triplet_margin: 0\n  triplet_soft_margin: false\n")
    assert load_config(str(path)).loss.triplet_soft_margin is False and capsys.readouterr().err == ""
    assert load_config(None, ["loss.triplet_margin=0"]).loss.triplet_soft_margin is False
    old["loss"]["triplet_margin"] = 0.3
    assert config_from_dict(old).loss.triplet_soft_margin is False


def test_override_value_that_is_not_yaml_is_one_line():
    import pytest
    from vidreid.config import load_config
    from vidreid.errors import ConfigError
    with pytest.raises(ConfigError, match=r"override 'data.mean=\\x1f': the value is not valid YAML"):
        load_config(None, ["data.mean=\x1f"])


def test_override_inside_a_key_given_a_value_is_one_line():
    import pytest
    from vidreid.config import load_config
    from vidreid.errors import ConfigError
    with pytest.raises(ConfigError, match="data was given a value by an earlier override"):
        load_config(None, ["data=", "data.mean=[1,2,3]"])


def test_only_true_and_false_are_booleans(tmp_path):
    # YAML 1.1 reads off / on / yes / no as booleans: `train.amp=off` (the documented value) would be refused
    cfg = load_config(None, ["train.amp=off", "train.tensorboard=false", "data.dataset=no"])
    assert (cfg.train.amp, cfg.train.tensorboard, cfg.data.dataset) == ("off", False, "no")
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  amp: off\n  tensorboard: True\n")
    assert (load_config(str(path)).train.amp, load_config(str(path)).train.tensorboard) == ("off", True)
    with pytest.raises(ConfigError, match=r"train.tensorboard must be true/false, got 'yes'"):
        load_config(None, ["train.tensorboard=yes"])
