import numpy as np
import torch

from vidreid.config import DataConfig
from vidreid.data.transforms import ClipTransform, erase_box

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def test_identical_frames_stay_identical_under_train_augmentation():
    frame = np.random.default_rng(0).integers(0, 256, (24, 12, 3), dtype=np.uint8)
    clip = np.repeat(frame[None], 5, 0)                                # (T, H, W, 3)
    tf = ClipTransform(32, 16, train=True, pad=3, flip=0.5, random_erasing=1.0)
    for seed in range(10):
        out = tf(clip, np.random.default_rng(seed))
        assert out.shape == (5, 3, 32, 16) and out.dtype == torch.float32
        assert torch.equal(out, out[:1].expand_as(out))


def test_marker_pixel_moves_identically_in_every_frame():
    T, H, W, pad, r, c = 4, 20, 10, 3, 6, 2
    clip = np.zeros((T, H, W, 3), dtype=np.uint8)
    clip[:, r, c] = 200 + np.arange(T)[:, None]                        # frames differ, the marker place does not
    tf = ClipTransform(H, W, train=True, pad=pad, flip=0.5)
    for seed in range(20):
        out = tf(clip, np.random.default_rng(seed))                    # (T, 3, H, W)
        # replay the transform's draws: crop offset (top, left), then the flip coin
        g = np.random.default_rng(seed)
        top, left = g.integers(0, 2 * pad + 1, size=2)
        flip = g.random() < 0.5
        er, ec = r + pad - top, c + pad - left
        if flip:
            ec = W - 1 - ec
        background = (0 - MEAN[0]) / STD[0]
        for t in range(T):
            plane = out[t, 0]
            bright = torch.nonzero(plane > background + 1e-4).tolist()
            if 0 <= er < H and 0 <= ec < W:
                assert bright == [[er, ec]]
                assert abs(plane[er, ec].item() - ((200 + t) / 255 - MEAN[0]) / STD[0]) < 1e-5
            else:
                assert bright == []                                    # cropped away in every frame alike


def test_test_transform_resizes_and_normalises():
    clip = np.full((3, 16, 8, 3), 128, dtype=np.uint8)
    out = ClipTransform(32, 16)(clip)
    assert out.shape == (3, 3, 32, 16) and out.dtype == torch.float32
    expected = (128 / 255 - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.allclose(out.mean((0, 2, 3)), expected, atol=1e-5)
    assert torch.allclose(out, expected.view(1, 3, 1, 1).expand_as(out), atol=1e-5)


def test_random_erasing_same_box_on_every_frame():
    clip = np.full((4, 32, 16, 3), 255, dtype=np.uint8)
    clip[1:] = 250                                                     # frames differ
    tf = ClipTransform(32, 16, train=True, pad=0, flip=0.0, random_erasing=1.0)
    out = tf(clip, np.random.default_rng(1))
    erased = (out == 0).all(1)                                         # (T, H, W)
    assert erased[0].any()
    assert torch.equal(erased, erased[:1].expand_as(erased))
    assert int(erased[0].sum()) >= 0.02 * 32 * 16 * 0.9


def test_erase_box_fits_and_reproducible():
    for seed in range(50):
        box = erase_box(np.random.default_rng(seed), 32, 16)
        assert box == erase_box(np.random.default_rng(seed), 32, 16)
        if box is not None:
            t, l, h, w = box
            assert 0 <= t and t + h <= 32 and 0 <= l and l + w <= 16 and h > 0 and w > 0


def test_from_config_and_determinism():
    cfg = DataConfig(height=32, width=16, pad=2, flip=0.5, random_erasing=0.5)
    tf = ClipTransform.from_config(cfg, train=True)
    clip = np.random.default_rng(0).integers(0, 256, (4, 40, 20, 3), dtype=np.uint8)
    a, b = tf(clip, np.random.default_rng(7)), tf(clip, np.random.default_rng(7))
    assert torch.equal(a, b)
    outs = {tf(clip, np.random.default_rng(s)).sum().item() for s in range(8)}
    assert len(outs) > 1
    test_tf = ClipTransform.from_config(cfg, train=False)
    assert test_tf.pad == 0 and test_tf.flip == 0 and not test_tf.train
    assert torch.equal(test_tf(clip), test_tf(torch.from_numpy(clip)))
