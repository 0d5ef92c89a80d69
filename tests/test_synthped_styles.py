"""SynthPed's opt-in camera styles (camera_gamma, camera_lowres, photo_backgrounds): off by default (the same
config dict and pixels as before), deterministic for a seed, and changing only what they should."""
import dataclasses

import numpy as np
import pytest

from vidreid.data.synthped import make_config
from vidreid.data.synthped.plan import build_plan
from vidreid.data.synthped.render import background_photos, make_background, make_cameras, render_tracklet
from vidreid.errors import ConfigError

TINY = dict(ids=8, cams=3, size="64x32", min_len=8, max_len=10, median_len=9, occlusion_rate=0.0,
            bad_detection_rate=0.0)
STYLE_FIELDS = {"gamma", "resolution", "photo"}


def _render(cfg, k=0):
    plan = build_plan(cfg)
    t = [t for t in plan.train if t.person is not None][k]
    cam = plan.cameras[t.cam - 1]
    return render_tracklet(t, cfg, cam, make_background(cfg, cam), plan.palette), cam


def test_off_by_default_and_left_out_of_the_config_dict():
    cfg = make_config(None, **TINY)
    d = cfg.to_dict()
    assert not {"camera_gamma", "camera_lowres", "photo_backgrounds"} & set(d)
    assert make_config(None, **d) == cfg                                     # old markers still read back
    assert make_config(None, camera_gamma=0.5, **TINY).to_dict()["camera_gamma"] == 0.5
    assert all(c.gamma == 1.0 and c.resolution == 1.0 and c.photo == -1 for c in make_cameras(cfg))


@pytest.mark.parametrize("option, field", [({"camera_gamma": 0.6}, "gamma"), ({"camera_lowres": 0.5}, "resolution"),
                                           ({"photo_backgrounds": 1.0}, "photo")])
def test_each_style_changes_only_its_camera_field_and_the_pixels(option, field):
    base = make_config(None, **TINY)
    styled = make_config(None, **TINY, **option)
    for a, b in zip(make_cameras(base), make_cameras(styled)):
        da, db = dataclasses.asdict(a), dataclasses.asdict(b)
        assert {k: v for k, v in da.items() if k not in STYLE_FIELDS} == \
               {k: v for k, v in db.items() if k not in STYLE_FIELDS}        # every other camera knob as before
        assert all(da[k] == db[k] for k in STYLE_FIELDS - {field})
        assert da[field] != db[field]
    pa, pb = build_plan(base), build_plan(styled)                            # same people, tracklets and splits
    assert [(t.pid, t.cam, t.n_frames, t.view) for t in pa.train + pa.test] == \
           [(t.pid, t.cam, t.n_frames, t.view) for t in pb.train + pb.test]
    a, _ = _render(base)
    b, _ = _render(styled)
    c, _ = _render(make_config(None, **TINY, **option))
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert np.array_equal(b, c)                                              # deterministic for a seed


def test_gamma_darkens_or_lifts_the_mid_tones_as_its_exponent_says():
    cfg = make_config(None, **TINY, camera_gamma=1.0, noise_max=0.0)
    plain = make_config(None, **TINY, noise_max=0.0)
    for k in range(3):
        a, cam = _render(plain, k)
        b, cam_b = _render(cfg, k)
        sign = np.sign(b.astype(float).mean() - a.astype(float).mean())
        assert sign == (-1 if cam_b.gamma > 1 else 1)


def test_lowres_removes_fine_detail():
    plain = make_config(None, **TINY, noise_max=0.0)
    low = make_config(None, **TINY, noise_max=0.0, camera_lowres=0.75)
    a, _ = _render(plain)
    b, cam = _render(low)
    assert cam.resolution < 1.0
    detail = lambda x: np.abs(np.diff(x.astype(float), axis=2)).mean()       # horizontal pixel-to-pixel change
    assert detail(b) < detail(a)


def test_photo_background_is_a_crop_of_a_shipped_photo():
    assert len(background_photos()) >= 4
    cfg = make_config(None, **TINY, photo_backgrounds=1.0)
    cams = make_cameras(cfg)
    bg = make_background(cfg, cams[0])
    assert bg.shape == (3, 64, 128) and bg.dtype == np.float32 and 0.0 <= bg.min() and bg.max() <= 1.0
    assert bg.std() > 0.03                                                    # a photo, not a flat fill
    assert np.array_equal(bg, make_background(cfg, cams[0]))


def test_bad_style_values():
    with pytest.raises(ConfigError, match="camera_lowres"):
        make_config(None, camera_lowres=0.9)
    with pytest.raises(ConfigError, match="photo_backgrounds"):
        make_config(None, photo_backgrounds=1.5)
    with pytest.raises(ConfigError, match="camera_gamma"):
        make_config(None, camera_gamma=-0.1)
