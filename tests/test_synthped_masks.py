"""SynthPed's true foreground masks (`foreground_masks`): off by default (the same bytes), equal to the figure's
pixels, written where real footage's masks go, and used by training with data.background=suppress."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidreid.data.masks import fill_colour, mask_path, read_masks
from vidreid.data.synthped import generate_synthped, make_config, writer
from vidreid.data.synthped.figure import _box, _Painter
from vidreid.data.synthped.plan import build_plan
from vidreid.data.synthped.render import render_tracklet, render_tracklet_and_masks

TINY = dict(ids=12, cams=3, size="64x32", min_len=8, max_len=12, median_len=9, occlusion_rate=0.6,
            bad_detection_rate=0.5)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same tiny SynthPed without and with masks."""
    base = tmp_path_factory.mktemp("masks")
    generate_synthped(str(base / "off"), workers=1, progress=False, **TINY)
    with pytest.MonkeyPatch.context() as mp:        # through the pool, though the job is small
        mp.setattr(writer, "POOL_MIN_PIXELS", 0)
        generate_synthped(str(base / "on"), workers=2, progress=False, foreground_masks=True, **TINY)
    return base / "off", base / "on"


def test_painted_box_coverage_is_exactly_its_pixels():
    """A box of half-width 0.1 and rows 0.2..0.5 (body units) on a 10-px figure whose axis is at x = 3: its soft edge
    0.5 + 10 * (signed distance) is 1 on pixel columns 2, 3 and rows 2, 3, 4, and 0 outside (pixel centres at +0.5)."""
    canvas = np.zeros((3, 1, 8, 6), np.float32)
    coverage = np.zeros((1, 8, 6), np.float32)
    P = _Painter(canvas, [10.0], [3.0], [0.0], coverage)
    _box(P, np.zeros(1, np.float32), 0.1, 0.2, 0.5, np.ones(3, np.float32))
    truth = np.zeros((1, 8, 6), np.float32)
    truth[0, 2:5, 2:4] = 1.0
    np.testing.assert_allclose(coverage, truth, atol=1e-6)             # float32 rounding of the pixel centres
    # the same paint without coverage gives the same pixels (coverage only watches)
    again = np.zeros_like(canvas)
    _box(_Painter(again, [10.0], [3.0], [0.0]), np.zeros(1, np.float32), 0.1, 0.2, 0.5, np.ones(3, np.float32))
    np.testing.assert_array_equal(again, canvas)
    # a second part over half of it: "over" compositing, 1 - (1 - a)(1 - b), stays 1 where covered twice
    _box(P, np.zeros(1, np.float32), 0.1, 0.3, 0.9, np.zeros(3, np.float32))
    truth[0, 3:9, 2:4] = 1.0
    np.testing.assert_allclose(coverage, truth, atol=1e-6)             # float32 rounding of the pixel centres


def _neutral_camera(cam):
    """A camera that only scales the light (no noise, blur, cast, gradient): frames are linear in the scene."""
    return dataclasses.replace(cam, gain=0.5, cast=(1.0, 1.0, 1.0), light_slope=0.0, blur=0.0, noise=0.0)


@pytest.mark.parametrize("occluder", [None, "person"])
def test_mask_is_where_the_frame_does_not_depend_on_the_background(occluder):
    """Rendered over a black and over a white scene, a pixel differs by (share of background seen) x (frame gain):
    the mask must be exactly the pixels where that share is under one half (people cover the rest; a passing person
    counts, as a background model sees it), measured against a pure background pixel of the same frame. Pixels
    within rounding of the 0.5 edge are not judged."""
    cfg = make_config(None, **TINY)
    plan = build_plan(cfg)
    tracks = [t for t in plan.train + plan.test if t.person is not None
              and (t.occlusion["kind"] if t.occlusion is not None else None) == occluder]
    assert tracks
    checked = 0
    for t in tracks[:4]:
        cam = _neutral_camera(plan.cameras[t.cam - 1])
        shape = (3, cfg.height, 4 * cfg.width)
        black, mask = render_tracklet_and_masks(t, cfg, cam, np.zeros(shape, np.float32), plan.palette)
        white = render_tracklet(t, cfg, cam, np.ones(shape, np.float32), plan.palette)
        diff = white.astype(np.float64) - black                          # (T, H, W, 3): 255 * gain * background seen
        seen = diff[..., 1] / diff[..., 1].max(axis=(1, 2), keepdims=True)  # (T, H, W), 1 on pure background
        clear = np.abs(seen - 0.5) > 0.02
        np.testing.assert_array_equal(mask[clear], seen[clear] < 0.5)
        assert mask.any() and (~mask).any()
        checked += int(clear.sum())
    assert checked > 1000


def test_pole_hides_the_figure_and_empty_detections_have_no_one():
    cfg = make_config(None, **TINY)
    plan = build_plan(cfg)
    t = next(t for t in plan.train if t.person is not None and t.occlusion is not None
             and t.occlusion["kind"] == "pole")
    cam = plan.cameras[t.cam - 1]
    bg = np.zeros((3, cfg.height, 4 * cfg.width), np.float32)
    _, with_pole = render_tracklet_and_masks(t, cfg, cam, bg, plan.palette)
    _, without = render_tracklet_and_masks(t, cfg, cam, bg, plan.palette, occlusion=False)
    a, b = t.occlusion["start"], t.occlusion["end"]
    assert (with_pole <= without).all()                                  # the pole only takes pixels away
    assert with_pole[a:b].sum() < without[a:b].sum()
    np.testing.assert_array_equal(with_pole[:a], without[:a])
    e = next(t for t in plan.train + plan.test if any(m == "empty" for _, m, *_ in t.bad_frames))
    _, m = render_tracklet_and_masks(e, cfg, plan.cameras[e.cam - 1], bg, plan.palette)
    for f, mode, *_ in e.bad_frames:
        if mode == "empty":
            assert not m[f].any()


def test_off_by_default_and_the_option_adds_only_masks(both):
    off, on = both
    assert make_config(None, **TINY).foreground_masks is False
    assert "foreground_masks" not in make_config(None, **TINY).to_dict()        # old markers and hashes unchanged
    a, b = _tree(off), _tree(on)
    assert not [k for k in a if "/masks/" in k]
    frames = [k for k in a if k.endswith(".jpg")]
    assert frames and all(a[k] == b[k] for k in a if k != "synthped.json")     # every frame and index file
    masks = sorted(k for k in b if "/masks/" in k)
    assert sorted(mask_path(k) for k in frames) == masks                        # one mask per frame, where
    assert set(b) == set(a) | set(masks)                                        # real footage's masks go
    import json
    assert json.loads(b["synthped.json"])["config"]["foreground_masks"] is True
    for k in masks[:20]:
        m = np.asarray(Image.open(on / k))
        assert m.dtype == np.uint8 and m.shape == (64, 32) and set(np.unique(m)) <= {0, 255}


def test_masks_reach_training_clips_with_suppress(both):
    """data.background=suppress on SynthPed with masks: the training loader's clips have the mean colour wherever
    the frame's mask says background, and keep every person pixel; with `keep` they are the frames as they are."""
    from vidreid.config import load_config
    from vidreid.data import load_dataset
    from vidreid.data.loader import build_train_loader
    _, on = both
    ds = load_dataset("synthped", str(on))
    t = ds.train[0]
    assert read_masks(t.frames[:2], (64, 32)) is not None                      # the loaders find them unchanged
    fill = fill_colour((0.485, 0.456, 0.406))
    out = {}
    for background in ("keep", "suppress"):
        cfg = load_config(None, ["data.height=64", "data.width=32", "data.workers=0", "data.seq_len=4",
                                 "data.batch_size=4", "data.num_instances=2", "data.pad=0", "data.flip=0",
                                 "data.train_sampling=consecutive", f"data.background={background}"])
        pixels, _, _, _ = next(iter(build_train_loader(ds, cfg.data, seed=3, pixels=True)))  # (B, T, H, W, 3)
        out[background] = pixels.numpy()
    keep, sup = out["keep"], out["suppress"]
    background_px = (sup == fill).all(-1)                                       # (B, T, H, W)
    changed = (keep != sup).any(-1)
    assert changed.any() and background_px[changed].all()                      # only background pixels changed
    assert background_px.mean() > 0.3 and (~background_px).mean() > 0.1       # the scene out, the people in


def test_option_is_a_true_false_value_on_the_command_line_and_in_configs():
    from vidreid.commands.synth import _parse_sets
    from vidreid.errors import ConfigError
    assert _parse_sets(["foreground_masks=true"]) == {"foreground_masks": True}
    assert _parse_sets(["foreground-masks=0"]) == {"foreground_masks": False}
    with pytest.raises(ConfigError, match="foreground_masks"):
        _parse_sets(["foreground_masks=maybe"])
    with pytest.raises(ConfigError, match="foreground_masks must be bool"):
        make_config(None, foreground_masks=1)
    with pytest.raises(ConfigError, match="palette_size must be int"):
        make_config(None, palette_size=True)                            # bools still refused for numbers
