"""Camera-style jitter (vidreid/data/photometric.py): each op on hand-checkable clips, the draw, the loader hook."""
import numpy as np
import pytest

from vidreid.config import DataConfig
from vidreid.data import photometric as P
from vidreid.errors import ConfigError


def _clip(*rgb, T=2, H=3, W=4):
    """A uniform clip of colour rgb, float32 (T, H, W, 3)."""
    return np.broadcast_to(np.asarray(rgb, np.float32), (T, H, W, 3)).copy()


def test_gain_two_doubles_and_clips_at_255():
    out = P.white_balance(_clip(10, 100, 200), (2.0, 2.0, 2.0))
    assert np.array_equal(out[0, 0, 0], [20, 200, 255])
    out = P.white_balance(_clip(10, 100, 200), (1.0, 0.5, 1.0))           # one channel only
    assert np.array_equal(out[1, 2, 3], [10, 50, 200])


def test_gamma_curve():
    out = P.gamma_curve(_clip(0, 63.75, 255), 2.0)                         # 255 * 0.25**2 = 15.9375
    np.testing.assert_allclose(out[0, 0, 0], [0, 15.9375, 255], rtol=1e-6)
    np.testing.assert_allclose(P.gamma_curve(_clip(0, 63.75, 255), 1.0), _clip(0, 63.75, 255), rtol=1e-6)


def test_contrast_scales_distance_to_frame_mean():
    x = _clip(100, 100, 100)
    x[:, 0, 0] = 200                                                        # one bright pixel of 12 per frame
    mean = (11 * 100 + 200) / 12
    out = P.contrast(x, 0.5)
    np.testing.assert_allclose(out[0, 0, 0], mean + 0.5 * (200 - mean), rtol=1e-6)
    np.testing.assert_allclose(out[0, 1, 1], mean + 0.5 * (100 - mean), rtol=1e-6)
    np.testing.assert_allclose(P.contrast(x, 0.0), np.full_like(x, mean), rtol=1e-6)


def test_saturation_zero_is_grey_and_keeps_luma():
    out = P.saturation(_clip(255, 0, 0), 0.0)
    np.testing.assert_allclose(out[0, 0, 0], [0.299 * 255] * 3, rtol=1e-6)
    np.testing.assert_allclose(P.saturation(_clip(255, 0, 0), 2.0)[0, 0, 0],
                               [0.299 * 255 + 2 * (255 - 0.299 * 255), -0.299 * 255, -0.299 * 255], rtol=1e-5)


def test_hue_rotation():
    np.testing.assert_allclose(P.hue_rotation_matrix(0.0), np.eye(3), atol=1e-6)
    np.testing.assert_allclose(P.hue_rotation_matrix(1.0), np.eye(3), atol=1e-5)   # a full turn
    grey = _clip(90, 90, 90)
    np.testing.assert_allclose(P.hue_shift(grey, 0.3), grey, atol=1e-4)    # grey has no hue
    red = _clip(200, 40, 40)
    out = P.hue_shift(red, 1 / 3)
    np.testing.assert_allclose(out[0, 0, 0] @ P.LUMA, red[0, 0, 0] @ P.LUMA, rtol=1e-5)   # luma kept
    assert out[0, 0, 0].argmax() == 1                                       # a third of a turn: red -> green-ish
    back = P.hue_shift(out, -1 / 3)
    np.testing.assert_allclose(back, red, atol=1e-3)


def test_blur_keeps_flat_clip_and_spreads_an_impulse_within_frames():
    flat = _clip(50, 60, 70)
    np.testing.assert_allclose(P.blur(flat, 1.5), flat, rtol=1e-6)
    x = np.zeros((2, 9, 9, 3), np.float32)
    x[0, 4, 4] = 90
    out = P.blur(x, 1.0)
    assert out[0, 4, 4, 0] < 90 and out[0, 4, 5, 0] > 0 and np.allclose(out[1], 0)   # frames do not mix
    np.testing.assert_allclose(out[0].sum(axis=(0, 1)), [90, 90, 90], rtol=1e-4)      # energy kept (inside)
    assert P.blur(x, 0.0) is x


def test_jpeg_roundtrip_one_encode_equals_per_frame():
    import simplejpeg
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (3, 20, 16, 3), dtype=np.uint8)            # 20 rows: not a multiple of 16
    out = P.jpeg_roundtrip(clip, 60)
    assert out.shape == clip.shape and out.dtype == np.uint8 and not np.array_equal(out, clip)
    for t in range(3):
        pad = np.pad(clip[t], ((0, 12), (0, 0), (0, 0)), mode="edge")
        one = simplejpeg.decode_jpeg(simplejpeg.encode_jpeg(pad, quality=60, colorspace="RGB",
                                                            colorsubsampling="420"), colorspace="RGB",
                                        fastupsample=True)[:20]
        assert np.array_equal(out[t], one)


def test_identity_params_leave_the_clip_unchanged():
    clip = np.random.default_rng(1).integers(0, 256, (4, 8, 6, 3), dtype=np.uint8)
    assert P.apply_jitter(clip, P.IDENTITY) is clip
    # the same params written out explicitly, forced through the ops: still bit-identical
    x = clip.astype(np.float32)
    x = P.hue_shift(P.saturation(P.contrast(P.gamma_curve(P.white_balance(x, (1, 1, 1)), 1.0), 1.0), 1.0), 0.0)
    assert np.array_equal(P.to_uint8(x), clip)


def test_apply_jitter_gain_only():
    clip = np.full((2, 4, 4, 3), 100, np.uint8)
    p = P.JitterParams((2.0, 1.0, 3.0), 1.0, 1.0, 1.0, 0.0, 0.0, 0)
    out = P.apply_jitter(clip, p)
    assert out.dtype == np.uint8 and np.array_equal(out[0, 0, 0], [200, 100, 255])


def test_draw_ranges_reproducible_and_fixed_length():
    j = P.PhotometricJitter(brightness=0.2, white_balance=0.1, gamma=0.5, contrast=0.3, saturation=0.4, hue=0.05,
                            blur=1.0, jpeg_min=50)
    draws = [j.draw(np.random.default_rng(s)) for s in range(200)]
    g = np.array([d.gain for d in draws])
    assert np.all((g > 0.8 * 0.9 / 1.1 - 1e-9) & (g < 1.2 * 1.1 / 0.9 + 1e-9))
    assert all(1 / 1.5 <= d.gamma <= 1.5 and 0.7 <= d.contrast <= 1.3 and 0.6 <= d.saturation <= 1.4
               and abs(d.hue) <= 0.05 and 0 <= d.blur <= 1.0 and 50 <= d.jpeg <= 95 for d in draws)
    assert j.draw(np.random.default_rng(7)) == j.draw(np.random.default_rng(7))
    # every config advances the item's Generator by the same amount, so what follows (the crop/flip) is unchanged
    for other in (j, P.PhotometricJitter(hue=0.1), P.PhotometricJitter(hue=0.1, prob=0.0)):
        r = np.random.default_rng(3)
        other.draw(r)
        assert r.random() == _after_draws(3, 11)
    # strength 0 leaves that op at its identity value
    d = P.PhotometricJitter(hue=0.1).draw(np.random.default_rng(0))
    assert d.gain == (1.0, 1.0, 1.0) and d.gamma == 1.0 and d.contrast == 1.0 and d.blur == 0.0 and d.jpeg == 0


def _after_draws(seed, n):
    r = np.random.default_rng(seed)
    r.random(n)
    return r.random()


def test_from_config_off_by_default_and_validated():
    assert P.PhotometricJitter.from_config(DataConfig()) is None
    cfg = DataConfig(photo_hue=0.1, photo_prob=0.5)
    j = P.PhotometricJitter.from_config(cfg)
    assert j is not None and j.hue == 0.1 and j.prob == 0.5
    with pytest.raises(ConfigError, match="photo_hue"):
        P.PhotometricJitter(hue=0.7)
    with pytest.raises(ConfigError, match="photo_jpeg_min"):
        P.PhotometricJitter(jpeg_min=99)


def test_train_dataset_applies_the_jitter_before_the_transform(tmp_path):
    from PIL import Image

    from vidreid.data.loader import VideoTrainDataset
    from vidreid.data.transforms import ClipTransform
    from vidreid.data.types import Tracklet
    frames = []
    for i in range(4):
        path = str(tmp_path / f"{i}.png")
        Image.fromarray(np.full((8, 4, 3), 100, np.uint8)).save(path)
        frames.append(path)
    tr = [Tracklet(tuple(frames), 0, 0)]
    tf = ClipTransform(8, 4, train=True, mean=(0, 0, 0), std=(1, 1, 1))
    plain = VideoTrainDataset(tr, 2, "consecutive", tf)[(0, 5)][0]
    assert np.allclose(plain.numpy(), 100 / 255, atol=1e-6)
    always_double = P.PhotometricJitter(brightness=0.5)
    always_double.draw = lambda rng: (rng.random(11), P.JitterParams((2.0, 2.0, 2.0), 1.0, 1.0, 1.0, 0.0, 0.0, 0))[1]
    jittered = VideoTrainDataset(tr, 2, "consecutive", tf, photometric=always_double)[(0, 5)][0]
    assert np.allclose(jittered.numpy(), 200 / 255, atol=1e-6)
