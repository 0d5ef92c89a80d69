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
    with pytest.raises(CheckpointError, match="could not download ImageNet weights.*pretrained=/path"):
        build_backbone("resnet18", pretrained="imagenet")
