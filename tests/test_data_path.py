"""The fast data path: augmentation parameters drawn like ClipTransform, the batched (device-side) augmentation, the
numpy per-clip path, pixel-shipping loaders, the pre-decoded frame cache and `data.workers: auto`."""
import os
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from helpers_data import fresh_bad_frame_memory, mars_root_fixtures  # noqa: F401 (fixtures)
from vidreid.config import DataConfig, load_config
from vidreid.data import load_dataset
from vidreid.data import loader as L
from vidreid.data.decode import read_frame
from vidreid.data.frame_cache import (FrameCacheError, build_frame_cache, cache_bytes, dataset_frames,
                                      estimate_bytes, open_frame_cache)
from vidreid.data.loader import (VideoTrainDataset, batch_to_device, build_test_loader, build_train_loader,
                                 normalize_clips, resolve_workers)
from vidreid.data.samplers import ItemSeedSampler, PKSampler
from vidreid.data.transforms import ClipTransform, augment_clips, erase_box, normalize_pixels
from vidreid.errors import ConfigError, OutputError

TRACKS = [(1, 1, 6), (1, 2, 3), (2, 1, 9), (2, 2, 4), (3, 1, 5), (3, 2, 7), (4, 1, 2), (4, 2, 8)]
UNIT = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))          # normalised value = pixel / 255

root, dataset = mars_root_fixtures(TRACKS, "datapath")


def cfg(**kw):
    base = dict(height=32, width=16, seq_len=4, batch_size=4, num_instances=2, test_batch_size=3, workers=0, pad=2,
                random_erasing=0.5)
    base.update(kw)
    return DataConfig(**base)


# ------------------------------------------------------------------------------------------- parameters and maths
def test_draw_params_draws_in_clip_transform_order():
    tf = ClipTransform(8, 6, train=True, pad=3, flip=0.5, random_erasing=0.7)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        top, left = rng.integers(0, 7, size=2)                     # the draws, by hand, in their documented order
        do_flip, do_erase = rng.random() < 0.5, rng.random() < 0.7
        box = erase_box(rng, 8, 6) if do_erase else None
        expected = [top, left, int(do_flip), *(box or (0, 0, 0, 0))]
        assert tf.draw_params(np.random.default_rng(seed)).tolist() == expected


def test_augment_clips_hand_checked_crop_flip_erase():
    # one clip, T=2, H=3, W=4: pixel value = 10*row + col (+ 100 on frame 1), channel c adds c
    T, H, W = 2, 3, 4
    base = (10 * np.arange(H)[:, None] + np.arange(W)[None, :])[None, :, :, None] + np.arange(3) \
        + 100 * np.arange(T)[:, None, None, None]
    pixels = torch.from_numpy(base.astype(np.uint8))[None]           # (1, T, H, W, 3)
    # pad 1, crop at top 0, left 2: output (y, x) reads input (y - 1, x + 1); then flipped; erase row 2, cols 0..1
    params = torch.tensor([[0, 2, 1, 2, 0, 1, 2]])
    out = augment_clips(pixels, params, 1, **UNIT)[0]               # (T, 3, H, W)
    expected = np.zeros((T, 3, H, W), np.float32)
    for y in range(H):
        for x in range(W):
            sy, sx = y - 1, (W - 1 - x) + 1                          # flip: output x reads crop column W-1-x
            if 0 <= sy < H and 0 <= sx < W:
                expected[:, :, y, x] = base[:, sy, sx, :]
    expected = expected / np.float32(255.0)
    expected[:, :, 2, 0:2] = 0.0
    assert out.shape == (T, 3, H, W)
    np.testing.assert_array_equal(out.numpy(), expected)
    # row 0 and (flipped) column 0 are the zero padding; row 1, column 3 reads input row 0, column 1 -> 1, 2, 3
    assert out[0, :, 0].abs().sum() == 0 and out[0, :, :, 0].abs().sum() == 0
    assert out[0, :, 1, 3].mul(255).round().tolist() == [1, 2, 3]


@pytest.mark.parametrize("pad", [0, 2, 40])
def test_batched_numpy_and_torch_paths_equal_clip_transform(pad):
    tf = ClipTransform(32, 16, train=True, pad=pad, flip=0.5, random_erasing=0.6)
    clips = np.random.default_rng(pad).integers(0, 256, (12, 3, 32, 16, 3), dtype=np.uint8)
    reference = torch.stack([tf(c, np.random.default_rng(i)) for i, c in enumerate(clips)])      # per clip
    params = np.stack([tf.draw_params(np.random.default_rng(i)) for i in range(len(clips))])
    assert params[:, 2].any() and not params[:, 2].all() and params[:, 5].any()                # both branches
    torch_ops = torch.stack([tf.apply(torch.from_numpy(c), p) for c, p in zip(clips, params)])  # the torch ops
    numpy_ops = torch.stack([tf.apply(c, p) for c, p in zip(clips, params)])
    batched = augment_clips(torch.from_numpy(clips), torch.from_numpy(params), pad, tf.mean, tf.std)
    floats = augment_clips(torch.from_numpy(clips).float(), torch.from_numpy(params), pad, tf.mean, tf.std)
    for x in (torch_ops, numpy_ops, batched, floats):
        assert torch.equal(x.view(torch.int32), reference.view(torch.int32))                  # bit for bit


def test_normalize_pixels_and_clips_equal_the_test_transform():
    tf = ClipTransform(32, 16)
    clips = np.random.default_rng(0).integers(0, 256, (2, 4, 32, 16, 3), dtype=np.uint8)
    reference = torch.stack([tf(c) for c in clips])
    assert torch.equal(torch.from_numpy(normalize_pixels(clips, tf.mean, tf.std)), reference)
    assert torch.equal(normalize_clips(torch.from_numpy(clips), cfg()), reference)


# ------------------------------------------------------------------------------------------- loaders
def old_style_batches(dataset, c, seed):
    """The training batches as they were made before the fast path: each item transformed by ClipTransform with its
    own seeded Generator (torch ops), default_collate."""
    tf = ClipTransform.from_config(c, True)

    class TorchOps(ClipTransform):
        def apply(self, clip, params, out=None):
            return super().apply(torch.from_numpy(clip), params)
    ops = TorchOps(tf.height, tf.width, True, tf.pad, tf.flip, tf.random_erasing, tf.mean, tf.std)
    ds = VideoTrainDataset(dataset.train, c.seq_len, c.train_sampling, ops)
    pk = PKSampler([t.pid for t in dataset.train], c.num_instances, c.batch_size, seed)
    return list(DataLoader(ds, batch_size=c.batch_size, sampler=ItemSeedSampler(pk, seed), drop_last=True))


@pytest.mark.parametrize("workers", [0, 2])
def test_train_loaders_float_and_pixels_equal_the_old_path(dataset, workers):
    c = cfg(workers=workers)
    old = old_style_batches(dataset, c, seed=3)
    floats = list(build_train_loader(dataset, c, seed=3))
    pixels = list(build_train_loader(dataset, c, seed=3, pixels=True))
    assert len(old) == len(floats) == len(pixels) > 0
    for (a, pa, _), (b, pb, _), raw in zip(old, floats, pixels):
        assert raw[0].dtype == torch.uint8 and raw[0].shape == (4, 4, 32, 16, 3) and raw[1].shape == (4, 7)
        clips, pids = batch_to_device(raw, torch.device("cpu"), c)
        assert torch.equal(a, b) and torch.equal(a, clips) and torch.equal(pa, pb) and torch.equal(pa, pids)


def test_test_loader_pixels_equal_float_clips(dataset):
    c = cfg(workers=0)
    floats = list(build_test_loader(dataset.gallery, c, sampling="dense"))
    pixels = list(build_test_loader(dataset.gallery, c, sampling="dense", pixels=True))
    assert len(floats) == len(pixels) > 0
    tf = ClipTransform(32, 16)
    for (a, ia), (p, ip) in zip(floats, pixels):
        assert p.dtype == torch.uint8 and p.shape[-1] == 3
        assert torch.equal(a, normalize_clips(p, c)) and torch.equal(ia, ip)
    clip = read_frame(dataset.gallery[0].frames[0])                 # and equal ClipTransform on the frames
    assert torch.equal(floats[0][0][0, 0], tf(clip[None])[0])


def test_pixels_of_other_sizes_are_resized_floats(dataset):
    c = cfg(height=24, width=12, pad=0)                            # no JPEG scale gives 24x12: resized
    (p, _), = [next(iter(build_test_loader(dataset.gallery[:1], c, sampling="rrs", pixels=True)))]
    (a, _), = [next(iter(build_test_loader(dataset.gallery[:1], c, sampling="rrs")))]
    assert p.dtype == torch.float32 and p.shape[-3:] == (24, 12, 3)
    assert torch.equal(normalize_clips(p, c), a)


# ------------------------------------------------------------------------------------------- the frame cache
def test_frame_cache_holds_the_decoded_frames_and_loaders_read_it(dataset, tmp_path, capsys):
    paths = dataset_frames(dataset)
    out = tmp_path / "cache"
    meta = build_frame_cache(paths, str(out), 32, 16, progress=False)
    said = capsys.readouterr().out
    assert f"{len(paths)} frames at 32x16" in said and meta["count"] == len(paths)
    # the estimate is right: the pixels exactly, the whole folder within it
    assert os.path.getsize(out / "frames.u8") == cache_bytes(len(paths), 32, 16)
    total = sum(os.path.getsize(out / n) for n in os.listdir(out))
    assert cache_bytes(len(paths), 32, 16) < total <= estimate_bytes(paths, 32, 16)
    cache = open_frame_cache(str(out), 32, 16)
    for i in (0, 5, len(paths) - 1):
        np.testing.assert_array_equal(cache.read_clip(paths, [i])[0], read_frame(paths[i]))
    # a loader configured with it gives the same batches as decoding
    a = list(build_test_loader(dataset.gallery, cfg(), sampling="dense"))
    b = list(build_test_loader(dataset.gallery, cfg(frame_cache=str(out)), sampling="dense"))
    assert all(torch.equal(x[0], y[0]) for x, y in zip(a, b)) and len(a) == len(b)
    # a frame the cache does not hold is decoded
    assert cache.read_clip([str(tmp_path / "elsewhere.jpg")], [0]) is None


def test_frame_cache_stale_size_and_clobber(dataset, tmp_path):
    src = tmp_path / "frames"
    shutil.copytree(os.path.dirname(dataset.train[0].frames[0]), src)
    paths = sorted(str(p) for p in src.iterdir())
    out = str(tmp_path / "cache")
    build_frame_cache(paths, out, 32, 16, progress=False, say=lambda line: None)
    with pytest.raises(FrameCacheError, match="built for 32x16"):
        open_frame_cache(out, 64, 32)
    with pytest.raises(OutputError, match="already exists"):
        build_frame_cache(paths, out, 32, 16, progress=False, say=lambda line: None)
    st = os.stat(paths[1])
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))   # the frame changed since
    with pytest.raises(FrameCacheError, match=r"stale: 1 of .*" + os.path.basename(paths[1])):
        open_frame_cache(out, 32, 16)
    build_frame_cache(paths, out, 32, 16, force=True, progress=False, say=lambda line: None)  # rebuilt
    assert open_frame_cache(out, 32, 16).count == len(paths)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="not a frame cache"):
        build_frame_cache(paths, str(other), 32, 16, force=True, progress=False, say=lambda line: None)
    assert (other / "notes.txt").read_text() == "keep"


def test_frame_cache_refuses_without_disk_space(dataset, tmp_path, monkeypatch):
    import vidreid.data.frame_cache as fc
    monkeypatch.setattr(fc.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10 ** 9, 10 ** 9, 1000))
    with pytest.raises(OutputError, match=r"needs .* GiB \+ a 64 MiB margin left free, only"):
        build_frame_cache(dataset_frames(dataset), str(tmp_path / "cache"), 32, 16, progress=False,
                          say=lambda line: None)
    assert not os.path.exists(tmp_path / "cache")


def test_missing_frame_cache_is_one_clear_error(tmp_path):
    with pytest.raises(FrameCacheError, match="no frame cache there"):
        open_frame_cache(str(tmp_path / "none"), 32, 16)


# ------------------------------------------------------------------------------------------- workers, GPU decode
def test_auto_workers_follow_the_usable_cores(monkeypatch):
    for cores, expected in [(1, 0), (2, 1), (4, 3), (64, L.MAX_AUTO_WORKERS)]:
        monkeypatch.setattr(L, "usable_cpus", lambda cores=cores: cores)
        assert resolve_workers("auto") == expected
    assert resolve_workers(5) == 5 and resolve_workers(0) == 0
    with pytest.raises(ConfigError, match="data.workers"):
        resolve_workers("many")
    assert DataConfig().workers == "auto"
    assert load_config(None, ["data.workers=auto"]).data.workers == "auto"
    assert load_config(None, ["data.workers=3"]).data.workers == 3
    with pytest.raises(ConfigError, match="data.workers"):
        load_config(None, ["data.workers=fast"])


def test_prefetch_is_auto_or_given():
    assert L.resolve_prefetch(0, 0) is None and L.resolve_prefetch(3, 2) == 3
    assert L.resolve_prefetch(0, 2) == (4 if torch.cuda.is_available() else 2)
    with pytest.raises(ConfigError, match="data.prefetch"):
        L.resolve_prefetch(-1, 2)


def test_cache_build_command(root, tmp_path, capsys):
    from vidreid.cli import main
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  dataset: mars\n  root: {root}\n  height: 32\n  width: 16\n")
    out = tmp_path / "frames"
    assert main(["cache", "build", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "GiB" in said and f"data.frame_cache={out}" in said
    assert open_frame_cache(str(out), 32, 16).count == len(dataset_frames(load_dataset("mars", str(root))))
    assert main(["cache", "build", "--config", str(config), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0]
    assert main(["cache", "build", "--config", str(config), "--no-progress"]) == 2       # no --out, no config key
    assert "data.frame_cache" in capsys.readouterr().err


@pytest.mark.parametrize("shape", [(4, 32, 16, 3), (2, 3, 8, 6, 3), (12, 7, 3)])
def test_normalize_pixels_opencv_split_equals_the_numpy_copy(shape, monkeypatch):
    """The OpenCV channel split (when cv2 imports) and numpy's strided copy give the same float32 bits, and both equal
    the reference arithmetic on hand-checkable values (pixel 255 with mean 0, std 1 -> 1.0)."""
    pytest.importorskip("cv2")
    from vidreid.data import transforms as T
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    x.reshape(-1, 3)[0] = (255, 0, 51)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    with_cv2 = T.normalize_pixels(x, mean, std)
    monkeypatch.setattr(T, "_cv2", False)                          # as if OpenCV were not installed
    without = T.normalize_pixels(x, mean, std)
    assert with_cv2.shape == (*shape[:-3], 3, *shape[-3:-1]) and np.array_equal(with_cv2, without)
    lead = tuple(range(x.ndim - 3))
    reference = ((x.transpose(*lead, -1, -3, -2).astype(np.float32)
                  - np.float32(255) * np.asarray(mean, np.float32).reshape(3, 1, 1))
                 / (np.float32(255) * np.asarray(std, np.float32).reshape(3, 1, 1)))
    assert np.array_equal(with_cv2, reference)
    unit = T.normalize_pixels(x, (0, 0, 0), (1, 1, 1))
    assert unit.reshape(-1)[0] == 1.0 and unit[(0,) * len(lead) + (1, 0, 0)] == 0.0
