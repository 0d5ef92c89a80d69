"""The body-colour branch (vidreid/models/colour_branch.py): its histograms are the classical colour_hist's, its
HSV the classical formula's, and TP with the branch streams exactly and trains through it."""
import numpy as np
import torch

from vidreid.models import build_model
from vidreid.models.classical import colour
from vidreid.models.classical.model import colour_hist
from vidreid.models.colour_branch import BodyColour, rgb_to_hsv

MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalised(px: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> normalised (N, 3, H, W) float32, as the data loader gives frames."""
    return (torch.from_numpy(px).permute(0, 3, 1, 2).float() / 255.0 - MEAN) / STD


def test_hsv_matches_the_classical_formula_on_hand_checked_colours():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128], [255, 255, 0], [0, 0, 0]]], np.uint8)
    want = colour.rgb_to_hsv(rgb)                                      # (1, 6, 3)
    got = rgb_to_hsv(torch.from_numpy(rgb).permute(2, 0, 1)[None].double() / 255.0)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)
    # red: hue 0; green: 1/3; blue: 2/3; grey: saturation 0, value 128/255; yellow: hue 1/6; black: all 0
    np.testing.assert_allclose(got[0, :, 0], [0, 1 / 3, 2 / 3, 0, 1 / 6, 0], atol=1e-12)
    np.testing.assert_allclose(got[0, 3], [0, 0, 128 / 255], atol=1e-12)


def test_histograms_equal_the_classical_body_colour_features():
    rng = np.random.default_rng(0)
    px = rng.integers(0, 256, (5, 32, 16, 3), dtype=np.uint8)
    px[:, :, 7:9] = [124, 116, 104]                                    # a strip of the suppress fill in the region
    for skip in (None, [124, 116, 104]):
        kw = dict(bins=16, stripes=2, region_x=(0.385, 0.615), region_y=(0.15, 0.85), skip_colour=skip)
        classical = colour_hist(input_size=(32, 16), spaces=("hsv",), **kw)
        want = classical.frame_features(px)                            # (5, 96)
        got = BodyColour(8, **{k: v for k, v in kw.items()}).frame_histograms(normalised(px)).numpy()
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert got.shape == (5, 2 * 3 * 16)


def test_one_colour_frame_fills_one_bin_per_channel_and_stripe():
    px = np.zeros((1, 20, 20, 3), np.uint8)
    px[..., 0] = 255                                                   # pure red: h 0, s 1, v 1
    h = BodyColour(4, bins=4, stripes=2, region_x=(0, 1), region_y=(0, 1)).frame_histograms(normalised(px))
    h = h.view(2, 3, 4).numpy()                                        # (stripe, channel, bin)
    want = np.zeros((3, 4)); want[0, 0] = want[1, 3] = want[2, 3] = 1 / 3
    np.testing.assert_allclose(h[0], want, atol=1e-6)
    np.testing.assert_allclose(h[1], want, atol=1e-6)


def test_tp_with_the_branch_streams_exactly_and_learns_through_the_projection():
    torch.manual_seed(0)
    m = build_model("tp", num_classes=3, backbone="resnet18", colour_dim=8).eval()
    assert m.feat_dim == 512 + 8
    x = torch.randn(2, 3, 3, 64, 32)
    full = m(x).embedding
    frames = m.stream_frames(x.flatten(0, 1)).view(2, 3, -1)
    streamed = m.stream_finish(m.stream_update(m.stream_init(2), frames))
    torch.testing.assert_close(streamed, full, atol=1e-5, rtol=1e-5)
    m.train()
    out = m(torch.randn(4, 2, 3, 64, 32))
    out.logits.sum().backward()
    assert m.colour.proj.weight.grad.abs().sum() > 0                  # the projection is trained with the model
    assert "pixel_mean" not in m.state_dict() and "colour.proj.weight" in m.state_dict()


def test_built_for_a_config_the_branch_takes_its_normalisation_and_skips_the_suppress_fill():
    from vidreid.builders import build_for_dataset
    from vidreid.config import load_config
    cfg = load_config("configs/demo.yaml", ["model.pretrained=none", "model.freeze_stages=0",
                                            "model.kwargs.colour_dim=4", "data.mean=[0.5,0.5,0.5]"])
    m = build_for_dataset(cfg, 3, pretrained=False)
    assert m.colour.pixel_mean.tolist() == [0.5, 0.5, 0.5] and m.colour.skip is None    # crops as they are
    cfg.data.background = "suppress"
    m = build_for_dataset(cfg, 3, pretrained=False)
    assert m.colour.skip == (128, 128, 128)              # fill_colour of the mean 0.5: greyed background not counted
