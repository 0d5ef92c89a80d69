"""The model registry checks options against the builder's signature: unknown keys are ConfigErrors naming them,
a TypeError raised inside a constructor is not disguised as one."""
import pytest
import torch

from vidreid.errors import ConfigError
from vidreid.models import build_model
from vidreid.models import registry


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry the test may add to (restored afterwards)."""
    monkeypatch.setattr(registry, "_MODELS", registry._MODELS.copy())
    return registry


def test_unknown_option_names_it_and_the_accepted_ones():
    with pytest.raises(ConfigError) as e:
        build_model("tp", 3, backbone="resnet18", bnnek=True)
    msg = str(e.value)
    assert "'tp'" in msg and "bnnek" in msg
    assert ("takes: backbone, bnneck, colour_bins, colour_dim, colour_region_x, colour_region_y, colour_skip, "
            "colour_stripes, last_stride, pretrained") in msg


def test_options_the_builder_sets_itself_are_not_options():
    with pytest.raises(ConfigError, match="does not take stripe"):
        build_model("nvan", 3, backbone="resnet18", stripe=True)
    # ste_nvan takes temporal_reduction (its ablation switch), nvan does not
    with pytest.raises(ConfigError, match="does not take temporal_reduction"):
        build_model("nvan", 3, backbone="resnet18", temporal_reduction=True)


def test_type_error_inside_a_constructor_propagates(scratch_registry):
    class Broken(torch.nn.Module):
        def __init__(self, num_classes: int, depth: int = 2):
            super().__init__()
            len(depth)                                            # a bug: TypeError from inside the constructor

    @scratch_registry.register_model(forwards_to=Broken)
    def broken(num_classes: int, **kwargs):
        return Broken(num_classes, **kwargs)

    with pytest.raises(TypeError, match="has no len"):
        build_model("broken", 3, depth=4)
    with pytest.raises(ConfigError, match="does not take width.*takes: depth"):
        build_model("broken", 3, width=4)


def test_open_ended_builders_accept_any_option(scratch_registry):
    @scratch_registry.register_model
    def open_ended(num_classes: int, **kwargs):
        return torch.nn.Linear(kwargs["anything"], num_classes)

    @scratch_registry.register_model
    def explicit(num_classes: int, width: int = 2):
        return torch.nn.Linear(width, num_classes)

    assert build_model("open_ended", 3, anything=5).in_features == 5
    assert build_model("explicit", 3, width=4).in_features == 4
    with pytest.raises(ConfigError, match="does not take depth.*takes: width"):
        build_model("explicit", 3, depth=4)


def test_one_registry_mechanism_carries_what_side_tables_held():
    """Models, backbones and datasets share utils/registry.Registry; what export, search and data check need to know
    about an entry is an attribute given where it is registered."""
    from vidreid.data.datasets import is_multi_split
    from vidreid.data.datasets.registry import _DATASETS
    from vidreid.models.backbones import _BACKBONES
    from vidreid.utils.registry import Registry
    assert all(isinstance(r, Registry) for r in (registry._MODELS, _BACKBONES, _DATASETS))
    assert registry.model_attribute("ste_nvan", "frame_multiple") == 4
    assert registry.model_attribute("nvan", "centre_by_default")
    assert not registry.model_attribute("tp", "centre_by_default")
    assert registry.model_attribute("no_such_model", "frame_multiple", 1) == 1
    assert is_multi_split("prid2011") and not is_multi_split("mars")
    r = Registry("thing")
    r.register(colour="red")(lambda: 1)
    assert r.names() == ["<lambda>"] and r.attribute("<lambda>", "colour") == "red"
    with pytest.raises(ConfigError, match="unknown thing 'x'; expected one of <lambda>"):
        r.builder("x")


@pytest.mark.parametrize("name, options, words", [
    ("sta", {"embed_dim": 0}, "option embed_dim is a size and must be >= 1, got 0"),
    ("drsta", {"attention_dim": -1}, "option attention_dim is a size and must be >= 1, got -1"),
    ("rnn", {"hidden_dim": 0}, "option hidden_dim is a size"),
    ("nvan", {"num_stripes": 0}, "option num_stripes is a size"),
    ("sta", {"reg_weight": -1.0}, "option reg_weight must be >= 0, got -1.0"),
    # a value only the layers can judge: the builder's own error, in one ConfigError naming the options
    ("nvan", {"nonlocal_blocks": [9, 9, 9, 9]}, r"cannot be built with .*nonlocal_blocks=\[9, 9, 9, 9\].*unpack"),
])
def test_out_of_range_model_options_are_config_errors(name, options, words):
    with pytest.raises(ConfigError, match=words):
        build_model(name, 3, backbone="resnet18", **options)
